/**
 * `buildCampaigns`: what seeds 000 and 001 describe — fetch a site's segments, create (and
 * optionally start) one campaign per segment, each segment isolated from the others' failures,
 * each step retried with a timeout, an optional pause between segments, and a report in
 * seed 000's `BuildCampaignsResult` shape with seed 001's per-segment results.
 */
import { DriplineError } from '../errors.js';
import type { CampaignRecord } from '../ports/campaign-store.js';
import type { AudienceContact, ContactSource } from '../ports/contact-source.js';
import type { Engine } from './engine.js';
import type { Caller, CampaignInput } from './types.js';

/** An audience segment of a site. */
export interface Segment {
  id: string;
  name?: string;
  siteId?: string;
  [key: string]: unknown;
}

/** Options of {@link buildCampaigns} (seed 000's `BuildCampaignsOptions`, plus the parts dripline needs). */
export interface BuildCampaignsOptions {
  siteId: string;
  userId?: string;
  agentId?: string;
  /** Merged into every campaign's input (e.g. `{ batchSize: 500 }`). */
  additionalCampaignData?: Partial<Omit<CampaignInput, 'plan'>>;
  /** The site's segments, or how to fetch them. */
  segments: readonly Segment[] | ((siteId: string) => Promise<readonly Segment[]>);
  /** The plan for a segment. */
  planFor: (segment: Segment) => unknown | Promise<unknown>;
  /** The segment's members; when given, the campaign is started and they are enrolled. */
  audienceFor?: (segment: Segment) => ContactSource | readonly AudienceContact[] | undefined;
  /** Campaign id for a segment. Default `${siteId}:${segment.id}`. */
  campaignIdFor?: (segment: Segment) => string;
  /** Attempts per step (fetch segments, plan, create, start). Default 3. */
  maxAttempts?: number;
  /** Time limit of one attempt of one step, ms. Default 30 s. */
  stepTimeoutMs?: number;
  /** Pause between segments, ms (seed 001: 5 s). Default 0. */
  delayBetweenSegmentsMs?: number;
  /** Backoff between attempts, ms. Default 1000. */
  retryDelayMs?: number;
  /** How to wait (tests pass an instant one). Default a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Called as each segment finishes. */
  onSegment?: (result: SegmentResult) => void;
}

/** One segment's outcome (seed 001's `BuildSingleSegmentICPResult`, for campaigns). */
export interface SegmentResult {
  success: boolean;
  siteId: string;
  segmentId: string;
  segmentName?: string;
  campaign?: CampaignRecord;
  /** Contacts enrolled, when an audience was given. */
  enrolled?: number;
  /** The step that failed and why. */
  error?: string;
  attempts: Record<string, number>;
  executionTime: string;
  completedAt: string;
}

/** Seed 000's `BuildCampaignsResult`, with every campaign and the per-segment results. */
export interface BuildCampaignsResult {
  /** True when segments were fetched and at least one campaign was created (partial success counts), or there were no segments. */
  success: boolean;
  siteId: string;
  segmentsFound: number;
  campaignCreated: boolean;
  segments?: Segment[];
  /** The first campaign created (seed 000 reports one). */
  campaign?: CampaignRecord;
  campaigns: CampaignRecord[];
  results: SegmentResult[];
  errors: string[];
  executionTime: string;
  completedAt: string;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

async function withRetries<T>(
  what: string,
  fn: () => Promise<T>,
  o: { maxAttempts: number; timeoutMs: number; retryDelayMs: number; sleep: (ms: number) => Promise<void> },
  attempts: Record<string, number>,
): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
    attempts[what] = attempt;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DriplineError('ILLEGAL_STATE', `${what} timed out after ${o.timeoutMs} ms`, { retryable: true })), o.timeoutMs);
      });
      return await Promise.race([fn(), timeout]);
    } catch (e) {
      last = e;
      // Refusals that cannot change (an invalid plan, a permission) are not retried.
      const code = (e as { code?: string }).code;
      if (code === 'INVALID_PLAN' || code === 'FORBIDDEN' || code === 'INVALID_INPUT') break;
      if (attempt < o.maxAttempts) await o.sleep(o.retryDelayMs * 2 ** (attempt - 1));
    } finally {
      clearTimeout(timer);
    }
  }
  const message = last instanceof Error ? last.message : String(last);
  throw new Error(`${what} failed after ${attempts[what]} attempt(s): ${message}`, { cause: last });
}

