declare const __DRIPLINE_CLI_VERSION__: string | undefined;

/** The version of `@dripline/cli` (what `dripline --version` prints). */
export const version: string = typeof __DRIPLINE_CLI_VERSION__ === 'string' ? __DRIPLINE_CLI_VERSION__ : '0.0.0-dev';
