/**
 * Every error dripline throws on purpose is a {@link DriplineError} with a `code` from the
 * closed union {@link DriplineErrorCode}. Check it with {@link isDriplineError}, which looks at
 * the code rather than `instanceof`, so it also works across duplicated package copies.
 */

/** The closed set of error codes dripline uses. */
export type DriplineErrorCode =
  /** A plan JSON failed validation; `details.issues` holds every issue. */
  | 'INVALID_PLAN'
  /** An ISO-8601 duration could not be parsed. */
  | 'INVALID_DURATION'
  /** A name is not an IANA time zone. */
  | 'INVALID_TIMEZONE'
  /** A local time is not `HH:mm`. */
  | 'INVALID_TIME'
  /** Quiet hours leave no instant at which a message may be sent. */
  | 'QUIET_HOURS_COVER_ALL'
  /** An input to the state machine does not fit the enrollment (wrong plan, unknown node). */
  | 'INVALID_INPUT'
  /** A campaign, enrollment or action was not found. */
  | 'NOT_FOUND'
  /** An operation is not allowed in the object's current status. */
  | 'ILLEGAL_STATE'
  /** A write lost an optimistic-concurrency or lease race. */
  | 'CONFLICT'
  /** A clock was asked to go backwards. */
  | 'CLOCK_BACKWARDS'
  /** A transport failed to send; see `retryable` and `details.kind`. */
  | 'TRANSPORT_ERROR'
  /** The authorizer refused an operation. */
  | 'FORBIDDEN';

/** Options of {@link DriplineError}. */
export interface DriplineErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** Whether trying the same operation again may succeed. Defaults to `false`. */
  retryable?: boolean;
  /** Structured, JSON-safe details (the bad value, its path, the current status...). */
  details?: Record<string, unknown>;
}

/** The base class of every error dripline throws on purpose. */
export class DriplineError extends Error {
  override readonly name = 'DriplineError';
  /** What went wrong, from a closed set. */
  readonly code: DriplineErrorCode;
  /** Whether trying again may succeed. */
  readonly retryable: boolean;
  /** Structured details for programs (the message is for people). */
  readonly details: Record<string, unknown>;

  constructor(code: DriplineErrorCode, message: string, options: DriplineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

const CODES: ReadonlySet<string> = new Set<DriplineErrorCode>([
  'INVALID_PLAN', 'INVALID_DURATION', 'INVALID_TIMEZONE', 'INVALID_TIME', 'QUIET_HOURS_COVER_ALL',
  'INVALID_INPUT', 'NOT_FOUND', 'ILLEGAL_STATE', 'CONFLICT', 'CLOCK_BACKWARDS', 'TRANSPORT_ERROR',
  'FORBIDDEN',
]);

/**
 * Whether `e` is a dripline error, optionally of one code. Checks the shape and the code, not
 * the prototype chain.
 *
 * @example
 * ```ts
 * try { parseDuration('P1X'); } catch (e) { if (isDriplineError(e, 'INVALID_DURATION')) console.log(e.message); }
 * ```
 */
export function isDriplineError(e: unknown, code?: DriplineErrorCode): e is DriplineError {
  if (typeof e !== 'object' || e === null) return false;
  const c = (e as { code?: unknown }).code;
  if (typeof c !== 'string' || !CODES.has(c)) return false;
  return code === undefined || c === code;
}

/**
 * Builds the classified error a {@link Transport} throws.
 *
 * @example
 * ```ts
 * throw transportError('permanent', 'invalid number +1555', { providerCode: '21211' });
 * ```
 */
export function transportError(
  kind: 'retryable' | 'ambiguous' | 'permanent',
  message: string,
  details: { providerCode?: string; status?: number; retryAfterMs?: number; suppress?: boolean; haltSender?: boolean } = {},
  cause?: unknown,
): DriplineError {
  return new DriplineError('TRANSPORT_ERROR', message, { retryable: kind === 'retryable', details: { kind, ...details }, cause });
}
