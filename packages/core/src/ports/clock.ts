/** The one authority for "now". Core never reads the system clock; runtimes pass a Clock in. */
export interface Clock {
  /** The current time in epoch milliseconds. */
  now(): number;
}
