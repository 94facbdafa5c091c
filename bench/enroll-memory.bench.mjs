// Enrols N contacts (default 1,000,000) into one campaign on the in-memory store, streaming
// them from a ContactSource in pages, and reports the process's peak RSS. Judged by: peak RSS
// under 500 MB (issue: the engine). Run: npx pnpm@10 bench:memory
import { createEngine, createFakeTransport, createMemoryStore, createVirtualClock } from '@dripline/core';

const N = Number(process.env.N ?? 1_000_000);
const TARGET_MB = 500;
const plan = {
  version: '1.0',
  name: 'Blast',
  timezone: 'UTC',
  startNodeId: 'sms',
  nodes: [{ id: 'sms', action: 'send', channel: 'sms', body: 'Hi {{name}}', transitions: [] }],
};
const zones = ['America/Los_Angeles', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney'];

/** Pages of generated contacts: nothing but the current page is ever in memory here. */
const source = {
  async *pages({ pageSize }) {
    for (let i = 0; i < N; i += pageSize) {
      const page = [];
      for (let j = i; j < Math.min(N, i + pageSize); j++)
        page.push({ id: `c${j}`, timezone: zones[j % zones.length], attributes: { name: `Person ${j}` }, address: { phone: `+1555${String(j).padStart(7, '0')}` } });
      yield page;
    }
  },
};

const clock = createVirtualClock('2026-03-02T17:00:00Z');
const store = createMemoryStore();
const engine = createEngine({ store, transports: createFakeTransport(), clock });
await engine.createCampaign(null, 'bench', { id: 'big', plan, batchSize: 5000 });
await engine.startCampaign(null, 'bench', 'big');

const t0 = performance.now();
let lastReport = 0;
const { enrolled } = await engine.enroll(null, 'bench', 'big', source, {
  onProgress: ({ enrolled }) => {
    if (enrolled - lastReport >= 100_000 || enrolled === N) {
      lastReport = enrolled;
      process.stderr.write(`  enrolled ${enrolled.toLocaleString('en-US')} / ${N.toLocaleString('en-US')}  rss ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MB\n`);
    }
  },
});
const seconds = (performance.now() - t0) / 1000;
const peakMb = process.resourceUsage().maxRSS / 1024;
const status = await engine.getCampaignStatus(null, 'bench', 'big');
if (enrolled !== N || status.waitingJobs !== N) throw new Error(`expected ${N} enrolments and pending sends, got ${enrolled} / ${status.waitingJobs}`);
console.log(`enrolled ${enrolled.toLocaleString('en-US')} contacts in ${seconds.toFixed(1)} s (${Math.round(enrolled / seconds).toLocaleString('en-US')}/s); peak RSS ${peakMb.toFixed(0)} MB (target: under ${TARGET_MB} MB)`);
console.log(`RESULT ${JSON.stringify({ bench: 'enroll.memory', value: Math.round(peakMb), unit: 'MB peak RSS', contacts: N, target: TARGET_MB, pass: peakMb < TARGET_MB })}`);
