// The console in a real browser: Debian's chromium driven by playwright-core
// against a server started with `--demo` on a fresh database.
//
//   BASE_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=target/console-screenshots node tests/console/e2e.mjs
//
// One line per step; exit 0 when every step passed, 1 with the reason at the
// first failure. Every wait has a deadline; nothing sleeps for a fixed time.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? 'target/console-screenshots';
const WAIT = 10_000; // the longest any one condition may take
const LIVE = 5_000; // a live change must show within this (it normally takes well under a second)
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 800 };

mkdirSync(SCREENSHOT_DIR, { recursive: true });
const started = Date.now();
const stamp = started.toString(36);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const pages = [];

// ---- helpers -----------------------------------------------------------------------

class StepFailed extends Error {}

let stepNumber = 0;
async function step(name, body) {
  stepNumber += 1;
  const t0 = Date.now();
  try {
    await body();
  } catch (error) {
    console.log(`not ok ${stepNumber} - ${name}`);
    console.log(`  ${error instanceof StepFailed ? error.message : (error.stack ?? error).toString().split('\n').slice(0, 6).join('\n  ')}`);
    for (const [i, page] of pages.entries()) {
      await page.screenshot({ path: join(SCREENSHOT_DIR, `failure-${i}.png`) }).catch(() => {});
    }
    console.log(`  (screenshots of every open page: ${SCREENSHOT_DIR}/failure-N.png)`);
    await browser.close().catch(() => {});
    process.exit(1);
  }
  console.log(`ok ${stepNumber} - ${name} (${Date.now() - t0} ms)`);
}

/** With E2E_TRACE set, says how long each part of a step took. */
let traceFrom = Date.now();
function trace(what) {
  if (process.env.E2E_TRACE) console.log(`  … ${what} (+${Date.now() - traceFrom} ms)`);
  traceFrom = Date.now();
}

function fail(message) {
  throw new StepFailed(message);
}

/** Polls `probe` until `accept(value)` holds; fails with `what` and the last value at the deadline. */
async function until(what, probe, accept = Boolean, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (error) {
      last = `error: ${error.message}`;
    }
    if (Date.now() > deadline) fail(`${what}: not so within ${timeout} ms (last seen: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function api(method, path, token, body) {
  const response = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) fail(`${method} ${path} answered ${response.status}: ${text}`);
  return data;
}

const demoToken = async (userId, ttlSeconds) => (await api('POST', '/api/demo/login', null, ttlSeconds ? { user_id: userId, ttl_seconds: ttlSeconds } : { user_id: userId })).token;

async function newPage(context) {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`  page error: ${error.message}`));
  if (process.env.E2E_WS_LOG) {
    // Debugging aid: the control frames of every WebSocket (not the changes).
    const n = pages.length;
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => console.log(`  [page ${n}] >> ${String(f.payload).replace(/"token":"[^"]+"/, '"token":"…"')}`));
      ws.on('framereceived', (f) => { if (!String(f.payload).includes('"type":"event"')) console.log(`  [page ${n}] << ${f.payload}`); });
      ws.on('close', () => console.log(`  [page ${n}] closed`));
    });
  }
  pages.push(page);
  return page;
}

async function signInAs(context, userId) {
  const page = await newPage(context);
  await page.goto(BASE_URL);
  await page.getByTestId(`signin-as-${userId}`).click({ timeout: WAIT });
  await liveOn(page);
  return page;
}

const liveOn = (page, timeout = WAIT) => page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout });
const card = (page, id) => page.locator(`[data-testid="ticket-card"][data-ticket-id="${id}"]`);
const badge = (page) => page.getByTestId('unread-count').getAttribute('data-count').then(Number);
const activityKeys = (page) => page.getByTestId('activity-item').evaluateAll((items) => items.map((i) => `${i.dataset.ticketId}@${i.dataset.version}`));
const activityTotal = (page) => page.getByTestId('activity-total').textContent().then(Number);
const cardIds = (page) => page.getByTestId('ticket-card').evaluateAll((cards) => cards.map((c) => c.dataset.ticketId));

/** Closes the toasts (with their own close buttons) and moves the pointer away, for a clean screenshot. */
async function screenshot(page, name) {
  await page.evaluate(() => document.querySelectorAll('.toast-close').forEach((button) => button.click()));
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(SCREENSHOT_DIR, name) });
}

