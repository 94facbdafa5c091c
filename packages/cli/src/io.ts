/** Where the CLI writes: the process's streams, or a test's buffers. */

/** A stream the CLI writes text to: `process.stdout`, or anything with `write`. */
export interface OutputStream {
  /** Writes a chunk of text. */
  write(chunk: string): unknown;
  /** Whether the stream is a terminal (progress bars redraw in place only then). */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

/** The streams and working directory {@link runCli} uses. */
export interface CliIo {
  /** Results: reports, graphs, timelines, the schema. */
  stdout: OutputStream;
  /** Diagnostics: error messages, progress. */
  stderr: OutputStream;
  /** The directory relative file names are resolved from. */
  cwd: string;
}
