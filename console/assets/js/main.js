// The console's entry point: decides between the sign-in page and the
// signed-in app, builds the header (navigation, search, connection
// indicator, notifications, sign-out), routes `#/…` hashes to views,
// installs the keyboard shortcuts, and connects the live feed to the
// ticket store.

import * as api from './api.js';
import { ActivityList } from './activity.js';
import { Board } from './board.js';
import { ConnectionStatus } from './connection.js';
import { CustomerView } from './customer.js';
import { DashboardView } from './dashboard.js';
import { DetailView } from './detail.js';
import { loadTeams, teamIds } from './directory.js';
import { h, label, replace } from './dom.js';
import { installShortcuts } from './keys.js';
import { ListView } from './list.js';
import { LiveClient } from './live.js';
import { NotificationCenter } from './notifications.js';
import { TicketWatchers } from './presence.js';
import * as session from './session.js';
import { demoBanner, detectDemo, signInView } from './signin.js';
import { TicketStore } from './store.js';
import { toastError } from './toast.js';

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
  if (session.mayManage()) await loadTeams();
  if (over()) return;
  session.rememberNames([user]);
  const store = new TicketStore({
    staff: user.role !== 'customer',
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
    lastList: null,
    latestMetrics: new Map(),
    watchers: new TicketWatchers(),
    notifications: new NotificationCenter({ userId: user.id, ticketOf: (id) => store.get(id) }),
    connection: new ConnectionStatus({ live, bannerSlot }),
  };

  live.addEventListener('state', (event) => {
    // Back after a gap: the inbox may have changed in ways the feed does not say (reads).
    if (event.detail.state === 'live') app?.notifications?.sync();
  });
  live.addEventListener('change', ({ detail: { frame } }) => {
    if (frame.event === 'notification:created') return app.notifications.onLive(frame.data);
    if (store.apply(frame.event, frame.data, frame.position)) activity.add(frame, store.get(frame.data.ticket_id)?.title);
    if (app.current?.id === frame.data.ticket_id) app.current.onLive?.(frame);
  });
  live.addEventListener('presence', ({ detail: { frame } }) => {
    if (frame.type !== 'presence_counts') return app.current?.onPresence?.(frame);
    app.watchers.update(frame);
    return app.current?.onWatchers?.();
  });
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
  app.removeShortcuts = installShortcuts({ current: () => app?.current, store, search: () => app?.search, back: goBack });
  window.addEventListener('hashchange', route);
  route();
}

function stopApp() {
  if (!app) return;
  app.live.stop();
  app.current?.destroy?.();
  app.notifications.destroy();
  app.connection.destroy();
  app.removeShortcuts();
  window.removeEventListener('hashchange', route);
  app = null;
}

function renderHeader() {
  const { user } = app;
  const links = NAV[user.role] ?? NAV.agent;
  const nav = h('nav', { 'aria-label': 'Main' }, h('ul', {}, links.map(([href, text]) => h('li', {}, h('a', { href, testid: `nav-${href.slice(2)}`, text })))));
  const signOut = h('button', { type: 'button', class: 'button ghost', testid: 'sign-out', text: 'Sign out', on: { click: doSignOut } });
  header.hidden = false;
  replace(
    header,
    h('a', { class: 'brand', href: '#/', text: 'Bomizzel' }),
    nav,
    user.role === 'customer' ? null : searchBox(),
    h('div', { class: 'header-tools' }, app.connection.element, app.notifications.element, h('span', { class: 'who', testid: 'who' }, h('span', { class: 'who-name', text: session.nameOf(user.id) }), ' ', h('span', { class: `role role-${user.role}`, text: label(user.role) })), signOut),
  );
}

/** The header's search: words search the list, `#42` opens ticket 42. */
function searchBox() {
  const input = h('input', { type: 'search', id: 'search', testid: 'search-input', placeholder: 'Search, or #42', 'aria-keyshortcuts': '/', autocomplete: 'off' });
  const form = h('form', { class: 'search', role: 'search', testid: 'search' }, h('label', { for: 'search', class: 'visually-hidden', text: 'Search tickets' }), input);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    const number = /^#?(\d+)$/.exec(text)?.[1];
    if (!text) return;
    if (!number) {
      location.hash = `#/list?${new URLSearchParams({ q: text })}`;
      return;
    }
    try {
      const ticket = await api.ticket(number);
      input.value = '';
      location.hash = `#/tickets/${ticket.id}`;
    } catch (error) {
      toastError(`No ticket #${number}`, error.status === 404 ? { detail: `There is no ticket #${number} you may see.` } : error);
    }
  });
  app.search = input;
  return form;
}