function noDuplicates(ids, what) {
  const seen = new Set();
  for (const id of ids) {
    if (seen.has(id)) fail(`${what}: ${id} shown twice`);
    seen.add(id);
  }
}

// ---- the steps -----------------------------------------------------------------------

const agentContext = await browser.newContext({ viewport: DESKTOP });
const customerContext = await browser.newContext({ viewport: DESKTOP });
let agent;
let customer;
let ticketId;
const title = `E2E printer smokes ${stamp}`;

await step('demo mode: banner and a "sign in as" list of the demo users with their roles', async () => {
  const page = await newPage(customerContext);
  await page.goto(BASE_URL);
  await page.getByTestId('demo-banner').waitFor({ timeout: WAIT });
  const users = await page.getByTestId('demo-users').locator('button').allTextContents();
  for (const [id, role] of [['alice', 'Agent'], ['bob', 'Agent'], ['dave', 'Customer'], ['ada', 'Admin'], ['ann', 'Analyst']]) {
    if (!(await page.getByTestId(`signin-as-${id}`).textContent()).includes(role)) fail(`the "sign in as" entry of ${id} does not say ${role}: ${users}`);
  }
  if (users.length !== 8) fail(`expected the 8 demo users, got ${users.length}`);
  await page.close();
  pages.splice(pages.indexOf(page), 1);
});

await step('an agent (alice) and a customer (dave) sign in through the list', async () => {
  agent = await signInAs(agentContext, 'alice');
  customer = await signInAs(customerContext, 'dave');
  await agent.getByTestId('board').waitFor({ timeout: WAIT });
  await customer.getByTestId('new-ticket-form').waitFor({ timeout: WAIT });
  if (!(await agent.getByTestId('demo-banner').isVisible())) fail('the demo banner is not shown when signed in');
});

await step('simulated activity switch fills the board live, then stops', async () => {
  await agent.getByTestId('simulate-rate').fill('600');
  await agent.getByTestId('simulate-switch').check();
  await until('simulation running', () => api('GET', '/api/demo/simulation'), (s) => s.running && s.per_minute === 600);
  await until('the board fills with simulated tickets', () => agent.getByTestId('ticket-card').count(), (n) => n >= 14, 30_000);
  await agent.getByTestId('simulate-switch').uncheck();
  await until('simulation stopped', () => api('GET', '/api/demo/simulation'), (s) => !s.running);
});

await step('the customer opens a ticket; the agent\'s board shows its card live, without a reload', async () => {
  await agent.evaluate(() => { window.e2eSamePage = true; });
  await customer.getByTestId('new-title').fill(title);
  await customer.getByTestId('new-description').fill('Smoke comes out of the printer on the second floor.');
  await customer.getByTestId('new-queue').selectOption('general');
  await customer.getByTestId('new-submit').click();
  const row = customer.locator('[data-testid="customer-ticket"]', { hasText: title });
  await row.waitFor({ timeout: WAIT });
  ticketId = await row.getAttribute('data-ticket-id');
  await card(agent, ticketId).waitFor({ timeout: LIVE });
  if (!(await agent.evaluate(() => window.e2eSamePage))) fail('the agent\'s page was reloaded');
  if ((await card(agent, ticketId).getAttribute('data-status')) !== 'open') fail('the new card is not in the open column');
  await agent.getByTestId('column-open').locator(`[data-ticket-id="${ticketId}"]`).waitFor({ timeout: WAIT });
});

await step('the agent drags the card to in_progress; the customer sees the new status live', async () => {
  // Grab the card by its corner, as a person would (its middle holds menus).
  await card(agent, ticketId).dragTo(agent.getByTestId('column-in_progress'), { sourcePosition: { x: 8, y: 8 } });
  await agent.getByTestId('column-in_progress').locator(`[data-testid="ticket-card"][data-ticket-id="${ticketId}"]`).waitFor({ timeout: LIVE });
  await customer.locator(`[data-testid="customer-ticket"][data-ticket-id="${ticketId}"][data-status="in_progress"]`).waitFor({ timeout: LIVE });
  await until('the customer\'s status label', () => customer.locator(`[data-ticket-id="${ticketId}"] [data-testid="customer-status"]`).textContent(), (t) => t.trim() === 'In progress');
});

