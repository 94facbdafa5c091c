// Smoke benchmark of computeSendTime: 1,000,000 calls over 20 zones, delays PT1H / P1D, `at` on
// half of them, quiet hours 21:00–07:30, `from` spread over one week.
// Usage: node bench/schedule-smoke.mjs   (bundles packages/core/src/schedule with esbuild first)
// Prints one machine-readable line: {"bench":"schedule-smoke","callsPerSecond":...}
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'dripline-schedule-'));
const out = join(dir, 'schedule.mjs');
execFileSync(
  join(root, 'node_modules/.bin/esbuild'),
  [join(root, 'packages/core/src/schedule/index.ts'), '--bundle', '--format=esm', '--platform=node', `--outfile=${out}`, '--log-level=warning'],
  { cwd: join(root, 'packages/core'), stdio: 'inherit' },
);
const { computeSendTime } = await import(pathToFileURL(out).href);
rmSync(dir, { recursive: true, force: true });

const ZONES = [
  'America/Los_Angeles', 'America/New_York', 'America/Chicago', 'America/Denver', 'America/Sao_Paulo',
  'America/St_Johns', 'Europe/London', 'Europe/Berlin', 'Europe/Madrid', 'Africa/Casablanca',
  'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Tokyo', 'Asia/Singapore', 'Australia/Sydney',
  'Australia/Lord_Howe', 'Pacific/Auckland', 'Pacific/Chatham', 'America/Mexico_City', 'UTC',
];
const N = 1_000_000;
const WEEK = 7 * 86_400_000;
const start = Date.UTC(2026, 2, 2); // a week that contains the US spring-forward (2026-03-08)
const quietHours = { start: '21:00', end: '07:30' };

// Inputs built up front so the loop measures computeSendTime only.
const inputs = new Array(4096);
for (let i = 0; i < inputs.length; i++) {
  const from = start + Math.floor(((i * 2654435761) % 4096) / 4096 * WEEK);
  const input = { from, delay: i % 2 === 0 ? 'PT1H' : 'P1D', zone: ZONES[i % ZONES.length], quietHours };
  if (i % 4 < 2) input.at = '10:00';
  inputs[i] = input;
}

let sink = 0;
function run(n) {
  for (let i = 0; i < n; i++) sink += computeSendTime(inputs[i & 4095]) & 1;
}
run(200_000); // warm-up: fills the offset caches, lets the JIT optimise
const results = [];
for (let round = 0; round < 5; round++) {
  const t0 = process.hrtime.bigint();
  run(N);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  results.push(N / seconds);
}
results.sort((a, b) => a - b);
const median = results[2];
console.log(JSON.stringify({ bench: 'schedule-smoke', calls: N, callsPerSecond: Math.round(median), best: Math.round(results[4]), sink }));
