import * as tf from './tf';

/**
 * What the suite's own kernels for the wasm backend share (blas.ts, fused-kernels.ts,
 * shared-copies.ts): the arguments a kernel receives, the parts of the backend they use, native
 * outputs written through views of its heap, and replacing one of its stock kernels.
 */

/** The arguments of a kernel function. */
export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** A stock kernel, called with the arguments a replacement received. */
export type StockKernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** The parts of the wasm backend (tfjs-backend-wasm's BackendWasm) the suite's kernels use. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  incRef(dataId: tf.DataId): void;
}

/**
 * A function from a float32 tensor to its data as a view of the wasm heap, no copy. Take views after
 * the last makeOutput of a kernel: growing the wasm memory detaches earlier ones.
 */
function heapViews(backend: WasmBackendLike): (t: tf.TensorInfo) => Float32Array {
  return (t) => backend.typedArrayFromHeap(t) as Float32Array;
}

/**
 * A native kernel's float32 outputs: allocates them with the given shapes on the kernel's backend,
 * then calls `write` with their heap views and a view function for the inputs, both taken after the
 * last allocation (see heapViews). The outputs are released again when `write` throws.
 */
export function writeOutputs(
  args: KernelArgs,
  shapes: number[][],
  write: (outputs: Float32Array[], view: (t: tf.TensorInfo) => Float32Array) => void,
): tf.TensorInfo[] {
  const backend = args.backend as WasmBackendLike;
  const outputs = shapes.map((shape) => backend.makeOutput(shape, 'float32'));
  const view = heapViews(backend);
  try {
    write(outputs.map(view), view);
  } catch (err) {
    for (const out of outputs) backend.disposeData(out.dataId);
    throw err;
  }
  return outputs;
}

/**
 * Registers `replacement` in place of the wasm backend's kernel `kernelName`, keeping the stock
 * kernel's setup and dispose (they run again if the backend is re-created); the replacement gets
 * the stock kernel to hand any call back to. Returns the stock kernel's configuration (to restore
 * it with tf.registerKernel), or undefined, changing nothing, when the backend has no such kernel.
 */
export function replaceWasmKernel(
  kernelName: string,
  replacement: (args: KernelArgs, stock: StockKernel) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelConfig | undefined {
  const current = tf.getKernel(kernelName, 'wasm');
  if (current === undefined) return undefined;
  const stock: StockKernel = (args) => current.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo | tf.TensorInfo[];
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...current, kernelFunc: ((args: KernelArgs) => replacement(args, stock)) as unknown as tf.KernelFunc });
  return current;
}
