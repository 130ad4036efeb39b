import * as tf from '../backend/tf';
import { CONV_SAME, CONV_SAME_GRAD, fusedKernelsActive } from '../backend/fused-kernels';

/** Rotates a [kh, kw, Cin, Cout] filter by 180 degrees and swaps its channels: the filter of dL/dx. */
function adjointFilter(w: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
}

/**
 * dL/dw of a stride-1 'same' convolution with an odd kh x kw filter, as one forward conv2d: with
 * batch and channels swapped, x^T [Cin, H, W, B] convolved with dy^T [H, W, B, Cout] as an H x W
 * filter (padding (kh-1)/2, (kw-1)/2) gives [Cin, kh, kw, Cout]. Measured faster than im2col with a
 * matMul on wasm.
 */
function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, [kh, kw]: number[]): tf.Tensor4D {
  const xt = tf.transpose(x, [3, 1, 2, 0]);
  const dyt = tf.transpose(dy, [1, 2, 0, 3]);
  const [ph, pw] = [(kh - 1) / 2, (kw - 1) / 2];
  const g = tf.conv2d(xt, dyt, 1, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
  return tf.transpose(g, [1, 2, 0, 3]);
}

const convSameOp = tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.conv2d(x, w, 1, 'same'),
    gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as tf.Tensor4D[];
      return [tf.conv2d(dy, adjointFilter(ws), 1, 'same'), filterGradient(xs, dy, ws.shape)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/** The convolution and its gradients as native kernels (Winograd or im2col on OpenBLAS; backend/fused-kernels.ts). */
const nativeConvSameOp = tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.engine().runKernel(CONV_SAME, { x, filter: w }) as tf.Tensor4D,
    gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => tf.engine().runKernel(CONV_SAME_GRAD, { x: saved[0], filter: saved[1], dy }) as tf.Tensor[],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * A stride-1 'same' (zero-padded) convolution without bias, x [B, H, W, Cin] and w [kh, kw, Cin,
 * Cout] with odd kh and kw (3x3 for images, 1x3 along the time axis of trajectories). On backends
 * without a Conv2DBackpropFilter kernel (wasm) its gradients are computed by forward convolutions
 * only (wasm's Conv2DBackpropInput is also ~6x slower than its forward conv); elsewhere (cpu, webgpu,
 * native TensorFlow) it is plain tf.conv2d with the stock gradient; where the fused kernels run
 * (wasm on OpenBLAS) it is Winograd's F(2x2, 3x3) for 3x3 filters on 32 input channels or more,
 * im2col otherwise, with the matrix products on OpenBLAS. Same values and gradients (to float32
 * rounding) every way.
 */
export function convSame(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw] = w.shape;
  if (kh % 2 === 0 || kw % 2 === 0) throw new Error(`convSame: the filter's spatial size must be odd, got ${kh}x${kw}`);
  if (fusedKernelsActive()) return nativeConvSameOp(x, w) as tf.Tensor4D;
  if (tf.getKernel(tf.Conv2DBackpropFilter, tf.getBackend()) !== undefined) return tf.conv2d(x, w, 1, 'same');
  return convSameOp(x, w) as tf.Tensor4D;
}