await step('keyboard alternative: the card\'s status menu and "Assign to me"', async () => {
  await card(agent, ticketId).getByTestId('card-status').selectOption('waiting');
  await agent.getByTestId('column-waiting').locator(`[data-ticket-id="${ticketId}"]`).waitFor({ timeout: LIVE });
  await card(agent, ticketId).getByTestId('card-status').selectOption('in_progress');
  await agent.getByTestId('column-in_progress').locator(`[data-ticket-id="${ticketId}"]`).waitFor({ timeout: LIVE });
  await card(agent, ticketId).getByTestId('assign-me').click();
  await agent.locator(`[data-testid="ticket-card"][data-ticket-id="${ticketId}"][data-assignee="alice"]`).waitFor({ timeout: LIVE });
  await customer.locator(`[data-testid="customer-ticket"][data-ticket-id="${ticketId}"][data-status="in_progress"]`).waitFor({ timeout: LIVE });
});

const internalText = `Internal: firmware 1.2 has a known fault (${stamp})`;
const publicText = `We are sending a technician today (${stamp})`;

await step('internal and public comments: the customer\'s detail shows the public one live and never the internal one', async () => {
  await customer.locator(`[data-testid="customer-ticket"][data-ticket-id="${ticketId}"] a`).click();
  await customer.getByTestId('comment-form').waitFor({ timeout: WAIT });
  if (await customer.getByTestId('comment-internal').count()) fail('the customer is offered an internal checkbox');
  await card(agent, ticketId).getByTestId('card-title').click();
  await agent.getByTestId('comment-form').waitFor({ timeout: WAIT });
  await agent.getByTestId('comment-body').fill(internalText);
  await agent.getByTestId('comment-internal').check();
  await agent.getByTestId('comment-submit').click();
  await agent.locator('[data-testid="comment-internal-item"]', { hasText: internalText }).waitFor({ timeout: WAIT });
  await agent.getByTestId('comment-body').fill(publicText);
  await agent.getByTestId('comment-submit').click();
  await agent.locator('[data-testid="comment-public-item"]', { hasText: publicText }).waitFor({ timeout: WAIT });
  // The public comment came after the internal one: once it is shown, a leak would be too.
  await customer.locator('[data-testid="comment-public-item"]', { hasText: publicText }).waitFor({ timeout: LIVE });
  const check = async (when) => {
    const text = await customer.locator('body').innerText();
    if (text.includes(internalText) || text.includes('firmware 1.2')) fail(`the customer sees the internal comment (${when})`);
    if (await customer.getByTestId('comment-internal-item').count()) fail(`the customer's page has an internal comment element (${when})`);
  };
  await check('live');
  await customer.reload();
  await customer.locator('[data-testid="comment-public-item"]', { hasText: publicText }).waitFor({ timeout: WAIT });
  await check('after a reload');
  await liveOn(customer);
});

await step('ticket detail: history with actors, state at version N, screenshot', async () => {
  const entries = await until('history entries', () => agent.getByTestId('history-entry').count(), (n) => n >= 7);
  const firstLine = await agent.getByTestId('history-entry').first().innerText();
  if (!firstLine.includes('Dave')) fail(`the first history entry does not name its actor: ${firstLine}`);
  await agent.getByTestId('version-start').click();
  await until('version label', () => agent.getByTestId('version-label').textContent(), (t) => t.startsWith(`Version ${entries - 1} of ${entries}`));
  // Step back to version 1: the ticket as the customer opened it.
  for (let v = entries - 2; v >= 1; v -= 1) {
    await agent.getByTestId('version-prev').click();
    await until(`version ${v}`, () => agent.getByTestId('version-label').textContent(), (t) => t.startsWith(`Version ${v} of`));
  }
  await until('state at version 1', () => agent.getByTestId('version-fields').locator('[data-testid="field-status"]').textContent(), (t) => t === 'Open');
  await agent.getByTestId('version-next').click();
  await until('version 2', () => agent.getByTestId('version-label').textContent(), (t) => t.startsWith('Version 2 of'));
  await until('state at version 2', () => agent.getByTestId('version-fields').locator('[data-testid="field-status"]').textContent(), (t) => t === 'In progress');
  await agent.evaluate(() => window.scrollTo(0, 0));
  await screenshot(agent, 'detail.png');
});

