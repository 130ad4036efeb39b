import * as tf from './tf';
import { BlasAddon, blasActive, blasAddon } from './blas';
import { KernelArgs, StockKernel, replaceWasmKernel, writeOutputs } from './wasm-kernels';

/**
 * Fused kernels of the wasm backend on the native addon (native/openblas-matmul), where the stock
 * ops take about ten kernels and as many fresh buffers: each is one pass over memory, with any
 * matrix products on OpenBLAS.
 *
 * One dense layer on Swish, over a stack of row blocks: the primal
 * pre-activations a [B, n] followed by K tangent blocks da_k [B, n] (forward-mode JVPs), as rows of
 * z [(K+1)B, n]; the op that uses them, with the math, is models/swish-dense.ts.
 * - `FdmSwishDense` (z, w, b; primalRows B) -> [y, h]: h = [swish(a); da_k swish'(a)], y = h w + [b; 0].
 * - `FdmSwishDenseGrad` (z, w, h, dy; primalRows B) -> [dz, dw, db].
 *
 * One Adam step of one variable (training/trainer.ts), tfjs's AdamOptimizer's formula:
 * - `FdmAdam` (value, m, v, g, accBeta1, accBeta2; lr, beta1, beta2, epsilon) -> [value', m', v'].
 *
 * A stride-1 'same' 2D convolution of NHWC images with an odd filter, by Winograd's F(2x2, 3x3)
 * (3x3 filters on wide inputs) or im2col, the products on OpenBLAS (the stock kernel runs in
 * XNNPACK at about 25 GFLOP/s): the op is models/conv.ts's convSame.
 * - `FdmConvSame` (x, filter) -> y;  `FdmConvSameGrad` (x, filter, dy) -> [dx, dfilter].
 *
 * LayerNorm over the last axis with forward-mode tangents (the simplex CNN's blocks), the
 * normalisation, the tangents' map and, backwards, the second-order terms in one pass per row:
 * - `FdmLayerNorm` (h [N, C], dh [T, N, C], gain, shift; eps) -> [y, dy], with its gradient registered.
 *
 * A dense layer on ReLU with forward-mode tangents (the simplex CNN's convolutions as matrix
 * products): x [R, n] primal rows, z [T R, n] tangent rows (tangent t's block is rows [t R, (t+1) R)),
 * w [n, m], b [C] repeated along the output rows (m a multiple of C):
 * - `FdmReluDense` (x, z, w, b) -> [h, dh]: h = relu(x w + b), dh_t = (z_t w) step(h), its gradient registered.
 *
 * Swish of a FiLM-modulated input with forward-mode tangents (the video conv field's activation):
 * a [B, P, C], gain and offset [B, C], da [T, B, P, C]; with u = gain a + offset,
 * - `FdmFilmSwish` (a, gain, offset, da) -> [h, hd]: h = swish(u), hd_t = da_t gain swish'(u), its gradient registered.
 *
 * And the stock `Sin` and `Cos` of float32 (the Fourier time features), which the wasm kernels
 * compute about ten times slower than the C library; and the stock `Sum` of float32 over a contiguous run of axes, which the wasm kernel does by
 * transposing the run innermost first (a copy of the whole input): bias gradients, the column sums
 * of a batch, are the common case. Other sums go to the stock kernel.
 */
export const SWISH_DENSE = 'FdmSwishDense';
export const SWISH_DENSE_GRAD = 'FdmSwishDenseGrad';
const ADAM = 'FdmAdam';
export const CONV_SAME = 'FdmConvSame';
export const CONV_SAME_GRAD = 'FdmConvSameGrad';
export const LAYER_NORM = 'FdmLayerNorm';
const LAYER_NORM_GRAD = 'FdmLayerNormGrad';
export const RELU_DENSE = 'FdmReluDense';
const RELU_DENSE_GRAD = 'FdmReluDenseGrad';
export const FILM_SWISH = 'FdmFilmSwish';
const FILM_SWISH_GRAD = 'FdmFilmSwishGrad';

export interface SwishDenseAttrs {
  primalRows: number;
}

