// The producer: what your API process does when someone presses "send". It creates the
// campaign and starts it for an audience; the engine enrolls the contacts in PostgreSQL (one
// transaction per page of `batchSize`) and enqueues one BullMQ wake-up per due send. It sends
// nothing itself and needs no worker: the fleet picks the jobs up.
//
//   node src/producer.mjs --contacts 300        (same environment as the workers)
import { parseArgs } from 'node:util';
import { FLASH_SALE_PLAN, demoContacts, openFleet, readSettings } from './settings.mjs';

const { values } = parseArgs({ options: { contacts: { type: 'string', default: '300' } } });
const contacts = Number(values.contacts);
if (!Number.isInteger(contacts) || contacts < 1) {
  console.error(`--contacts must be a positive integer, got "${values.contacts}"`);
  process.exit(2);
}

const settings = readSettings();
const fleet = await openFleet(settings);
try {
  const campaign = await fleet.engine.createCampaign(null, settings.tenant, { plan: FLASH_SALE_PLAN, batchSize: 1_000 });
  // An array here; in production a ContactSource that pages through your segment.
  await fleet.engine.startCampaign(null, settings.tenant, campaign.id, { audience: demoContacts(contacts) });
  const campaignId = campaign.id;
  console.log(`[producer] campaign ${campaignId} started for ${contacts} contacts`);
  process.send?.({ type: 'started', campaignId });
} finally {
  await fleet.close();
}
