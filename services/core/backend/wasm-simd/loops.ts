// gantry's SIMD loops (loops.wat), instantiated on the memory of a tfjs wasm backend so that they
// work on tensors in place. Null where that memory is not reachable (a tfjs build that does not
// export it) or the engine lacks wasm SIMD: callers then use their JavaScript loop.
import type { WasmBackend } from '../wasm-backend.ts';
import { LOOPS_WASM_BASE64 } from './loops-wasm.ts';

export interface SimdLoops {
  /** See loops.wat; pointers are byte offsets into the backend's heap. */
  adam(n: number, p: number, m: number, v: number, g: number, po: number, mo: number, vo: number,
    b1: number, c1: number, b2: number, c2: number, alpha: number, eps: number): void;
}

let enabled = true;
let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdLoops>();

function compile(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(LOOPS_WASM_BASE64, 'base64'));
    } catch {
      compiled = null; // no wasm SIMD in this engine
    }
  }
  return compiled;
}

function memoryOf(backend: WasmBackend): WebAssembly.Memory | null {
  const memory = (backend.wasm as { asm?: { memory?: unknown } }).asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/** The loops bound to this backend's heap, or null (see above). */
export function simdLoops(backend: WasmBackend): SimdLoops | null {
  if (!enabled) return null;
  const memory = memoryOf(backend);
  if (memory == null) return null;
  let loops = instances.get(memory);
  if (loops == null) {
    const module = compile();
    if (module == null) return null;
    loops = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdLoops;
    instances.set(memory, loops);
  }
  return loops;
}

/** Switches the SIMD loops off (false) and on again, so tests can compare them with the JavaScript loops. */
export function useSimdLoops(on: boolean): void {
  enabled = on;
}
