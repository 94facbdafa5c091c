/**
 * The CLI's own failures (a file that cannot be read, JSON that does not parse, a bad option,
 * a malformed events file) are {@link CliError}s. Core's `DriplineError` has a closed set of
 * codes about plans and campaigns; reading files and parsing flags are not among them, so
 * the CLI keeps its own small closed set, each with the exit code it ends the process with.
 */

/** Process exit codes of the `dripline` binary and of {@link runCli}. */
export const ExitCode = {
  /** Everything checked out. */
  Ok: 0,
  /** The plan has errors (or warnings under `lint --strict`). */
  Invalid: 1,
  /** Usage or I/O error: a bad option, a missing or unreadable file, a file that is not JSON. */
  Usage: 2,
} as const;

/** One of the values of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The closed set of {@link CliError} codes. */
export type CliErrorCode =
  /** A file named on the command line does not exist. */
  | 'FILE_NOT_FOUND'
  /** A file exists but cannot be read (a directory, no permission...), or an output file cannot be written. */
  | 'FILE_UNREADABLE'
  /** A file is not valid JSON; `details` holds `line` and `column` when they are known. */
  | 'INVALID_JSON'
  /** An events file has bad entries; `details.issues` lists each with its path. */
  | 'INVALID_EVENTS'
  /** An option value is not acceptable (a time that is not ISO-8601, an unknown zone...). */
  | 'INVALID_OPTION'
  /** A plan failed validation where a valid plan was required (`graph`, `simulate`). */
  | 'INVALID_PLAN';

/** Options of {@link CliError}. */
export interface CliErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** Structured details (file, line, column, issues...). */
  details?: Record<string, unknown>;
}

/** An error the CLI reports and ends with; {@link CliError.exitCode} is the process exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  /** What went wrong, from a closed set. */
  readonly code: CliErrorCode;
  /** Structured details for programs (the message is for people). */
  readonly details: Record<string, unknown>;

  constructor(code: CliErrorCode, message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** {@link ExitCode.Invalid} for `INVALID_PLAN`, {@link ExitCode.Usage} for everything else. */
  get exitCode(): ExitCodeValue {
    return this.code === 'INVALID_PLAN' ? ExitCode.Invalid : ExitCode.Usage;
  }
}

/** Whether `e` is a {@link CliError}, optionally of one code (checks the name and code, not `instanceof`). */
export function isCliError(e: unknown, code?: CliErrorCode): e is CliError {
  if (typeof e !== 'object' || e === null) return false;
  const err = e as { name?: unknown; code?: unknown };
  return err.name === 'CliError' && typeof err.code === 'string' && (code === undefined || err.code === code);
}
