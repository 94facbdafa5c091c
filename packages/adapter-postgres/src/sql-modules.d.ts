/** SQL files imported with `?raw` are inlined as strings (vite in tests, the esbuild plugin in tsup.config.ts). */
declare module '*.sql?raw' {
  const text: string;
  export default text;
}