/** The stacked layer's sizes from z [(K+1)B, n] and w [n, m], checked. */
function layerSizes(z: tf.TensorInfo, w: tf.TensorInfo, primalRows: number): { blocks: number; n: number; m: number } {
  const [rows, n] = z.shape;
  const [wn, m] = w.shape;
  if (z.shape.length !== 2 || w.shape.length !== 2 || wn !== n || z.dtype !== 'float32' || w.dtype !== 'float32') {
    throw new Error(`${SWISH_DENSE}: z [${z.shape}] and w [${w.shape}] are not float32 [R, n] and [n, m]`);
  }
  if (!Number.isInteger(primalRows) || primalRows < 1 || rows % primalRows !== 0) {
    throw new Error(`${SWISH_DENSE}: ${rows} rows are not whole blocks of ${primalRows} primal rows`);
  }
  return { blocks: rows / primalRows, n, m };
}

function addon(): BlasAddon {
  return blasAddon() as BlasAddon;
}

function forwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const { z, w, b } = args.inputs as { z: tf.TensorInfo; w: tf.TensorInfo; b: tf.TensorInfo };
  const { primalRows } = args.attrs as unknown as SwishDenseAttrs;
  const { blocks, n, m } = layerSizes(z, w, primalRows);
  return writeOutputs(args, [[z.shape[0], m], [z.shape[0], n]], ([y, h], view) =>
    addon().swishDenseForward(primalRows, blocks, n, m, view(z), view(w), view(b), y, h),
  );
}

function gradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { z, w, h, dy } = args.inputs as { z: tf.TensorInfo; w: tf.TensorInfo; h: tf.TensorInfo; dy: tf.TensorInfo };
  const { primalRows } = args.attrs as unknown as SwishDenseAttrs;
  const { blocks, n, m } = layerSizes(z, w, primalRows);
  return writeOutputs(args, [z.shape, w.shape, [m]], ([dz, dw, db], view) =>
    addon().swishDenseBackward(primalRows, blocks, n, m, view(z), view(w), view(h), view(dy), dz, dw, db),
  );
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

function adamKernel(args: KernelArgs): tf.TensorInfo[] {
  const { value, m, v, g, accBeta1, accBeta2 } = args.inputs as Record<string, tf.TensorInfo>;
  const { lr, beta1, beta2, epsilon } = args.attrs as unknown as AdamHyper;
  for (const t of [m, v, g]) {
    if (t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, value.shape)) throw new Error(`${ADAM}: moments and gradient must be float32 of the variable's shape [${value.shape}]`);
  }
  return writeOutputs(args, [value.shape, value.shape, value.shape], ([newValue, newM, newV], view) =>
    addon().adamUpdate(view(value), view(m), view(v), view(g), newValue, newM, newV, beta1, beta2, epsilon, lr, view(accBeta1)[0], view(accBeta2)[0]),
  );
}

/** The variable, first and second moment after one Adam step (accBeta = beta^(t+1), scalars). */
export function fusedAdamUpdate(value: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, accBeta1: tf.Tensor, accBeta2: tf.Tensor, hyper: AdamHyper): tf.Tensor[] {
  return tf.engine().runKernel(ADAM, { value, m, v, g, accBeta1, accBeta2 }, { ...hyper }) as tf.Tensor[];
}

/** [n, h, w, c, kh, kw, oc] of a convolution of x [n, h, w, c] with filter [kh, kw, c, oc], checked. */
function convShape(x: tf.TensorInfo, filter: tf.TensorInfo): [number, number, number, number, number, number, number] {
  const [n, h, w, c] = x.shape;
  const [kh, kw, fc, oc] = filter.shape;
  if (x.shape.length !== 4 || filter.shape.length !== 4 || fc !== c || x.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`${CONV_SAME}: x [${x.shape}] and filter [${filter.shape}] are not float32 [n, h, w, c] and [kh, kw, c, oc]`);
  }
  return [n, h, w, c, kh, kw, oc];
}

