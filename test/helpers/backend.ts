import { initBackend } from '../../src/backend/backend';
import { disableBlasMatMul, enableBlasMatMul } from '../../src/backend/blas';

/** Every numerical test runs on the embedded default backend, as CI and new users do. */
export async function useTestBackend(): Promise<void> {
  await initBackend('wasm');
}

/**
 * `f` evaluated on the stock wasm kernels (the OpenBLAS products and the native kernels switched
 * off), then switched back on: the reference the native kernels are compared with.
 */
export function onStockWasm<T>(f: () => T): T {
  disableBlasMatMul();
  try {
    return f();
  } finally {
    enableBlasMatMul();
  }
}
