/**
 * Structured logging. Fields never carry message bodies or full phone numbers unless the
 * application asks for them.
 */
export interface Logger {
  /** Detail for debugging (claims, deferrals). */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Normal operation (a campaign started, a worker stopped). */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something went wrong and was handled (a circuit opened, a campaign failed). */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something went wrong and was not handled (a round of a worker threw). */
  error(message: string, fields?: Record<string, unknown>): void;
}
