import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { blasAddon, enableBlasMatMul } from '../src/backend/blas';
import { FILM_SWISH, LAYER_NORM, RELU_DENSE, fusedKernelsActive } from '../src/backend/fused-kernels';
import * as tf from '../src/backend/tf';
import { swishWithDerivative } from '../src/models/activations';
import { convSame } from '../src/models/conv';
import { ConvLatentField } from '../src/models/conv-field';
import { Mlp } from '../src/models/mlp';
import { SimplexCnn } from '../src/models/simplex-cnn';
import { fusedSwishDense } from '../src/models/swish-dense';
import { Rng } from '../src/random/rng';
import { ScheduledAdam } from '../src/training/trainer';
import { onStockWasm, useTestBackend } from './helpers/backend';

/*
 * The fused kernels (native/openblas-matmul: swish_dense.c, adam.c) against the tfjs ops they
 * replace, on the same float32 inputs. Their sums run in other orders (OpenBLAS's blocking, a
 * polynomial exp in place of libm's), so the comparison is to float32 rounding: a relative error of
 * the largest entry of a few 1e-7 per operation, bounded here by 2e-6 for the layer (a matrix
 * product of length 512 and the Swish) and 1e-6 for Adam (a handful of operations per entry).
 */

/** The stacked layer of models/swish-dense.ts from tfjs ops, differentiated by tfjs: the reference. */
function composedSwishDense(z: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, primalRows: number): tf.Tensor2D {
  const [rows, n] = z.shape;
  const a = tf.slice(z, [0, 0], [primalRows, n]);
  const da = tf.reshape(tf.slice(z, [primalRows, 0], [rows - primalRows, n]), [-1, primalRows, n]);
  const { h, dh } = swishWithDerivative(a);
  const primal = tf.add(tf.matMul(h, w), b);
  const tangents = tf.matMul(tf.reshape(tf.mul(da, dh), [rows - primalRows, n]), w);
  return tf.concat([primal, tangents], 0) as tf.Tensor2D;
}

function randomTensor(rng: Rng, shape: number[], scale: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rng.normalArray(size).map((x) => x * scale), shape);
}

/** max |a - b| / max |b|. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(tf.max(tf.abs(b)).dataSync()[0], 1e-30));
}

interface LayerCase {
  primalRows: number;
  tangents: number;
  n: number;
  m: number;
}

/** A layer's output and its gradients for z, w, b, through `layer`, for a fixed output gradient. */
function layerWithGradients(layer: typeof fusedSwishDense, z: tf.Tensor, w: tf.Tensor, b: tf.Tensor, g: tf.Tensor, primalRows: number): tf.Tensor[] {
  const f = (zz: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(layer(zz as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, primalRows), g));
  return [layer(z as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, primalRows), ...tf.grads(f)([z, w, b])];
}

