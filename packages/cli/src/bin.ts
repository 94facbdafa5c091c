/**
 * The `dripline` binary: runs {@link runCli} on the process's arguments and streams and
 * sets the exit code (rather than calling `process.exit`, so piped output is never cut short).
 */
import { runCli } from './index.js';

// `dripline simulate ... | head`: the reader went away; stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2));
