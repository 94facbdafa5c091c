import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };
const define = { __DRIPLINE_CLI_VERSION__: JSON.stringify(version) };

export default defineConfig([
  {
    // The library: ESM + CJS + types.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // Both builds run at once: clean everything but the binary's files, which the other writes.
    clean: ['!bin.js', '!bin.js.map'],
    target: 'node20',
    define,
  },
  {
    // The binary: ESM only, a thin wrapper that imports the library's built ESM file.
    entry: { bin: 'src/bin.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    external: ['./index.js'],
    define,
  },
]);
