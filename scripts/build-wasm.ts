// Assembles services/core/backend/wasm-simd/loops.wat into loops-wasm.ts (the module's bytes as
// base64), so that the product needs no assembler at run time. Run after editing the .wat:
//   npx tsx scripts/build-wasm.ts          writes loops-wasm.ts
//   npx tsx scripts/build-wasm.ts --check  exits 1 when loops-wasm.ts is stale
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assembleLoops, LOOPS_TS, renderLoopsModule } from '../services/core/backend/wasm-simd/assemble.ts';

const target = fileURLToPath(new URL(`../${LOOPS_TS}`, import.meta.url));
const text = renderLoopsModule(await assembleLoops());
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== text) {
    process.stderr.write(`${LOOPS_TS} is stale: run npx tsx scripts/build-wasm.ts\n`);
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  process.stderr.write(`wrote ${LOOPS_TS}\n`);
}
