import * as tf from '../backend/tf';
import { SWISH_DENSE, SWISH_DENSE_GRAD, SwishDenseAttrs } from '../backend/fused-kernels';

/**
 * A dense layer on Swish that carries forward-mode tangents: for z = [a; da_1; ...; da_K], the
 * primal pre-activations a [B, n] stacked over K tangent blocks [B, n] (rows of z [(K+1)B, n]),
 *
 *     swishDense(z) = [swish(a) W + b;  (da_1 * swish'(a)) W;  ...;  (da_K * swish'(a)) W],
 *
 * the next layer's pre-activations and their JVPs (K = 0: the plain layer). Stacking the tangents
 * under the primal puts all rows through one matrix product.
 *
 * Gradients, for the output gradient g = [g_a; g_1; ...; g_K] and h = [swish(a); da_k swish'(a)]:
 *   dW = h^T g,  db = sum of g_a's rows,  dh = g W^T,
 *   dda_k = dh_k swish'(a),  da = dh_a swish'(a) + swish''(a) sum_k dh_k da_k,
 * with swish' = s (1 + a (1 - s)) and swish'' = s (1 - s) (2 + a (1 - 2 s)), s = sigmoid(a).
 *
 * Each direction is one native kernel (backend/fused-kernels.ts): call it only where
 * fusedKernelsActive() says they run. test/fused-kernels.test.ts checks it against the same function
 * composed of tfjs ops and differentiated by tfjs.
 */
export function fusedSwishDense(z: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, primalRows: number): tf.Tensor2D {
  if (w.shape[0] !== z.shape[1] || b.shape[0] !== w.shape[1] || z.shape[0] % primalRows !== 0) {
    throw new Error(`swishDense: z [${z.shape}], w [${w.shape}], b [${b.shape}] with ${primalRows} primal rows do not fit`);
  }
  const attrs = { primalRows } as SwishDenseAttrs & tf.NamedAttrMap;
  const op = tf.customGrad((...args) => {
    const [zIn, wIn, bIn] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, h] = tf.engine().runKernel(SWISH_DENSE, { z: zIn, w: wIn, b: bIn }, attrs) as tf.Tensor[];
    save([zIn, wIn, h]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, ws, hs] = saved;
        return tf.engine().runKernel(SWISH_DENSE_GRAD, { z: zs, w: ws, h: hs, dy }, attrs) as tf.Tensor[];
      },
    };
  });
  return op(z, w, b) as tf.Tensor2D;
}
