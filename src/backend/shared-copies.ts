import * as tf from './tf';

/**
 * Identity and same-dtype Cast on the wasm backend without a copy. tfjs-core clones every tensor
 * it saves for the backward pass (engine.saveTensorsForBackwardMode: keep(clone(t))) and clone is
 * the Identity kernel, which the stock wasm kernel implements as a fresh buffer and a memcpy: about
 * 440 copies and 340 MiB per FDM step of the dna-toy CNN. Tensors are immutable (Variable.assign
 * swaps the data, it does not write into it), so a clone can share its input's data with a
 * reference count, exactly as the wasm backend's own Reshape and the cpu backend's Identity do.
 * The values are the same bits, so results do not change.
 */

/** The parts of the wasm backend the kernels use (tfjs-backend-wasm's BackendWasm). */
interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

let originalIdentity: tf.KernelConfig | undefined;
let originalCast: tf.KernelConfig | undefined;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** x itself under a new reference: the same data, shape and dtype. */
function share(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  (backend as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function sharedIdentity(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') return (originalIdentity as tf.KernelConfig).kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  return share(x, args.backend);
}

function sharedCast(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { dtype } = args.attrs as unknown as tf.CastAttrs;
  if (x.dtype !== dtype || x.dtype === 'string') return (originalCast as tf.KernelConfig).kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  return share(x, args.backend);
}

function replace(kernelName: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo): tf.KernelConfig | undefined {
  const current = tf.getKernel(kernelName, 'wasm');
  if (current === undefined) return undefined;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...current, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  return current;
}

/** Installs the sharing Identity and Cast on the wasm backend. Idempotent. */
export function shareWasmCopies(): void {
  if (originalIdentity !== undefined) return;
  originalIdentity = replace(tf.Identity, sharedIdentity);
  originalCast = replace(tf.Cast, sharedCast);
}
