/** The campaign status machine: which operation may move a campaign from which status. */
import { DriplineError } from '../errors.js';
import type { CampaignStatus } from '../ports/campaign-store.js';

/** A lifecycle operation. */
export type CampaignOperation = 'schedule' | 'start' | 'pause' | 'resume' | 'stop' | 'cancel' | 'complete' | 'fail';

/** For each operation: the statuses it may start from and the status it leads to. */
export const CAMPAIGN_TRANSITIONS: Readonly<Record<CampaignOperation, { from: readonly CampaignStatus[]; to: CampaignStatus }>> = {
  schedule: { from: ['draft', 'scheduled'], to: 'scheduled' },
  start: { from: ['draft', 'scheduled'], to: 'active' },
  pause: { from: ['active'], to: 'paused' },
  resume: { from: ['paused'], to: 'active' },
  stop: { from: ['scheduled', 'active', 'paused'], to: 'stopped' },
  cancel: { from: ['draft', 'scheduled', 'active', 'paused'], to: 'canceled' },
  complete: { from: ['active'], to: 'completed' },
  fail: { from: ['active', 'paused'], to: 'failed' },
};

/** Throws `ILLEGAL_STATE`, naming the current status, if `operation` is not allowed from `status`. */
export function assertTransition(campaignId: string, status: CampaignStatus, operation: CampaignOperation): CampaignStatus {
  const t = CAMPAIGN_TRANSITIONS[operation];
  if (!t.from.includes(status))
    throw new DriplineError(
      'ILLEGAL_STATE',
      `cannot ${operation} campaign "${campaignId}": it is ${status} (${operation} needs ${t.from.join(' or ')})`,
      { details: { campaignId, status, operation, allowedFrom: [...t.from] } },
    );
  return t.to;
}
