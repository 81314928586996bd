// Turning loops.wat into the bytes loops-wasm.ts carries. Used by scripts/build-wasm.ts and by
// the test that keeps the two in step; wabt is a development dependency only.
import { readFile } from 'node:fs/promises';

export const LOOPS_WAT = 'services/core/backend/wasm-simd/loops.wat';
export const LOOPS_TS = 'services/core/backend/wasm-simd/loops-wasm.ts';

export async function assembleLoops(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const source = await readFile(new URL('./loops.wat', import.meta.url), 'utf8');
  const parsed = wabt.parseWat('loops.wat', source, { simd: true });
  try {
    parsed.validate();
    return parsed.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    parsed.destroy();
  }
}

export function renderLoopsModule(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = b64.match(/.{1,96}/g) ?? [];
  return [
    `// Generated from loops.wat by scripts/build-wasm.ts: do not edit (${bytes.length} bytes).`,
    'export const LOOPS_WASM_BASE64 =',
    lines.map((l) => `  '${l}'`).join(' +\n') + ';',
    '',
  ].join('\n');
}
