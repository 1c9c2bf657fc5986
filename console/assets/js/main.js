// The console's entry point: decides between the sign-in page and the
// signed-in app, builds the header (navigation, connection indicator,
// notifications, sign-out), routes `#/…` hashes to views, and connects the
// live feed to the ticket store.

import * as api from './api.js';
import { ActivityList } from './activity.js';
import { Board } from './board.js';
import { CustomerView } from './customer.js';
import { DashboardView } from './dashboard.js';
import { DetailView } from './detail.js';
import { h, label, replace } from './dom.js';
import { LiveClient } from './live.js';
import { NotificationCenter } from './notifications.js';
import * as session from './session.js';
import { demoBanner, detectDemo, signInView } from './signin.js';
import { TicketStore } from './store.js';

const view = document.getElementById('view');
const header = document.getElementById('app-header');
const bannerSlot = document.getElementById('banner');

let demoUsers = null;
/** Everything that lives while signed in; torn down by sign-out. */
let app = null;

async function boot() {
  demoUsers = await detectDemo();
  if (demoUsers) {
    session.rememberNames(demoUsers);
    replace(bannerSlot, demoBanner());
    document.body.classList.add('demo');
  }
  let restored = null;
  try {
    restored = await session.restore();
  } catch (error) {
    restored = null;
  }
  if (restored && !restored.expired) await startApp();
  else if (restored?.expired) showSignIn(restored.expired === 'token_expired' ? EXPIRED : REFUSED);
  else showSignIn(null);
}

function showSignIn(notice) {
  replace(header);
  header.hidden = true;
  document.title = 'Sign in · Bomizzel';
  replace(view, signInView({ demoUsers, notice, onToken: async (token) => {
    await session.signIn(token);
    await startApp();
  } }));
  view.querySelector('button, textarea')?.focus();
}

async function startApp() {
  const user = session.user;
  // The session can end (expire) while we wait for the server below.
  const over = () => session.user !== user;
  const allQueues = await api.queues().catch(() => []);
  if (user.role === 'admin') session.rememberNames(await api.users().catch(() => []));
  if (over()) return;
  session.rememberNames([user]);
  const store = new TicketStore({
    // An agent who loses a ticket to another team's queue stops seeing it.
    visible: (t) => user.role !== 'agent' || !user.team_ids?.length || !t.team_id || user.team_ids.includes(t.team_id),
  });
  await store.reload().catch((error) => console.warn('tickets not loaded', error));
  if (over()) return;
  // Agents work on their teams' queues; admins and analysts on all of them.
  const myQueueIds = user.role === 'agent'
    ? user.queue_ids ?? [...new Set(store.all().map((t) => t.queue_id))]
    : allQueues.map((q) => q.id);
  // Customers may open a ticket in any queue.
  const queues = user.role === 'customer' ? allQueues : allQueues.filter((q) => myQueueIds.includes(q.id));
  const rooms = [`user:${user.id}`];
  if (user.role === 'customer') rooms.push(`company:${user.company_id}`);
  else rooms.push(...myQueueIds.map((q) => `queue:${q}`));

  const live = new LiveClient({ userId: user.id, token: () => session.token });
  const activity = new ActivityList();
  app = {
    user,
    store,
    live,
    activity,
    queues,
    allQueues,
    current: null,
    latestMetrics: new Map(),
    notifications: new NotificationCenter({ userId: user.id, ticketTitle: (id) => store.get(id)?.title }),
  };

  live.addEventListener('state', (event) => {
    showConnection(event.detail);
    // Back after a gap: the inbox may have changed in ways the feed does not say (reads).
    if (event.detail.state === 'live') app?.notifications?.sync();
  });
  live.addEventListener('change', ({ detail: { frame } }) => {
    if (frame.event === 'notification:created') return app.notifications.onLive(frame.data);
    if (store.apply(frame.event, frame.data)) activity.add(frame, store.get(frame.data.ticket_id)?.title);
    if (app.current?.id === frame.data.ticket_id) app.current.onLive?.(frame);
  });
  live.addEventListener('presence', ({ detail: { frame } }) => app.current?.onPresence?.(frame));
  live.addEventListener('latest', ({ detail: { frame } }) => {
    if (frame.event !== 'queue:metrics_updated') return;
    const queueId = frame.data?.queue_id ?? frame.rooms?.[0]?.replace(/^queue:/, '');
    app.latestMetrics.set(queueId, frame.data);
    app.current?.onMetrics?.(queueId, frame.data);
  });
  // Rooms that could not be replayed: reload, then go on from the point
  // the reload names (the ready offset may be past what the list has).
  live.addEventListener('unrecovered', ({ detail }) => {
    store
      .reload()
      .then((feed) => live.resumeFrom(detail.rooms, feed))
      .catch(() => {});
  });
  live.addEventListener('expired', (event) => session.expire(event.detail.code === 4001 ? 'token_expired' : 'invalid_token'));
  live.setRooms(rooms);
  live.start();

  renderHeader();
  window.addEventListener('hashchange', route);
  route();
}