await step('board screenshot (1280x800)', async () => {
  await agent.getByTestId('nav-board').click();
  await card(agent, ticketId).waitFor({ timeout: WAIT });
  await screenshot(agent, 'board.png');
});

await step('offline: three changes made meanwhile show exactly once after coming back online', async () => {
  const bob = await demoToken('bob');
  const beforeCards = await cardIds(agent);
  const beforeActivity = await activityKeys(agent);
  const beforeTotal = await activityTotal(agent);
  await agentContext.setOffline(true);
  await agent.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: WAIT });
  const created = await api('POST', '/api/tickets', bob, { title: `Made while alice was offline ${stamp}`, queue_id: 'hardware', company_id: 'acme' });
  await api('POST', `/api/tickets/${ticketId}/priority`, bob, { priority: 'urgent' });
  await api('POST', `/api/tickets/${ticketId}/assign`, bob, { assignee_id: 'bob' });
  if ((await activityTotal(agent)) !== beforeTotal) fail('changes arrived while offline');
  await agentContext.setOffline(false);
  await liveOn(agent);
  await card(agent, created.id).waitFor({ timeout: LIVE });
  await agent.locator(`[data-testid="ticket-card"][data-ticket-id="${ticketId}"][data-priority="urgent"][data-assignee="bob"]`).waitFor({ timeout: LIVE });
  const fresh = (await activityKeys(agent)).filter((key) => !beforeActivity.includes(key));
  const expected = [`${ticketId}@`, `${ticketId}@`, `${created.id}@1`];
  if ((await activityTotal(agent)) !== beforeTotal + 3) fail(`expected 3 changes after reconnecting, counted ${(await activityTotal(agent)) - beforeTotal}`);
  if (fresh.length !== 3) fail(`expected exactly 3 new changes in the activity list, got ${fresh.length}: ${fresh}`);
  noDuplicates(fresh, 'activity after reconnect');
  if (!expected.every((prefix) => fresh.some((key) => key.startsWith(prefix)))) fail(`unexpected changes: ${fresh}`);
  const afterCards = await cardIds(agent);
  noDuplicates(afterCards, 'board after reconnect');
  if (afterCards.length !== beforeCards.length + 1) fail(`expected ${beforeCards.length + 1} cards, got ${afterCards.length}`);
  // A second drop with nothing new: nothing may appear twice.
  await agentContext.setOffline(true);
  await agent.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: WAIT });
  await agentContext.setOffline(false);
  await liveOn(agent);
  noDuplicates(await cardIds(agent), 'board after a second reconnect');
  const total = await activityTotal(agent);
  if (total !== beforeTotal + 3) fail(`after a second reconnect ${total - beforeTotal} changes in all, not 3`);
});

