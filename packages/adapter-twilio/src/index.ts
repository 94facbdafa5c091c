/**
 * @dripline/adapter-twilio — not implemented yet; see README.md for what this package will hold.
 * @packageDocumentation
 */
export {};
