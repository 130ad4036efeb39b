import * as tf from './tf';
import { KernelArgs, StockKernel, WasmBackendLike, replaceWasmKernel } from './wasm-kernels';

/**
 * Identity and same-dtype Cast on the wasm backend without a copy. tfjs-core clones every tensor
 * it saves for the backward pass (engine.saveTensorsForBackwardMode: keep(clone(t))) and clone is
 * the Identity kernel, which the stock wasm kernel implements as a fresh buffer and a memcpy: about
 * 440 copies and 340 MiB per FDM step of the dna-toy CNN. Tensors are immutable (Variable.assign
 * swaps the data, it does not write into it), so a clone can share its input's data with a
 * reference count, exactly as the wasm backend's own Reshape and the cpu backend's Identity do.
 * The values are the same bits, so results do not change.
 */

let installed = false;

/** x itself under a new reference: the same data, shape and dtype. */
function share(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  (backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function sharedIdentity(args: KernelArgs, stock: StockKernel): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return x.dtype === 'string' ? stock(args) : share(x, args.backend);
}

function sharedCast(args: KernelArgs, stock: StockKernel): tf.TensorInfo | tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { dtype } = args.attrs as unknown as tf.CastAttrs;
  return x.dtype !== dtype || x.dtype === 'string' ? stock(args) : share(x, args.backend);
}

/** Installs the sharing Identity and Cast on the wasm backend. Idempotent. */
export function shareWasmCopies(): void {
  if (installed) return;
  installed = true;
  replaceWasmKernel(tf.Identity, sharedIdentity);
  replaceWasmKernel(tf.Cast, sharedCast);
}