function convKernel(args: KernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const shape = convShape(x, filter);
  return writeOutputs(args, [[...x.shape.slice(0, 3), shape[6]]], ([y], view) => addon().convSameForward(...shape, view(x), view(filter), y))[0];
}

function convGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, filter, dy } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; dy: tf.TensorInfo };
  const shape = convShape(x, filter);
  return writeOutputs(args, [x.shape, filter.shape], ([dx, dfilter], view) => addon().convSameBackward(...shape, view(x), view(filter), view(dy), dx, dfilter));
}

export interface LayerNormAttrs {
  eps: number;
}

/** [rows, channels, tangents] of h [..., C] and dh [T, ..., C], checked. */
function normShape(h: tf.TensorInfo, dh: tf.TensorInfo, gain: tf.TensorInfo): [number, number, number] {
  const channels = h.shape[h.shape.length - 1];
  const rows = tf.util.sizeFromShape(h.shape) / channels;
  const fits = tf.util.arraysEqual(dh.shape.slice(1), h.shape) && tf.util.arraysEqual(gain.shape, [channels]) && [h, dh, gain].every((t) => t.dtype === 'float32');
  if (!fits) throw new Error(`${LAYER_NORM}: h [${h.shape}], dh [${dh.shape}] and gain [${gain.shape}] are not float32 [..., C], [T, ..., C] and [C]`);
  return [rows, channels, dh.shape[0]];
}

function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const { h, dh, gain, shift } = args.inputs as Record<string, tf.TensorInfo>;
  const { eps } = args.attrs as unknown as LayerNormAttrs;
  const shape = normShape(h, dh, gain);
  return writeOutputs(args, [h.shape, dh.shape], ([y, dy], view) => addon().layerNormForward(...shape, eps, view(h), view(dh), view(gain), view(shift), y, dy));
}

function layerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { h, dh, gain, gy, gdy } = args.inputs as Record<string, tf.TensorInfo>;
  const { eps } = args.attrs as unknown as LayerNormAttrs;
  const shape = normShape(h, dh, gain);
  return writeOutputs(args, [h.shape, dh.shape, gain.shape, gain.shape], ([gh, gdh, ggain, gshift], view) =>
    addon().layerNormBackward(...shape, eps, view(h), view(dh), view(gain), view(gy), view(gdy), gh, gdh, ggain, gshift),
  );
}

/** The gradient of FdmLayerNorm: one call of its gradient kernel for all four inputs. */
const layerNormGradient: tf.GradConfig = {
  kernelName: LAYER_NORM,
  inputsToSave: ['h', 'dh', 'gain'],
  gradFunc: (dys, saved, attrs) => {
    const [h, dh, gain] = saved;
    const [gy, gdy] = dys as tf.Tensor[];
    const [gh, gdh, ggain, gshift] = tf.engine().runKernel(LAYER_NORM_GRAD, { h, dh, gain, gy, gdy }, attrs) as tf.Tensor[];
    return { h: () => gh, dh: () => gdh, gain: () => ggain, shift: () => gshift };
  },
};

/** [rows, tangents, n, m, channels] of the ReLU dense layer's inputs, checked. */
function reluDenseShape(x: tf.TensorInfo, z: tf.TensorInfo, w: tf.TensorInfo, b: tf.TensorInfo): [number, number, number, number, number] {
  const [rows, n] = x.shape;
  const [m, channels] = [w.shape[1], b.shape[0]];
  const fits =
    x.shape.length === 2 && z.shape.length === 2 && w.shape.length === 2 && b.shape.length === 1 &&
    z.shape[1] === n && w.shape[0] === n && rows > 0 && z.shape[0] % rows === 0 && channels > 0 && m % channels === 0 &&
    [x, z, w, b].every((t) => t.dtype === 'float32');
  if (!fits) {
    throw new Error(`${RELU_DENSE}: x [${x.shape}], z [${z.shape}], w [${w.shape}] and b [${b.shape}] are not float32 [R, n], [T R, n], [n, m] and [C] with C dividing m`);
  }
  return [rows, z.shape[0] / rows, n, m, channels];
}

function reluDenseKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, z, w, b } = args.inputs as Record<string, tf.TensorInfo>;
  const shape = reluDenseShape(x, z, w, b);
  return writeOutputs(args, [[x.shape[0], shape[3]], [z.shape[0], shape[3]]], ([h, dh], view) =>
    addon().reluDenseForward(...shape, view(x), view(z), view(w), view(b), h, dh),
  );
}

function reluDenseGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, z, w, b, h, gh, gdh } = args.inputs as Record<string, tf.TensorInfo>;
  const shape = reluDenseShape(x, z, w, b);
  return writeOutputs(args, [x.shape, z.shape, w.shape, b.shape], ([gx, gz, gw, gb], view) =>
    addon().reluDenseBackward(...shape, view(x), view(z), view(w), view(h), view(gh), view(gdh), gx, gz, gw, gb),
  );
}

/** The gradient of FdmReluDense: one call of its gradient kernel for all four inputs (the mask is h > 0). */
const reluDenseGradient: tf.GradConfig = {
  kernelName: RELU_DENSE,
  inputsToSave: ['x', 'z', 'w', 'b'],
  outputsToSave: [true, false],
  gradFunc: (dys, saved) => {
    const [x, z, w, b, h] = saved;
    const [gh, gdh] = dys as tf.Tensor[];
    const [gx, gz, gw, gb] = tf.engine().runKernel(RELU_DENSE_GRAD, { x, z, w, b, h, gh, gdh }) as tf.Tensor[];
    return { x: () => gx, z: () => gz, w: () => gw, b: () => gb };
  },
};

/** [batch, positions, channels, tangents] of the FiLM Swish's inputs, checked. */
function filmShape(a: tf.TensorInfo, gain: tf.TensorInfo, offset: tf.TensorInfo, da: tf.TensorInfo): [number, number, number, number] {
  const [batch, positions, channels] = a.shape;
  const fits =
    a.shape.length === 3 && tf.util.arraysEqual(gain.shape, [batch, channels]) && tf.util.arraysEqual(offset.shape, [batch, channels]) &&
    da.shape.length === 4 && tf.util.arraysEqual(da.shape.slice(1), a.shape) && [a, gain, offset, da].every((t) => t.dtype === 'float32');
  if (!fits) {
    throw new Error(`${FILM_SWISH}: a [${a.shape}], gain [${gain.shape}], offset [${offset.shape}] and da [${da.shape}] are not float32 [B, P, C], [B, C], [B, C] and [T, B, P, C]`);
  }
  return [batch, positions, channels, da.shape[0]];
}

function filmSwishKernel(args: KernelArgs): tf.TensorInfo[] {
  const { a, gain, offset, da } = args.inputs as Record<string, tf.TensorInfo>;
  const shape = filmShape(a, gain, offset, da);
  return writeOutputs(args, [a.shape, da.shape], ([h, hd], view) => addon().filmSwishForward(...shape, view(a), view(gain), view(offset), view(da), h, hd));
}

function filmSwishGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const { a, gain, offset, da, gh, ghd } = args.inputs as Record<string, tf.TensorInfo>;
  const shape = filmShape(a, gain, offset, da);
  return writeOutputs(args, [a.shape, gain.shape, offset.shape, da.shape], ([ga, ggain, goffset, gda], view) =>
    addon().filmSwishBackward(...shape, view(a), view(gain), view(offset), view(da), view(gh), view(ghd), ga, ggain, goffset, gda),
  );
}

/** The gradient of FdmFilmSwish: one call of its gradient kernel for all four inputs. */
const filmSwishGradient: tf.GradConfig = {
  kernelName: FILM_SWISH,
  inputsToSave: ['a', 'gain', 'offset', 'da'],
  gradFunc: (dys, saved) => {
    const [a, gain, offset, da] = saved;
    const [gh, ghd] = dys as tf.Tensor[];
    const [ga, ggain, goffset, gda] = tf.engine().runKernel(FILM_SWISH_GRAD, { a, gain, offset, da, gh, ghd }) as tf.Tensor[];
    return { a: () => ga, gain: () => ggain, offset: () => goffset, da: () => gda };
  },
};

