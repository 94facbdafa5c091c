// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core):
// a campaign limited to 3 messages a second runs while the page is open; the progress the
// page shows is read twice and must have grown; the plan is drawn; the page's controls work.
// A screenshot is saved to test-output/dashboard.png.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN, admin, contacts, start, statusOf, until, waitForStatus, type Server } from './helpers.js';

const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const AUDIENCE = 45;
const RATE = 3;

const plan = {
  version: '1.0',
  name: 'VIP launch',
  timezone: 'UTC',
  startNodeId: 'tier',
  variables: ['name'],
  nodes: [
    { id: 'tier', action: 'branch', cases: [{ if: { attr: 'tier', eq: 'vip' }, to: 'vip_sms' }], else: 'sms' },
    { id: 'vip_sms', name: 'VIP early access', action: 'send', channel: 'sms', body: '{{name}}, your early access is open.', transitions: [] },
    { id: 'sms', name: 'Launch news', action: 'send', channel: 'sms', body: '{{name}}, we launched today.', transitions: [] },
  ],
};

let server: Server;
let browser: Browser;
let campaignId: string;

beforeAll(async () => {
  server = await start({ ratePerSecond: RATE });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const audience = contacts(AUDIENCE, 'dash').map((c, i) => ({ ...c, attributes: { ...c.attributes, tier: i % 5 === 0 ? 'vip' : 'standard' } }));
  const created = await admin(server, 'POST', '/api/campaigns', { plan, contacts: audience, name: 'VIP launch' });
  expect(created.status).toBe(201);
  campaignId = created.json.campaign.id;
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The progress the page shows for the campaign: what a person reads, and its data attributes (read at once: the table is redrawn every second). */
async function shownProgress(page: Page) {
  return page.evaluate((id) => {
    const cell = document.querySelector(`tr[data-campaign-id="${id}"] .progress-text`);
    return { text: cell?.textContent ?? '', processed: Number(cell?.getAttribute('data-processed')), total: Number(cell?.getAttribute('data-total')) };
  }, campaignId);
}

describe('dashboard', () => {
  it('asks for a token, refuses a bad one, accepts a good one', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(server.url + '/');
      await page.locator('#login-form').waitFor({ state: 'visible' });
      await page.fill('#token-input', 'wrong-token');
      await page.click('#login-form button[type=submit]');
      await expect.poll(() => page.textContent('#login-error'), { timeout: 10_000 }).toBe('That token is not valid.');
      await page.fill('#token-input', ADMIN);
      await page.click('#login-form button[type=submit]');
      await page.locator('#main').waitFor({ state: 'visible', timeout: 10_000 });
      await expect.poll(() => page.textContent('#whoami'), { timeout: 10_000 }).toContain('admin · tenant acme');
    } finally {
      await page.close();
    }
  });

  it('shows a running campaign\'s progress growing, its plan, and works its controls', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    try {
      await page.goto(`${server.url}/?token=${ADMIN}&campaign=${campaignId}`);
      // The token moved to sessionStorage and left the address bar.
      await page.locator('#main').waitFor({ state: 'visible', timeout: 15_000 });
      expect(page.url()).not.toContain('token=');
      await page.locator(`tr[data-campaign-id="${campaignId}"]`).waitFor({ timeout: 15_000 });
      expect(await shownProgress(page)).toMatchObject({ text: `not started · audience ${AUDIENCE}` });

      // Start it from the page.
      await page.locator('.controls button[data-action="start"]:not([disabled])').click({ timeout: 15_000 });
      await until(async () => (await statusOf(server, campaignId)).status === 'active', 'the campaign to be active', 15_000);

      // First reading: some sent, not all.
      const first = await until(
        async () => {
          const p = await shownProgress(page);
          return p.processed >= 2 && p.processed < AUDIENCE && p;
        },
        'the page to show the first messages',
        30_000,
        100,
      );
      expect(first.total).toBe(AUDIENCE);
      expect(first.text).toMatch(new RegExp(`^${first.processed} / ${AUDIENCE} \\(\\d+(\\.\\d+)?%\\)$`));
      // Second reading, later: more.
      const second = await until(
        async () => {
          const p = await shownProgress(page);
          return p.processed > first.processed && p;
        },
        'the page to show more progress',
        30_000,
        200,
      );
      expect(second.processed).toBeGreaterThan(first.processed);
      expect(second.processed).toBeLessThanOrEqual((await statusOf(server, campaignId)).progress.processed);

      // The plan is drawn: three nodes, the branch's two edges.
      const svg = page.locator('#plan-graph svg.plan-graph');
      await svg.waitFor({ timeout: 15_000 });
      expect(await svg.locator('.plan-node').count()).toBe(3);
      expect(await svg.locator('.plan-node[data-node-id="tier"]').getAttribute('data-action')).toBe('branch');
      expect(await svg.textContent()).toContain('tier = "vip"');

      // System cards, send rate and circuit state.
      await expect.poll(async () => Number((await page.textContent('#sys-sent'))?.replace(/,/g, '')), { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await page.textContent('#sys-circuit')).toBe('closed');
      await expect.poll(async () => Number(await page.textContent('#sys-rate')), { timeout: 10_000 }).toBeGreaterThan(0);

      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: `${OUTPUT}dashboard.png`, fullPage: true });

      // Pause and resume from the page; the API agrees.
      await page.locator('.controls button[data-action="queue-pause"]:not([disabled])').click({ timeout: 10_000 });
      await until(async () => (await statusOf(server, campaignId)).status === 'paused', 'paused', 10_000);
      await expect.poll(() => page.getAttribute(`tr[data-campaign-id="${campaignId}"]`, 'data-status'), { timeout: 10_000 }).toBe('paused');
      await page.locator('.controls button[data-action="queue-resume"]:not([disabled])').click({ timeout: 10_000 });
      await waitForStatus(server, campaignId, 'completed', 45_000);
      await expect.poll(async () => (await shownProgress(page)).text, { timeout: 10_000 }).toBe(`${AUDIENCE} / ${AUDIENCE} (100%)`);

      const vip = server.twilioFake!.messages().filter((m) => m.body.endsWith('your early access is open.'));
      expect(vip).toHaveLength(AUDIENCE / 5);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