function stopApp() {
  if (!app) return;
  app.live.stop();
  app.current?.destroy?.();
  app.notifications.destroy();
  window.removeEventListener('hashchange', route);
  app = null;
}

function renderHeader() {
  const { user } = app;
  const links = NAV[user.role] ?? NAV.agent;
  const nav = h('nav', { 'aria-label': 'Main' }, h('ul', {}, links.map(([href, text]) => h('li', {}, h('a', { href, testid: `nav-${href.slice(2)}`, text })))));
  const connection = h('span', { class: 'connection', testid: 'connection', role: 'status', 'aria-live': 'polite', dataset: { state: 'connecting' } }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'connection-text', text: 'Connecting…' }));
  const signOut = h('button', { type: 'button', class: 'button ghost', testid: 'sign-out', text: 'Sign out', on: { click: doSignOut } });
  header.hidden = false;
  replace(
    header,
    h('a', { class: 'brand', href: '#/', text: 'Bomizzel' }),
    nav,
    h('div', { class: 'header-tools' }, connection, app.notifications.element, h('span', { class: 'who', testid: 'who' }, h('span', { class: 'who-name', text: session.nameOf(user.id) }), ' ', h('span', { class: `role role-${user.role}`, text: label(user.role) })), signOut),
  );
  app.connection = connection;
}

function doSignOut() {
  stopApp();
  session.signOut();
  location.hash = '';
  showSignIn(null);
}

const CONNECTION_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  joining: 'Catching up…',
  live: 'Live',
  offline: 'Offline',
  expired: 'Session expired',
};

function showConnection({ state, retryInMs }) {
  const el = app?.connection;
  if (!el) return;
  el.dataset.state = state;
  const text = state === 'reconnecting'
    ? `Reconnecting${retryInMs ? ` in ${Math.ceil(retryInMs / 1000)} s` : '…'}`
    : CONNECTION_TEXT[state] ?? state;
  el.querySelector('.connection-text').textContent = text;
}

/** The pages of each role, the first being its home. */
const NAV = {
  agent: [['#/board', 'Board'], ['#/dashboard', 'Dashboard']],
  admin: [['#/board', 'Board'], ['#/dashboard', 'Dashboard']],
  analyst: [['#/dashboard', 'Dashboard'], ['#/board', 'Board']],
  customer: [['#/my-tickets', 'Your tickets']],
};

function route() {
  if (!app) return;
  const links = NAV[app.user.role] ?? NAV.agent;
  const home = links[0];
  const hash = !location.hash || location.hash === '#/' ? home[0] : location.hash;
  app.current?.destroy?.();
  app.current = null;
  let title = 'Bomizzel';
  if (hash.startsWith('#/tickets/')) {
    const id = decodeURIComponent(hash.slice('#/tickets/'.length));
    const queueName = (q) => app.allQueues.find((queue) => queue.id === q)?.name ?? q;
    app.current = new DetailView({ id, store: app.store, live: app.live, back: { href: home[0], text: home[1] }, queueName });
    title = 'Ticket · Bomizzel';
  } else if (hash === '#/board' && app.user.role !== 'customer') {
    app.current = new Board({ store: app.store, queues: app.queues, activity: app.activity });
    title = 'Board · Bomizzel';
  } else if (hash === '#/dashboard' && app.user.role !== 'customer') {
    app.current = new DashboardView({ queues: app.queues, latest: app.latestMetrics });
    title = 'Dashboard · Bomizzel';
  } else if (hash === '#/my-tickets' && app.user.role === 'customer') {
    app.current = new CustomerView({ store: app.store, queues: app.queues, activity: app.activity });
    title = 'Your tickets · Bomizzel';
  }
  if (app.current) {
    replace(view, app.current.element);
    document.title = title;
  } else {
    replace(view, h('section', { class: 'panel' }, h('h1', { text: 'Nothing here' }), h('p', {}, 'This page does not exist. ', h('a', { href: home[0], text: `Go to ${home[1]}` }))));
  }
  // Move focus to the new page so keyboard and screen-reader users start there.
  if (document.activeElement === document.body || !view.contains(document.activeElement)) view.focus({ preventScroll: true });
  for (const link of header.querySelectorAll('nav a')) {
    if (hash.startsWith(link.getAttribute('href'))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

const EXPIRED = { text: 'Your session has expired. Sign in again to go on.', testid: 'session-expired' };
const REFUSED = { text: 'Your sign-in is no longer accepted (signed out elsewhere, or the token is invalid). Sign in again.', testid: 'session-expired' };

session.sessionEvents.addEventListener('expired', (event) => {
  stopApp();
  showSignIn(event.detail === 'token_expired' ? EXPIRED : REFUSED);
});

boot();