/** The stock Sin or Cos, or the C library's on float32 where the fused kernels run. */
function trigKernel(op: 'sin' | 'cos'): (args: KernelArgs, stock: StockKernel) => tf.TensorInfo | tf.TensorInfo[] {
  return (args, stock) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32' || !fusedKernelsActive()) return stock(args);
    return writeOutputs(args, [x.shape], ([y], view) => addon().elementwise(op, view(x), y))[0];
  };
}

/** [outer, reduced, inner] of x viewed around its summed axes, or null when they are not one contiguous run. */
function middleView(shape: number[], axes: number[]): [number, number, number] | null {
  const sorted = [...axes].sort((a, b) => a - b);
  if (sorted.some((axis, i) => i > 0 && axis !== sorted[i - 1] + 1)) return null;
  const size = (from: number, to: number) => tf.util.sizeFromShape(shape.slice(from, to));
  const [first, last] = [sorted[0], sorted[sorted.length - 1]];
  return [size(0, first), size(first, last + 1), size(last + 1, shape.length)];
}

function sumKernel(args: KernelArgs, stock: StockKernel): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const empty = tf.util.sizeFromShape(x.shape) === 0;
  const around = axes.length > 0 ? middleView(x.shape, axes) : null;
  if (x.dtype !== 'float32' || (around === null && !empty) || !fusedKernelsActive()) return stock(args);
  const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  return writeOutputs(args, [shape], ([sums], view) => {
    // The sums of an empty input are 0, where the stock wasm kernel leaves its output uninitialised.
    if (empty) sums.fill(0);
    else addon().sumMiddle(...(around as [number, number, number]), view(x), sums);
  })[0];
}

let registered = false;

/** Whether the addon has the fused kernels (a build from before they existed has only sgemm). */
function addonHasKernels(): boolean {
  const lib = blasAddon();
  return ['swishDenseForward', 'adamUpdate', 'sumMiddle', 'convSameForward', 'layerNormForward', 'reluDenseForward', 'filmSwishForward', 'elementwise'].every((name) => typeof (lib as unknown as Record<string, unknown> | null)?.[name] === 'function');
}

/**
 * Registers the fused kernels on the wasm backend where the addon has them (backend.ts, once the
 * matrix products are on OpenBLAS). Idempotent. The Sum, Sin and Cos replacements hand every call
 * back to the stock kernel while the fused kernels are off.
 */
export function registerFusedKernels(): void {
  if (registered || !addonHasKernels()) return;
  registered = true;
  const kernels: [string, unknown][] = [
    [SWISH_DENSE, forwardKernel],
    [SWISH_DENSE_GRAD, gradKernel],
    [ADAM, adamKernel],
    [CONV_SAME, convKernel],
    [CONV_SAME_GRAD, convGradKernel],
    [LAYER_NORM, layerNormKernel],
    [LAYER_NORM_GRAD, layerNormGradKernel],
    [RELU_DENSE, reluDenseKernel],
    [RELU_DENSE_GRAD, reluDenseGradKernel],
    [FILM_SWISH, filmSwishKernel],
    [FILM_SWISH_GRAD, filmSwishGradKernel],
  ];
  for (const [kernelName, kernelFunc] of kernels) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
  tf.registerGradient(layerNormGradient);
  tf.registerGradient(reluDenseGradient);
  tf.registerGradient(filmSwishGradient);
  replaceWasmKernel(tf.Sum, sumKernel);
  replaceWasmKernel(tf.Sin, trigKernel('sin'));
  replaceWasmKernel(tf.Cos, trigKernel('cos'));
}

/**
 * Whether the fused kernels run now: registered, on the wasm backend with its matrix products on
 * OpenBLAS (so FDM_BENCH_BLAS=off, or disableBlasMatMul, keeps the plain path).
 */
export function fusedKernelsActive(): boolean {
  return registered && tf.getBackend() === 'wasm' && blasActive();
}