await step('notifications: the badge counts and clears, and a second tab follows', async () => {
  trace('start');
  const second = await newPage(agentContext);
  await second.goto(BASE_URL);
  await liveOn(second);
  // Act in the first tab; a background tab would answer clicks only as fast as its throttled frames.
  await agent.bringToFront();
  trace('second tab live');
  const alice = await demoToken('alice');
  const ada = await demoToken('ada');
  // Start from nothing unread, as the server sees it.
  await until('nothing unread', async () => {
    await agent.getByTestId('bell').click();
    const button = agent.getByTestId('mark-all-read');
    if (await button.isEnabled()) await button.click();
    await agent.getByTestId('bell').click();
    return (await api('GET', '/api/notifications/unread-count', alice)).unread + (await badge(agent)) + (await badge(second));
  }, (n) => n === 0);
  trace('nothing unread');
  // Ada assigns a ticket to alice: a high notification.
  const other = await api('POST', '/api/tickets', ada, { title: `Urgent for alice ${stamp}`, queue_id: 'general', company_id: 'acme' });
  await until('badge counts the new notification (first tab)', () => badge(agent), (n) => n >= 1, LIVE);
  trace('badge counts the new notification (first tab)');
  await api('POST', `/api/tickets/${other.id}/assign`, ada, { assignee_id: 'alice' });
  await until('badge counts both (first tab)', () => badge(agent), (n) => n === 2, LIVE);
  trace('badge counts both (first tab)');
  await until('badge counts both (second tab)', () => badge(second), (n) => n === 2, LIVE);
  trace('badge counts both (second tab)');
  // Headless chromium has no notification permission: high falls back to a toast.
  await agent.locator('[data-testid="toast-high"]', { hasText: 'assigned to you' }).waitFor({ timeout: LIVE });
  await agent.getByTestId('bell').click();
  await agent.locator('[data-testid="notification-item"][data-level="high"][data-unread="true"]').first().waitFor({ timeout: WAIT });
  await agent.locator('[data-testid="notification-item"][data-unread="true"]').first().getByTestId('mark-read').click();
  await until('one marked read (first tab)', () => badge(agent), (n) => n === 1);
  trace('one marked read (first tab)');
  await until('one marked read (second tab)', () => badge(second), (n) => n === 1);
  trace('one marked read (second tab)');
  await agent.getByTestId('mark-all-read').click();
  await until('badge cleared (first tab)', () => badge(agent), (n) => n === 0);
  trace('badge cleared (first tab)');
  await until('badge cleared (second tab)', () => badge(second), (n) => n === 0);
  trace('badge cleared (second tab)');
  await until('server agrees', async () => (await api('GET', '/api/notifications/unread-count', alice)).unread, (n) => n === 0);
  trace('server agrees');
  await agent.keyboard.press('Escape');
  await second.close();
  pages.splice(pages.indexOf(second), 1);
});

await step('dashboard: live queue metrics and the hourly chart, screenshot', async () => {
  await agent.getByTestId('nav-dashboard').click();
  const general = agent.locator('[data-testid="queue-card"][data-queue-id="general"]');
  await general.locator('svg.hourly rect').first().waitFor({ timeout: WAIT });
  const before = Number(await until('open total', () => general.getAttribute('data-open-total'), (v) => v !== null));
  const ada = await demoToken('ada');
  await api('POST', '/api/tickets', ada, { title: `Dashboard ping ${stamp}`, queue_id: 'general', company_id: 'acme' });
  await until('open total follows a new ticket live', () => general.getAttribute('data-open-total').then(Number), (n) => n === before + 1, LIVE);
  await screenshot(agent, 'dashboard.png');
});

await step('phone width (375 px): the board and the customer page do not overflow sideways', async () => {
  const phone = await newPage(agentContext);
  await phone.setViewportSize(PHONE);
  await phone.goto(`${BASE_URL}/#/board`);
  await liveOn(phone);
  await card(phone, ticketId).waitFor({ timeout: WAIT });
  const width = await phone.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth]);
  if (Math.max(...width) > PHONE.width) fail(`the board is ${width} px wide at ${PHONE.width} px`);
  await customer.setViewportSize(PHONE);
  await customer.goto(`${BASE_URL}/#/my-tickets`);
  await liveOn(customer);
  const customerWidth = await customer.evaluate(() => document.documentElement.scrollWidth);
  if (customerWidth > PHONE.width) fail(`the customer page is ${customerWidth} px wide at ${PHONE.width} px`);
  await phone.close();
  pages.splice(pages.indexOf(phone), 1);
});

await step('an expired token says so and offers to sign in again', async () => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await newPage(context);
  await page.goto(BASE_URL);
  const token = await demoToken('erin', 1);
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('token-submit').click();
  await page.getByTestId('session-expired').waitFor({ timeout: WAIT });
  if (!(await page.getByTestId('session-expired').textContent()).toLowerCase().includes('expired')) fail('the message does not say the session expired');
  await page.getByTestId('signin-as-erin').waitFor({ timeout: WAIT });
  await context.close();
  pages.splice(pages.indexOf(page), 1);
});

await step('sign out forgets the token', async () => {
  await customer.getByTestId('sign-out').click();
  await customer.getByTestId('signin').waitFor({ timeout: WAIT });
  if (await customer.evaluate(() => localStorage.getItem('bomizzel.token'))) fail('the token is still stored');
});

await browser.close();
console.log(`all ${stepNumber} steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SCREENSHOT_DIR}`);
