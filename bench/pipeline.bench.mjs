// The engine's pipeline (`engine.processDue`) on the memory store: time per action as the
// worker's round (`limit`, the worker's batchSize) grows. Each turn of the pipeline carries the
// previous chunk's rows to the next; the cost of a turn must not grow with the turns before it
// in the round, so the time per action should be flat from rounds of 100 to rounds of 10,000.
//
//   node pipeline.bench.mjs        (from bench/, after building @dripline/core)
//
// Env: N (one-SMS enrollments per measurement, default 20000).
// Prints a human line per round size and a RESULT line with the ratio of the largest round's
// time per action to the smallest's (goal ≤ 1.25).
//
// Then the memory store's claim with a fair share (`claimDueActions` with perCampaignLimit, as
// a worker with `batchTransactions: false` claims): the time per claim over a one-campaign
// backlog of 10,000 and of 100,000 due actions. A claim takes each campaign's earliest actions
// up to its share and must not walk the rest of that campaign's backlog: goal ≤ 2× from the
// small backlog to the large one.
import { createEngine, createMemoryStore } from '@dripline/core';

const N = Number(process.env.N ?? 20_000);
const ROUNDS = [100, 1_000, 10_000];
const plan = { version: '1.0', name: 'Pipeline', timezone: 'UTC', startNodeId: 'sms', nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', transitions: [] }] };

async function measure(round) {
  const store = createMemoryStore();
  let n = 0;
  const transport = { name: 'noop', channels: ['sms', 'email', 'whatsapp'], send: async () => ({ providerMessageId: `noop-${++n}` }) };
  const engine = createEngine({ store, transports: transport, rateLimits: {} });
  await engine.createCampaign(null, 't', { id: 'c', plan, batchSize: 5_000 });
  await engine.startCampaign(null, 't', 'c', { audience: Array.from({ length: N }, (_, i) => ({ id: `p${i}`, attributes: { name: `P${i}` }, address: { phone: `+1555${String(i).padStart(7, '0')}` } })) });
  const t = process.hrtime.bigint();
  let done = 0;
  for (;;) {
    const claimed = await engine.processDue('t', 'w', { chunkSize: 10, limit: round });
    done += claimed;
    if (claimed < round) break;
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (done !== N || n !== N) throw new Error(`expected ${N} sends, claimed ${done}, sent ${n}`);
  return ms;
}

await measure(1_000); // warm-up
const perAction = {};
for (const round of ROUNDS) {
  const ms = await measure(round);
  perAction[round] = (ms * 1000) / N;
  console.log(`round ${String(round).padStart(6)}: ${N} actions in ${Math.round(ms)} ms, ${perAction[round].toFixed(1)} µs per action`);
}
const ratio = perAction[ROUNDS.at(-1)] / perAction[ROUNDS[0]];
const claimMs = {};
for (const backlog of [10_000, 100_000]) {
  const store = createMemoryStore();
  const engine = createEngine({ store, transports: { name: 'noop', channels: ['sms'], send: async () => ({ providerMessageId: 'x' }) }, rateLimits: {} });
  await engine.createCampaign(null, 't', { id: 'c', plan, batchSize: 5_000 });
  await engine.startCampaign(null, 't', 'c', { audience: Array.from({ length: backlog }, (_, i) => ({ id: `p${i}`, address: { phone: `+1555${String(i).padStart(7, '0')}` } })) });
  const now = Date.now() + 1_000;
  const claims = 40;
  const t = process.hrtime.bigint();
  for (let i = 0; i < claims; i++) {
    const got = await store.transaction('t', (tx) => tx.claimDueActions({ now, limit: 100, owner: 'w', leaseMs: 60_000, perCampaignLimit: 25 }));
    if (got.length !== 25) throw new Error(`claim ${i} took ${got.length}, expected the share of 25`);
  }
  claimMs[backlog] = Number(process.hrtime.bigint() - t) / 1e6 / claims;
  console.log(`claim with a share of 25 over a backlog of ${backlog}: ${claimMs[backlog].toFixed(3)} ms per claim`);
}
const claimRatio = claimMs[100_000] / claimMs[10_000];
console.log(`backlog 100,000 vs 10,000: ${claimRatio.toFixed(2)}× the time per claim (goal ≤ 2: ${claimRatio <= 2 ? 'PASS' : 'MISS'})`);
console.log(`rounds of ${ROUNDS.at(-1)} vs ${ROUNDS[0]}: ${ratio.toFixed(2)}× the time per action (goal ≤ 1.25: ${ratio <= 1.25 ? 'PASS' : 'MISS'})`);
console.log(`RESULT ${JSON.stringify({ bench: 'core.pipelineRound', value: +ratio.toFixed(2), unit: 'ratio', target: 1.25, pass: ratio <= 1.25, perActionUs: perAction })}`);
console.log(`RESULT ${JSON.stringify({ bench: 'memory.claimShare', value: +claimRatio.toFixed(2), unit: 'ratio', target: 2, pass: claimRatio <= 2, msPerClaim: claimMs })}`);
