#!/usr/bin/env node
// The installed package ships only the compiled dist/ (no src/, no TypeScript runtime), so it runs
// dist/cli/main.js. A source checkout has src/ and tsx (a devDependency): there it runs the
// TypeScript sources directly, so `node bin/ares.js` (and every test that spawns it) always runs the
// current code, never a dist/ left over from an earlier build.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);

function hasTsx() {
  try {
    createRequire(import.meta.url).resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

let entry = built;
if (existsSync(source) && hasTsx()) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = source;
} else if (!existsSync(built)) {
  process.stderr.write('ares: dist/cli/main.js is missing; run `npm run build` in the ares-ood folder\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
