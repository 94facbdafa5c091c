/**
 * `policy/`: retry with backoff and jitter, sliding-window rate limits (single and nested with
 * fair shares), circuit breaker, batching, compliance presets and frequency caps. Pure: time is
 * passed in as epoch ms and randomness as a number in [0, 1) from the caller's seeded source.
 *
 * @packageDocumentation
 */
export {
  compileRetryPolicy,
  retryDecision,
  backoffDelay,
  DEFAULT_MAX_ATTEMPTS,
  type RetryPolicy,
  type RetryPolicyInput,
  type RetryDecision,
  type RetryDecisionInput,
  type RetryErrorKind,
} from './retry-policy.js';
export {
  SlidingWindowLimiter,
  createRateLimiter,
  compileRateLimit,
  type RateLimit,
  type RateLimitInput,
  type AcquireResult,
  type LimiterPeek,
} from './rate-limiter.js';
export {
  LimiterTree,
  createLimiterTree,
  type LimiterTreeConfig,
  type LimiterKeys,
  type LimiterLevel,
  type TreeAcquireResult,
  type LimiterTreePeek,
  type FairSharePeek,
  type LimiterTreeStats,
} from './limiter-tree.js';
export {
  CircuitBreaker,
  createCircuitBreaker,
  type CircuitBreakerInput,
  type CircuitBreakerSnapshot,
  type CircuitState,
} from './circuit-breaker.js';
export { chunk, batches } from './batching.js';
export {
  COMPLIANCE_PRESETS,
  resolveCompliance,
  type CompliancePreset,
  type CompliancePresetName,
  type FrequencyCap,
  type ResolvedCompliance,
} from './compliance.js';
export { frequencyCapDecision, type FrequencyCapInput, type FrequencyCapDecision } from './frequency-cap.js';
