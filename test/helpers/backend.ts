import { initBackend } from '../../src/backend/backend';

/** Every numerical test runs on the embedded default backend, as CI and new users do. */
export async function useTestBackend(): Promise<void> {
  await initBackend('wasm');
}