describe('fused native kernels of the wasm backend (Swish dense layer, Adam)', () => {
  let skipReason = '';

  before(async () => {
    await useTestBackend();
    if (process.env.FDM_BENCH_BLAS === 'off') skipReason = 'FDM_BENCH_BLAS=off: the suite runs on the plain tfjs ops';
    else if (!enableBlasMatMul().active || !fusedKernelsActive()) skipReason = 'the OpenBLAS addon with the fused kernels is not built (npm install builds it where OpenBLAS is)';
  });

  function withFused(t: TestContext, body: () => void): void {
    if (skipReason) {
      t.skip(skipReason);
      return;
    }
    body();
  }

  const cases: LayerCase[] = [
    { primalRows: 3, tangents: 0, n: 5, m: 2 },
    { primalRows: 7, tangents: 1, n: 9, m: 4 },
    // p = 37 x 29 elements per block is not a multiple of the kernels' chunk of 512.
    { primalRows: 37, tangents: 3, n: 29, m: 31 },
    { primalRows: 128, tangents: 2, n: 512, m: 512 },
  ];

  for (const c of cases) {
    it(`fusedSwishDense: output and gradients equal the composed tfjs ops (B ${c.primalRows}, K ${c.tangents}, ${c.n} -> ${c.m})`, (t) =>
      withFused(t, () => {
        tf.tidy(() => {
          const rng = new Rng(`swish-dense-${c.primalRows}-${c.tangents}`);
          const rows = c.primalRows * (c.tangents + 1);
          const z = randomTensor(rng, [rows, c.n], 3);
          const w = randomTensor(rng, [c.n, c.m], 1 / Math.sqrt(c.n));
          const b = randomTensor(rng, [c.m], 1);
          const g = randomTensor(rng, [rows, c.m], 1);
          const fused = layerWithGradients(fusedSwishDense, z, w, b, g, c.primalRows);
          const composed = layerWithGradients(composedSwishDense, z, w, b, g, c.primalRows);
          ['y', 'dz', 'dw', 'db'].forEach((name, i) => {
            const err = relativeError(fused[i], composed[i]);
            assert.ok(err < 2e-6, `${name}: relative error ${err.toExponential(2)}`);
          });
        });
      }));
  }

  it('fusedSwishDense saturates like the sigmoid far out (|a| up to 1e4) and stays finite', (t) =>
    withFused(t, () => {
      tf.tidy(() => {
        const a = [-1e4, -120, -88.5, -87.2, -20, -1e-3, 0, 1e-3, 20, 87.2, 88.5, 120, 1e4];
        const n = a.length;
        // One primal row and one tangent row of ones: the tangent block is swish'(a) itself.
        const z = tf.tensor2d([a, a.map(() => 1)]);
        const w = tf.eye(n) as tf.Tensor2D;
        const b = tf.zeros([n]) as tf.Tensor1D;
        const g = tf.ones([2, n]);
        const fused = layerWithGradients(fusedSwishDense, z, w, b, g, 1);
        const composed = layerWithGradients(composedSwishDense, z, w, b, g, 1);
        for (const [i, name] of ['y', 'dz'].entries()) {
          const got = fused[i].dataSync();
          const want = composed[i].dataSync();
          got.forEach((value, j) => {
            assert.ok(Number.isFinite(value), `${name}[${j}] = ${value}`);
            assert.ok(Math.abs(value - want[j]) <= 1e-6 * Math.max(1, Math.abs(want[j])), `${name}[${j}] at a = ${a[j % n]}: ${value} vs ${want[j]}`);
          });
        }
      });
    }));

  it('the tangent blocks are directional derivatives of the primal block (central differences, float64 reference)', (t) =>
    withFused(t, () => {
      tf.tidy(() => {
        const rng = new Rng('swish-dense-jvp');
        const [batch, n, m] = [4, 6, 3];
        const a = rng.normalArray(batch * n).map((x) => 2 * x);
        const da = rng.normalArray(batch * n);
        const w = rng.normalArray(n * m).map((x) => x / Math.sqrt(n));
        const out = fusedSwishDense(tf.tensor2d([...a, ...da], [2 * batch, n]), tf.tensor2d(w, [n, m]), tf.zeros([m]) as tf.Tensor1D, batch).dataSync();
        const swish = (x: number) => x / (1 + Math.exp(-x));
        const primal = (eps: number) => {
          const y = new Float64Array(batch * m);
          for (let r = 0; r < batch; r++) for (let j = 0; j < m; j++) for (let i = 0; i < n; i++) y[r * m + j] += swish(a[r * n + i] + eps * da[r * n + i]) * w[i * m + j];
          return y;
        };
        const eps = 1e-5;
        const [plus, minus] = [primal(eps), primal(-eps)];
        for (let e = 0; e < batch * m; e++) {
          const want = (plus[e] - minus[e]) / (2 * eps);
          assert.ok(Math.abs(out[batch * m + e] - want) < 1e-5 * Math.max(1, Math.abs(want)), `JVP entry ${e}: ${out[batch * m + e]} vs ${want}`);
        }
      });
    }));

  it('fusedSwishDense gives bit-identical results run to run, and leaks no tensors over repeated steps', (t) =>
    withFused(t, () => {
      const rng = new Rng('swish-dense-repeat');
      const z = randomTensor(rng, [60, 33], 2);
      const w = randomTensor(rng, [33, 17], 0.2);
      const b = randomTensor(rng, [17], 1);
      const g = randomTensor(rng, [60, 17], 1);
      const run = () => tf.tidy(() => layerWithGradients(fusedSwishDense, z, w, b, g, 20).map((x) => Array.from(x.dataSync())));
      const first = run();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) assert.deepEqual(run(), first);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([z, w, b, g]);
    }));

  it('the MLP on the fused kernels (stacked tangents) equals the MLP on tfjs ops: v, JVPs and every gradient', (t) =>
    withFused(t, () => {
      const model = new Mlp({ dim: 2, hidden: 48, depth: 3 }, new Rng('fused-mlp'));
      const rng = new Rng('fused-mlp-data');
      const [x, t01, probes, gv, gj] = [randomTensor(rng, [20, 2], 1), tf.tensor2d(rng.uniformArray(20, 0, 1), [20, 1]), randomTensor(rng, [3, 20, 2], 1), randomTensor(rng, [20, 2], 1), randomTensor(rng, [3, 20, 2], 1)];
      /** v, J z and the gradients of a fixed linear function of both, fused or not. */
      const evaluate = () =>
        tf.tidy(() => {
          const { v, jvp } = model.forwardWithTangents(x as tf.Tensor2D, t01, probes as tf.Tensor3D);
          const { grads } = tf.variableGrads(() => {
            const out = model.forwardWithTangents(x as tf.Tensor2D, t01, probes as tf.Tensor3D);
            return tf.add(tf.sum(tf.mul(out.v, gv)), tf.sum(tf.mul(out.jvp, gj))) as tf.Scalar;
          }, model.variables);
          return [v, jvp, model.forward(x as tf.Tensor2D, t01), ...model.variables.map((variable) => grads[variable.name])];
        });
      const fused = evaluate();
      const plain = onStockWasm(() => {
        assert.equal(fusedKernelsActive(), false);
        return evaluate();
      });
      fused.forEach((value, i) => {
        const err = relativeError(value, plain[i]);
        assert.ok(err < 2e-6, `output ${i}: relative error ${err.toExponential(2)}`);
      });
      tf.dispose([...fused, ...plain, x, t01, probes, gv, gj]);
      model.dispose();
    }));

  // 3x3 filters on 32 input channels or more run Winograd's F(2x2, 3x3), the others im2col.
  const convCases: [number[], number[]][] = [
    [[2, 5, 7, 3], [3, 3, 3, 4]],
    // Winograd on odd sizes: the last row and column of 2x2 output tiles stick out of the image.
    [[3, 5, 7, 40], [3, 3, 40, 6]],
    [[3, 1, 60, 4], [1, 3, 4, 6]],
    [[2, 6, 6, 2], [5, 5, 2, 3]],
    // 130 images of 64 channels through a 5x3 filter: the im2col scratch holds 68 at a time, so the filter gradient adds up two chunks.
    [[130, 8, 8, 64], [5, 3, 64, 8]],
    // 40 images of 16x16 with 64 channels in and out: Winograd's scratch holds 32 at a time, two chunks.
    [[40, 16, 16, 64], [3, 3, 64, 64]],
  ];
  for (const [xShape, wShape] of convCases) {
    it(`convSame on OpenBLAS (Winograd or im2col) equals the stock convolution and its gradients (x [${xShape}], filter [${wShape}])`, (t) =>
      withFused(t, () => {
        const rng = new Rng(`fused-conv-${xShape}`);
        const x = randomTensor(rng, xShape, 1) as tf.Tensor4D;
        const w = randomTensor(rng, wShape, 0.3) as tf.Tensor4D;
        const g = randomTensor(rng, [...xShape.slice(0, 3), wShape[3]], 1);
        const evaluate = (xx: tf.Tensor, ww: tf.Tensor, gg: tf.Tensor) =>
          tf.tidy(() => {
            const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(convSame(a as tf.Tensor4D, b as tf.Tensor4D), gg));
            return [convSame(xx as tf.Tensor4D, ww as tf.Tensor4D), ...tf.grads(f)([xx, ww])];
          });
        const fused = evaluate(x, w, g);
        const stock = onStockWasm(() => evaluate(x, w, g));
        // The same sums of absolute terms: what float32 rounding in any summation order scales with.
        const magnitude = onStockWasm(() => evaluate(tf.abs(x), tf.abs(w), tf.abs(g)));
        // Sums of up to N terms (N = n h w for the filter gradient, kh kw c or kh kw oc for the others),
        // rounded in other orders: the difference stays within a few sqrt(N) ulps of the absolute sum.
        const [n, h, wd, c] = xShape;
        const longest = Math.max(n * h * wd, wShape[0] * wShape[1] * Math.max(c, wShape[3]));
        const tolerance = 8 * Math.sqrt(longest) * 2 ** -24;
        ['y', 'dx', 'dfilter'].forEach((name, i) => {
          const worst = tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(fused[i], stock[i])), tf.add(magnitude[i], 1e-30))).dataSync()[0]);
          assert.ok(worst < tolerance, `${name}: error ${worst.toExponential(2)} of the absolute sum (tolerance ${tolerance.toExponential(2)})`);
        });
        const again = evaluate(x, w, g);
        again.forEach((value, i) => assert.deepEqual(Array.from(value.dataSync()), Array.from(fused[i].dataSync()), 'bit-identical rerun'));
        tf.dispose([x, w, g, ...fused, ...stock, ...magnitude, ...again]);
      }));
  }

  for (const tangents of [0, 2]) {
    it(`LayerNorm with ${tangents} tangents: outputs and the gradients of h, dh, gain and shift equal the tfjs ops`, (t) =>
      withFused(t, () => {
        tf.tidy(() => {
          const rng = new Rng(`fused-layer-norm-${tangents}`);
          const [batch, length, channels, eps] = [6, 4, 37, 1e-5];
          const h = randomTensor(rng, [batch, length, channels], 2);
          const dh = randomTensor(rng, [tangents, batch, length, channels], 1);
          const gain = randomTensor(rng, [channels], 1);
          const shift = randomTensor(rng, [channels], 1);
          const gy = randomTensor(rng, [batch, length, channels], 1);
          const gdy = randomTensor(rng, [tangents, batch, length, channels], 1);
          /** y, dy and the gradients of <gy, y> + <gdy, dy> for h, dh, gain, shift, by `norm`. */
          const run = (norm: (...x: tf.Tensor[]) => tf.Tensor[]) => {
            const f = (...x: tf.Tensor[]) => {
              const [y, dy] = norm(...x);
              return tf.add(tf.sum(tf.mul(y, gy)), tf.sum(tf.mul(dy, gdy))) as tf.Scalar;
            };
            return [...norm(h, dh, gain, shift), ...tf.grads(f)([h, dh, gain, shift])];
          };
          const fused = run((hh, dd, gg, ss) => tf.engine().runKernel(LAYER_NORM, { h: hh, dh: dd, gain: gg, shift: ss }, { eps }) as tf.Tensor[]);
          const composed = run((hh, dd, gg, ss) => {
            const { mean, variance } = tf.moments(hh, -1, true);
            const invSd = tf.rsqrt(tf.add(variance, eps));
            const normed = tf.mul(tf.sub(hh, mean), invSd);
            const centred = tf.sub(dd, tf.mean(dd, -1, true));
            const correction = tf.mul(normed, tf.mean(tf.mul(normed, dd), -1, true));
            return [tf.add(tf.mul(normed, gg), ss), tf.mul(tf.mul(tf.sub(centred, correction), invSd), gg)];
          });
          ['y', 'dy', 'dL/dh', 'dL/d(dh)', 'dL/dgain', 'dL/dshift'].forEach((name, i) => {
            if (fused[i].size === 0) return;
            const err = relativeError(fused[i], composed[i]);
            assert.ok(err < 2e-6, `${name}: relative error ${err.toExponential(2)}`);
          });
        });
      }));
  }

  const reluCases = [
    { rows: 7, tangents: 0, n: 10, m: 12, channels: 3 },
    { rows: 7, tangents: 2, n: 10, m: 12, channels: 12 },
    { rows: 64, tangents: 3, n: 512, m: 512, channels: 128 },
  ];
  for (const c of reluCases) {
    it(`ReLU dense layer with ${c.tangents} tangents (${c.n} -> ${c.m}, bias of ${c.channels}): outputs and the gradients of x, z, w, b equal the tfjs ops`, (t) =>
      withFused(t, () => {
        tf.tidy(() => {
          const rng = new Rng(`fused-relu-dense-${c.rows}-${c.tangents}-${c.channels}`);
          const x = randomTensor(rng, [c.rows, c.n], 1);
          const z = randomTensor(rng, [c.tangents * c.rows, c.n], 1);
          const w = randomTensor(rng, [c.n, c.m], 1 / Math.sqrt(c.n));
          const b = randomTensor(rng, [c.channels], 0.5);
          const [gh, gdh] = [randomTensor(rng, [c.rows, c.m], 1), randomTensor(rng, [c.tangents * c.rows, c.m], 1)];
          /** h, dh and the gradients of <gh, h> + <gdh, dh> for x, z, w, b, by `layer`. */
          const run = (layer: (...inputs: tf.Tensor[]) => tf.Tensor[]) => {
            const f = (...inputs: tf.Tensor[]) => {
              const [h, dh] = layer(...inputs);
              return tf.add(tf.sum(tf.mul(h, gh)), tf.sum(tf.mul(dh, gdh))) as tf.Scalar;
            };
            return [...layer(x, z, w, b), ...tf.grads(f)([x, z, w, b])];
          };
          const fused = run((xx, zz, ww, bb) => tf.engine().runKernel(RELU_DENSE, { x: xx, z: zz, w: ww, b: bb }) as tf.Tensor[]);
          const composed = run((xx, zz, ww, bb) => {
            const a = tf.add(tf.matMul(xx, ww), tf.tile(bb, [c.m / c.channels]));
            const step = tf.step(a);
            const dh = tf.mul(tf.reshape(tf.matMul(zz, ww), [c.tangents, c.rows, c.m]), step);
            return [tf.relu(a), tf.reshape(dh, [c.tangents * c.rows, c.m])];
          });
          assert.ok(tf.tidy(() => tf.mean(tf.step(fused[0])).dataSync()[0]) > 0.2, 'some units are active, some not');
          ['h', 'dh', 'dL/dx', 'dL/dz', 'dL/dw', 'dL/db'].forEach((name, i) => {
            if (fused[i].size === 0) return;
            const err = relativeError(fused[i], composed[i]);
            assert.ok(err < 2e-6, `${name}: relative error ${err.toExponential(2)}`);
          });
        });
      }));
  }

  for (const tangents of [0, 2]) {
    it(`FiLM Swish with ${tangents} tangents: outputs and the gradients of a, gain, offset and da equal the tfjs ops`, (t) =>
      withFused(t, () => {
        tf.tidy(() => {
          const rng = new Rng(`fused-film-swish-${tangents}`);
          // 600 channels: more than the kernel's chunk of 512.
          const [batch, positions, channels] = [3, 5, 600];
          const a = randomTensor(rng, [batch, positions, channels], 3);
          const gain = randomTensor(rng, [batch, channels], 1);
          const offset = randomTensor(rng, [batch, channels], 1);
          const da = randomTensor(rng, [tangents, batch, positions, channels], 1);
          const [gh, ghd] = [randomTensor(rng, [batch, positions, channels], 1), randomTensor(rng, [tangents, batch, positions, channels], 1)];
          /** h, hd and the gradients of <gh, h> + <ghd, hd> for a, gain, offset, da, by `film`. */
          const run = (film: (...inputs: tf.Tensor[]) => tf.Tensor[]) => {
            const f = (...inputs: tf.Tensor[]) => {
              const [h, hd] = film(...inputs);
              return tf.add(tf.sum(tf.mul(h, gh)), tf.sum(tf.mul(hd, ghd))) as tf.Scalar;
            };
            return [...film(a, gain, offset, da), ...tf.grads(f)([a, gain, offset, da])];
          };
          const fused = run((aa, gg, oo, dd) => tf.engine().runKernel(FILM_SWISH, { a: aa, gain: gg, offset: oo, da: dd }) as tf.Tensor[]);
          const composed = run((aa, gg, oo, dd) => {
            const [g3, o3] = [tf.expandDims(gg, 1), tf.expandDims(oo, 1)];
            const { h, dh } = swishWithDerivative(tf.add(tf.mul(aa, g3), o3));
            return [h, tf.mul(dd, tf.mul(dh, g3))];
          });
          ['h', 'hd', 'dL/da', 'dL/dgain', 'dL/doffset', 'dL/dda'].forEach((name, i) => {
            if (fused[i].size === 0) return;
            const err = relativeError(fused[i], composed[i]);
            assert.ok(err < 2e-6, `${name}: relative error ${err.toExponential(2)}`);
          });
        });
      }));
  }

  it('the video conv field on the fused kernels equals it on tfjs ops: v, JVPs and every gradient', (t) =>
    withFused(t, () => {
      const shape = { grid: 4, channels: 2, conditionGrids: 1, conditionScalars: 1, width: 8, blocks: 2 };
      const model = new ConvLatentField(shape, new Rng('fused-conv-field'));
      const rng = new Rng('fused-conv-field-data');
      const [batch, dim] = [3, 4 * 4 * 2];
      const x = randomTensor(rng, [batch, dim], 1) as tf.Tensor2D;
      const time = tf.tensor2d(rng.uniformArray(batch, 0, 1), [batch, 1]);
      const condition = randomTensor(rng, [batch, model.conditionWidth], 1) as tf.Tensor2D;
      const probes = randomTensor(rng, [2, batch, dim], 1) as tf.Tensor3D;
      const [gv, gj] = [randomTensor(rng, [batch, dim], 1), randomTensor(rng, [2, batch, dim], 1)];
      const field = model.given(condition);
      const evaluate = () =>
        tf.tidy(() => {
          const { v, jvp } = field.forwardWithTangents!(x, time, probes);
          const { grads } = tf.variableGrads(() => {
            const out = field.forwardWithTangents!(x, time, probes);
            return tf.add(tf.sum(tf.mul(out.v, gv)), tf.sum(tf.mul(out.jvp, gj))) as tf.Scalar;
          }, model.variables as tf.Variable[]);
          return [v, jvp, field.forward(x, time), ...model.variables.map((variable) => grads[variable.name])];
        });
      const fused = evaluate();
      const plain = onStockWasm(evaluate);
      fused.forEach((value, i) => {
        const err = relativeError(value, plain[i]);
        assert.ok(err < 1e-5, `output ${i}: relative error ${err.toExponential(2)}`);
      });
      tf.dispose([...fused, ...plain, x, time, condition, probes, gv, gj]);
      model.dispose();
    }));

  it('Sin and Cos of float32 are within an ulp of the float64 values (the stock kernels are not), the same run to run', (t) =>
    withFused(t, () => {
      const rng = new Rng('fused-trig');
      // The Fourier features' angles: up to a few hundred radians.
      const x = tf.tensor1d(rng.uniformArray(4096, -400, 400));
      const inputs = x.dataSync();
      const maps = () => [tf.sin(x), tf.cos(x)];
      const fused = maps();
      const stock = onStockWasm(maps);
      [Math.sin, Math.cos].forEach((exact, i) => {
        const [values, stockValues] = [fused[i].dataSync(), stock[i].dataSync()];
        let [worst, stockWorst] = [0, 0];
        inputs.forEach((angle, j) => {
          const truth = exact(angle);
          const ulp = 2 ** (Math.floor(Math.log2(Math.abs(truth))) - 23);
          worst = Math.max(worst, Math.abs(values[j] - truth) / ulp);
          stockWorst = Math.max(stockWorst, Math.abs(stockValues[j] - truth));
        });
        assert.ok(worst <= 1, `${exact.name}: ${worst.toFixed(2)} ulps from the float64 value`);
        // The stock kernels lose relative accuracy near the zeros of large angles (about 1,600 ulps
        // measured), not absolute: both agree to a few float32 steps of 1.
        assert.ok(stockWorst < 1e-6, `${exact.name}: the stock kernel is ${stockWorst} from the float64 value`);
      });
      const again = maps();
      again.forEach((value, i) => assert.deepEqual(Array.from(value.dataSync()), Array.from(fused[i].dataSync()), 'bit-identical rerun'));
      tf.dispose([x, ...fused, ...stock, ...again]);
    }));

  it('the simplex CNN on the fused kernels equals it on tfjs ops: logits, JVPs and every gradient', (t) =>
    withFused(t, () => {
      const model = new SimplexCnn({ length: 4, classes: 5, hidden: 16, layers: 3, kernel: 3 }, new Rng('fused-cnn'));
      const rng = new Rng('fused-cnn-data');
      const x = tf.softmax(randomTensor(rng, [6, 4, 5], 1)) as tf.Tensor3D;
      const tau = tf.tensor2d(rng.uniformArray(6, 0, 1), [6, 1]);
      const probes = randomTensor(rng, [2, 6, 4, 5], 1) as tf.Tensor4D;
      const [gl, gj] = [randomTensor(rng, [6, 4, 5], 1), randomTensor(rng, [2, 6, 4, 5], 1)];
      const evaluate = () =>
        tf.tidy(() => {
          const { logits, jvp } = model.logitsWithTangents(x, tau, probes);
          const { grads } = tf.variableGrads(() => {
            const out = model.logitsWithTangents(x, tau, probes);
            return tf.add(tf.sum(tf.mul(out.logits, gl)), tf.sum(tf.mul(out.jvp, gj))) as tf.Scalar;
          }, model.variables);
          return [logits, jvp, model.logits(x, tau), ...model.variables.map((variable) => grads[variable.name])];
        });
      const fused = evaluate();
      const plain = onStockWasm(evaluate);
      fused.forEach((value, i) => {
        const err = relativeError(value, plain[i]);
        assert.ok(err < 1e-5, `output ${i}: relative error ${err.toExponential(2)}`);
      });
      tf.dispose([...fused, ...plain, x, tau, probes, gl, gj]);
      model.dispose();
    }));

  it('Sum over a contiguous run of axes equals the stock kernel (leading, trailing, middle, all, keepDims); other sums go to it', (t) =>
    withFused(t, () => {
      const rng = new Rng('fused-sum');
      const x = randomTensor(rng, [6, 5, 37, 3], 1);
      const cases: [number[], boolean][] = [[[0], false], [[0, 1], false], [[3], false], [[2, 3], true], [[1, 2], false], [[0, 1, 2, 3], false], [[1], true], [[-1], false], [[0, 2], false]];
      const sums = () => cases.map(([axes, keepDims]) => tf.tidy(() => tf.sum(x, axes, keepDims)));
      const fused = sums();
      const stock = onStockWasm(sums);
      cases.forEach(([axes], i) => {
        assert.deepEqual(fused[i].shape, stock[i].shape, `axes ${axes}`);
        // Each output is a sum of at most 6 x 5 x 37 x 3 = 3,330 terms of |x| < 5: float32 rounding in any order stays below 3,330 x 5 x 2^-24 x 3,330 ~ 3e-3 absolute; far below in practice.
        const err = tf.tidy(() => tf.max(tf.abs(tf.sub(fused[i], stock[i]))).dataSync()[0]);
        assert.ok(err < 1e-4, `axes ${axes}: max difference ${err}`);
      });
      assert.deepEqual(Array.from(tf.tidy(() => tf.sum(x, [0, 1])).dataSync()), Array.from(fused[1].dataSync()), 'bit-identical rerun');
      assert.deepEqual(tf.tidy(() => Array.from(tf.sum(tf.zeros([0, 3, 5]), [0, 2]).dataSync())), [0, 0, 0], 'an empty sum is 0');
      const ints = tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32');
      assert.deepEqual(tf.tidy(() => Array.from(tf.sum(ints, 0).dataSync())), [4, 6], 'int32 sums go to the stock kernel');
      tf.dispose([x, ints, ...fused, ...stock]);
    }));

  it('the Adam step equals tfjs AdamOptimizer over several steps, with the same moments and bias corrections', (t) =>
    withFused(t, () => {
      const rng = new Rng('fused-adam');
      const shapes = [[40, 13], [13], [1, 7]];
      const initial = shapes.map((s) => randomTensor(rng, s, 1));
      const gradients = [0, 1, 2].map(() => shapes.map((s) => randomTensor(rng, s, 1)));
      /** The variables after three steps of the suite's trainer optimizer, fused or not. */
      const train = (fused: boolean): number[][] => {
        assert.equal(fusedKernelsActive(), fused);
        const variables = initial.map((x, i) => tf.variable(x.clone(), true, `adam-test-${fused}-${i}`));
        const optimizer = new ScheduledAdam(0.01, 0.9, 0.999, 1e-8);
        for (const step of gradients) optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: step[i] })));
        const values = variables.map((v) => Array.from(v.dataSync()));
        tf.dispose(variables);
        optimizer.dispose();
        return values;
      };
      const fused = train(true);
      const plain = onStockWasm(() => train(false));
      fused.forEach((values, i) =>
        values.forEach((x, j) => assert.ok(Math.abs(x - plain[i][j]) <= 1e-6 * Math.max(1, Math.abs(plain[i][j])), `variable ${i}[${j}]: ${x} vs ${plain[i][j]}`)),
      );
      tf.dispose([...initial, ...gradients.flat()]);
    }));

  it('the addon refuses bad arguments to the fused kernels with TypeError / RangeError', (t) =>
    withFused(t, () => {
      const lib = blasAddon()!;
      const f = (n: number) => new Float32Array(n);
      // rows 2, blocks 2, n 3, m 2: z and h 12, w 6, b 2, y 8.
      lib.swishDenseForward(2, 2, 3, 2, f(12), f(6), f(2), f(8), f(12));
      const forward = (...args: unknown[]) => () => (lib.swishDenseForward as (...x: unknown[]) => void)(...args);
      assert.throws(forward(2, 2, 3, 2, f(11), f(6), f(2), f(8), f(12)), RangeError, 'z of the wrong length');
      const shared = f(12);
      assert.throws(forward(2, 2, 3, 2, shared, f(6), f(2), f(8), shared), RangeError, 'h overlaps z');
      assert.throws(forward(2, 2, 3, 2, new Float64Array(12), f(6), f(2), f(8), f(12)), TypeError, 'Float64Array');
      assert.throws(forward(-1, 2, 3, 2, f(12), f(6), f(2), f(8), f(12)), RangeError, 'negative rows');
      assert.throws(forward(2, 2, 3, 2, f(12), f(6), f(2), f(8)), TypeError, 'missing argument');
      const backward = (...args: unknown[]) => () => (lib.swishDenseBackward as (...x: unknown[]) => void)(...args);
      assert.throws(backward(2, 2, 3, 2, f(12), f(6), f(12), f(8), f(12), f(6), f(3)), RangeError, 'db of the wrong length');
      const sum = (...args: unknown[]) => () => (lib.sumMiddle as (...x: unknown[]) => void)(...args);
      assert.throws(sum(2, 3, 4, f(24), f(7)), RangeError, 'out of the wrong length');
      const buffer = f(24);
      assert.throws(sum(2, 3, 4, buffer, buffer.subarray(0, 8)), RangeError, 'out overlaps x');
      const conv = (...args: unknown[]) => () => (lib.convSameForward as (...x: unknown[]) => void)(...args);
      assert.throws(conv(1, 2, 2, 1, 2, 3, 1, f(4), f(6), f(4)), RangeError, 'even filter height');
      assert.throws(conv(1, 2, 2, 1, 3, 3, 1, f(4), f(9), f(3)), RangeError, 'y of the wrong length');
      const adam = (...args: unknown[]) => () => (lib.adamUpdate as (...x: unknown[]) => void)(...args);
      const v = f(4);
      assert.throws(adam(f(4), f(4), f(4), f(4), f(4), f(3), f(4), 0.9, 0.999, 1e-8, 1e-3, 0.9, 0.999), RangeError, 'moment of the wrong length');
      assert.throws(adam(v, f(4), f(4), f(4), v, f(4), f(4), 0.9, 0.999, 1e-8, 1e-3, 0.9, 0.999), RangeError, 'output is an input');
      assert.throws(adam(f(4), f(4), f(4), f(4), f(4), f(4), f(4), 0.9, 0.999, 1e-8, NaN, 0.9, 0.999), RangeError, 'NaN learning rate');
      // rows 2, tangents 1, n 3, m 4, channels 2: x, z 6; w 12; b 2; h, dh 8.
      lib.reluDenseForward(2, 1, 3, 4, 2, f(6), f(6), f(12), f(2), f(8), f(8));
      const relu = (...args: unknown[]) => () => (lib.reluDenseForward as (...x: unknown[]) => void)(...args);
      assert.throws(relu(2, 1, 3, 4, 3, f(6), f(6), f(12), f(3), f(8), f(8)), RangeError, 'channels do not divide m');
      assert.throws(relu(2, 1, 3, 4, 2, f(6), f(5), f(12), f(2), f(8), f(8)), RangeError, 'z of the wrong length');
      const h = f(8);
      assert.throws(relu(2, 1, 3, 4, 2, f(6), f(6), f(12), f(2), h, h), RangeError, 'dh overlaps h');
      const reluGrad = (...args: unknown[]) => () => (lib.reluDenseBackward as (...x: unknown[]) => void)(...args);
      assert.throws(reluGrad(2, 1, 3, 4, 2, f(6), f(6), f(12), f(8), f(8), f(8), f(6), f(6), f(12)), TypeError, 'missing gb');
      const trig = (...args: unknown[]) => () => (lib.elementwise as (...x: unknown[]) => void)(...args);
      assert.throws(trig('tan', f(3), f(3)), RangeError, 'unknown op');
      // batch 2, positions 3, channels 4, tangents 1: a, h, da, hd 24; gain, offset 8.
      lib.filmSwishForward(2, 3, 4, 1, f(24), f(8), f(8), f(24), f(24), f(24));
      const film = (...args: unknown[]) => () => (lib.filmSwishForward as (...x: unknown[]) => void)(...args);
      assert.throws(film(2, 3, 4, 1, f(24), f(4), f(8), f(24), f(24), f(24)), RangeError, 'gain of the wrong length');
      assert.throws(film(2, 3, 4, 1.5, f(24), f(8), f(8), f(24), f(24), f(24)), RangeError, 'fractional tangents');
      assert.throws(trig('sin', f(3), f(2)), RangeError, 'y of the wrong length');
    }));
});
