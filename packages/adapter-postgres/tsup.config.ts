import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  esbuildPlugins: [
    {
      // `import sql from '../migrations/x.sql?raw'` (vite's syntax, used by the tests) is
      // inlined as a string: the SQL files in migrations/ are the source and also ship as
      // files, and the bundle reads nothing from disk at run time (PGlite in a browser works).
      name: 'raw-sql',
      setup(build) {
        build.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')), namespace: 'raw-sql' }));
        build.onLoad({ filter: /.*/, namespace: 'raw-sql' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
      },
    },
  ],
});
