/**
 * Backend names, in a module of their own so the CLI can list them without loading tfjs.
 */
export type BackendName = 'wasm' | 'tensorflow' | 'cpu' | 'webgpu';
export const BACKENDS: readonly BackendName[] = ['wasm', 'tensorflow', 'cpu', 'webgpu'];
/** What --backend / ARES_BACKEND / initEngine accept: a backend, or `auto` (webgpu on a hardware GPU, else wasm). */
export type BackendRequest = BackendName | 'auto';
export const BACKEND_REQUESTS: readonly BackendRequest[] = [...BACKENDS, 'auto'];