function doSignOut() {
  stopApp();
  session.signOut();
  location.hash = '';
  showSignIn(null);
}

/** Escape on a ticket's page: back to the list or board it was opened from. */
function goBack() {
  if (!app || !location.hash.startsWith('#/tickets/')) return;
  location.hash = app.lastList ?? (NAV[app.user.role] ?? NAV.agent)[0][0];
}

/** The pages of each role, the first being its home. */
const NAV = {
  agent: [['#/board', 'Board'], ['#/list', 'List'], ['#/dashboard', 'Dashboard']],
  admin: [['#/board', 'Board'], ['#/list', 'List'], ['#/dashboard', 'Dashboard']],
  analyst: [['#/dashboard', 'Dashboard'], ['#/board', 'Board'], ['#/list', 'List']],
  customer: [['#/my-tickets', 'Your tickets']],
};

/** The page for `hash` (`#/path?query`), or null. */
function pageFor(hash, home) {
  const [path, query = ''] = hash.split('?');
  const staff = app.user.role !== 'customer';
  if (path.startsWith('#/tickets/')) {
    const id = decodeURIComponent(path.slice('#/tickets/'.length));
    const queueName = (q) => app.allQueues.find((queue) => queue.id === q)?.name ?? q;
    app.notifications.readTicket(id);
    return [new DetailView({ id, store: app.store, live: app.live, back: { href: app.lastList ?? home[0], text: app.lastList?.startsWith('#/list') ? 'List' : home[1] }, queueName }), 'Ticket'];
  }
  if (path === '#/board' && staff) return [new Board({ store: app.store, queues: app.queues, activity: app.activity, watchers: app.watchers }), 'Board'];
  if (path === '#/list' && staff) return [new ListView({ store: app.store, params: new URLSearchParams(query), queues: app.queues, teams: teamIds().length ? teamIds() : app.user.team_ids ?? [], watchers: app.watchers }), 'Tickets'];
  if (path === '#/dashboard' && staff) return [new DashboardView({ queues: app.queues, latest: app.latestMetrics }), 'Dashboard'];
  if (path === '#/my-tickets' && !staff) return [new CustomerView({ store: app.store, queues: app.queues, activity: app.activity }), 'Your tickets'];
  return null;
}

/** `event`: the hashchange, whose old address is the page a ticket was opened from. */
function route(event) {
  if (!app) return;
  const links = NAV[app.user.role] ?? NAV.agent;
  const home = links[0];
  const hash = !location.hash || location.hash === '#/' ? home[0] : location.hash;
  app.current?.destroy?.();
  app.current = null;
  // Where Esc and "back" lead from a ticket: the list or board as it was left
  // (a list keeps its filters in the address without a hashchange).
  const from = event?.oldURL ? new URL(event.oldURL).hash : '';
  if (!hash.startsWith('#/tickets/')) app.lastList = hash;
  else if (from && !from.startsWith('#/tickets/')) app.lastList = from;
  const found = pageFor(hash, home);
  if (found) {
    app.current = found[0];
    replace(view, app.current.element);
    document.title = `${found[1]} · Bomizzel`;
  } else {
    replace(view, h('section', { class: 'panel' }, h('h1', { text: 'Nothing here' }), h('p', {}, 'This page does not exist. ', h('a', { href: home[0], text: `Go to ${home[1]}` }))));
  }
  // Move focus to the new page so keyboard and screen-reader users start there.
  if (document.activeElement === document.body || !view.contains(document.activeElement)) view.focus({ preventScroll: true });
  for (const link of header.querySelectorAll('nav a')) {
    if (hash.split('?')[0] === link.getAttribute('href')) link.setAttribute('aria-current', 'page');
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
