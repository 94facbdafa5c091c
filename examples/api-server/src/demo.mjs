// Demo audiences and a demo plan. Generated contacts are derived from their index only
// (no Math.random), so the same request always enrolls the same people.
import { hash32 } from '@dripline/core';

const ZONES = ['America/Los_Angeles', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney', 'America/Sao_Paulo'];
const NAMES = ['Ana', 'Ben', 'Chloe', 'Dev', 'Emma', 'Felipe', 'Grace', 'Hiro', 'Isla', 'Jonas', 'Kavya', 'Liam', 'Mia', 'Noah', 'Olga', 'Priya'];

/**
 * The `i`-th generated demo contact (0-based): `demo-00001`, a +1 555 01xx-style number
 * (reserved for fiction), an address at example.test, a zone and a first name.
 * @param {number} i
 * @returns {import('@dripline/core').AudienceContact}
 */
export function demoContact(i) {
  const h = hash32(`demo-contact:${i}`);
  const n = String(i + 1).padStart(5, '0');
  return {
    id: `demo-${n}`,
    timezone: ZONES[h % ZONES.length],
    attributes: { name: NAMES[(h >>> 8) % NAMES.length] },
    address: { phone: `+1555${String(i).padStart(7, '0')}`, email: `demo-${n}@example.test` },
  };
}

/**
 * A ContactSource over `count` generated contacts, produced page by page (nothing is held
 * in memory beyond one page).
 * @param {number} count
 * @returns {import('@dripline/core').ContactSource}
 */
export function demoContacts(count) {
  return {
    async *pages({ pageSize }) {
      for (let start = 0; start < count; start += pageSize) {
        const page = [];
        for (let i = start; i < Math.min(count, start + pageSize); i++) page.push(demoContact(i));
        yield page;
      }
    },
  };
}

/** A one-step SMS plan without quiet hours: sends at once, whatever the contacts' local time. */
export const DEMO_PLAN = Object.freeze({
  version: '1.0',
  name: 'Flash sale',
  timezone: 'UTC',
  startNodeId: 'announce',
  variables: ['name'],
  nodes: [{ id: 'announce', action: 'send', channel: 'sms', body: 'Hi {{name}}, 50% off today only.', transitions: [] }],
});