/**
 * Creates one campaign per segment of a site. A failing segment is reported and skipped; the
 * others go on.
 *
 * @example
 * ```ts
 * const report = await buildCampaigns(engine, principal, 'acme', {
 *   siteId: 'site_456',
 *   segments: (siteId) => api.getSegments(siteId),
 *   planFor: (segment) => plans.onboarding,
 *   audienceFor: (segment) => segmentMembers(segment.id),
 *   delayBetweenSegmentsMs: 5000,
 * });
 * if (!report.success) console.error(report.errors);
 * ```
 */
export async function buildCampaigns(engine: Engine, caller: Caller, tenantId: string, options: BuildCampaignsOptions): Promise<BuildCampaignsResult> {
  const t0 = engine.clock.now();
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const retry = { maxAttempts: options.maxAttempts ?? 3, timeoutMs: options.stepTimeoutMs ?? 30_000, retryDelayMs: options.retryDelayMs ?? 1000, sleep };
  const errors: string[] = [];
  const results: SegmentResult[] = [];
  const campaigns: CampaignRecord[] = [];
  const done = (success: boolean, segments?: Segment[]): BuildCampaignsResult => ({
    success,
    siteId: options.siteId,
    segmentsFound: segments?.length ?? 0,
    campaignCreated: campaigns.length > 0,
    ...(segments ? { segments } : {}),
    ...(campaigns[0] ? { campaign: campaigns[0] } : {}),
    campaigns,
    results,
    errors,
    executionTime: seconds(engine.clock.now() - t0),
    completedAt: new Date(engine.clock.now()).toISOString(),
  });

  let segments: Segment[];
  try {
    const source = options.segments;
    segments = [...(typeof source === 'function' ? await withRetries('fetch segments', () => source(options.siteId), retry, {}) : source)];
  } catch (e) {
    errors.push(`Failed to fetch segments: ${e instanceof Error ? e.message : String(e)}`);
    return done(false);
  }

  for (const [i, segment] of segments.entries()) {
    if (i > 0 && options.delayBetweenSegmentsMs) await sleep(options.delayBetweenSegmentsMs);
    const s0 = engine.clock.now();
    const attempts: Record<string, number> = {};
    const base = { siteId: options.siteId, segmentId: segment.id, ...(segment.name === undefined ? {} : { segmentName: segment.name }), attempts };
    let result: SegmentResult;
    try {
      const plan = await withRetries('plan', async () => options.planFor(segment), retry, attempts);
      const id = options.campaignIdFor?.(segment) ?? `${options.siteId}:${segment.id}`;
      const input: CampaignInput = { name: segment.name ?? segment.id, ...options.additionalCampaignData, id, plan };
      // Creating is idempotent across retries: a campaign that exists from an earlier attempt is reused.
      const campaign = await withRetries(
        'create campaign',
        async () => {
          try {
            return await engine.createCampaign(caller, tenantId, input);
          } catch (e) {
            if ((e as { code?: string }).code === 'CONFLICT') return engine.getCampaign(caller, tenantId, id);
            throw e;
          }
        },
        retry,
        attempts,
      );
      let enrolled: number | undefined;
      const audience = options.audienceFor?.(segment);
      let current = campaign;
      if (audience) {
        current = await withRetries(
          'start campaign',
          async () => {
            const c = await engine.getCampaign(caller, tenantId, id);
            return c.status === 'draft' || c.status === 'scheduled' ? engine.startCampaign(caller, tenantId, id) : c;
          },
          retry,
          attempts,
        );
        enrolled = (await withRetries('enroll audience', () => engine.enroll(caller, tenantId, id, audience), retry, attempts)).enrolled;
      }
      campaigns.push(current);
      result = { success: true, ...base, campaign: current, ...(enrolled === undefined ? {} : { enrolled }), executionTime: seconds(engine.clock.now() - s0), completedAt: new Date(engine.clock.now()).toISOString() };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      errors.push(`segment ${segment.id}: ${error}`);
      result = { success: false, ...base, error, executionTime: seconds(engine.clock.now() - s0), completedAt: new Date(engine.clock.now()).toISOString() };
    }
    results.push(result);
    options.onSegment?.(result);
  }
  return done(segments.length === 0 || campaigns.length > 0, segments);
}
