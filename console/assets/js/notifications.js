// The notification center: a bell with the unread count, a dropdown with
// the history grouped per ticket ("3 changes on #12"; the groups beyond the
// first few collapsed), marking a ticket's group or everything read (and a
// ticket's group when its page is opened), and alerts by level (as the
// first front end did): high → a browser notification (a toast when those
// are refused or unavailable), medium → a toast, low → the list only.
// Toasts are titled by what happened, and a burst about one ticket is one
// toast.
//
// Two tabs of one user stay in step through a BroadcastChannel: a tab that
// marks something read tells the others, which then read the server again.
//
// The unread count: the server's unread list (one request, so it agrees
// with itself), plus notifications that came live in the last seconds and
// that the server's read model may not hold yet (it is a separate
// projection from the live feed).

import * as api from './api.js';
import { dateTime, h, label, replace, uid } from './dom.js';
import { ticketRef } from './statuses.js';
import { toast, toastError } from './toast.js';

const HISTORY_LIMIT = 100;
/** Ticket groups shown before "N more tickets". */
const GROUP_CAP = 5;
/** Toasts titled by what happened. */
const KIND_TITLES = {
  ticket_assigned: 'Assigned to you',
  ticket_urgent: 'Now urgent',
  status_changed: 'Status changed',
  priority_changed: 'Priority changed',
  ticket_created: 'New ticket',
  ticket_updated: 'Ticket edited',
  ticket_commented: 'New comment',
  ticket_moved: 'Ticket moved',
  ticket_unassigned: 'Reassigned',
};
const UNREAD_LIMIT = 200;
/** A live notification the server's lists do not show after this long was read elsewhere. */
const LIVE_GRACE_MS = 10000;

export class NotificationCenter {
  /** @param {{userId: string, ticketOf: (id: string) => object | undefined}} options */
  constructor({ userId, ticketOf = () => undefined }) {
    this.userId = userId;
    this.ticketOf = ticketOf;
    this.items = new Map(); // id → notification, for the dropdown
    this.unreadIds = new Set(); // the server's unread list
    this.unreadTickets = new Map(); // id → ticket id, of the server's unread list
    this.expanded = false; // the groups beyond GROUP_CAP shown
    this.serverUnread = 0; // GET unread-count, used when the list is capped
    this.capped = false;
    this.recentLive = new Map(); // id → when it arrived live, not yet seen in a server list
    this.open = false;
    this.pendingAlerts = [];
    this.channel = 'BroadcastChannel' in window ? new BroadcastChannel(`bomizzel.notifications.${userId}`) : null;
    this.channel?.addEventListener('message', (event) => this.fromOtherTab(event.data));
    this.element = this.render();
    this.onDocumentClick = (event) => {
      // The path as dispatched: a click that redrew its own button is still inside.
      if (this.open && !event.composedPath().includes(this.element)) this.toggle(false);
    };
    document.addEventListener('click', this.onDocumentClick);
    this.sync();
  }

  destroy() {
    this.channel?.close();
    document.removeEventListener('click', this.onDocumentClick);
    clearTimeout(this.syncTimer);
    clearTimeout(this.alertTimer);
  }

  render() {
    const panelId = uid('notifications');
    this.badge = h('span', { class: 'bell-badge', testid: 'unread-count', dataset: { count: '0' }, 'aria-hidden': 'true', text: '0' });
    this.button = h(
      'button',
      { type: 'button', class: 'bell', testid: 'bell', 'aria-expanded': 'false', 'aria-controls': panelId, 'aria-label': 'Notifications, 0 unread', on: { click: () => this.toggle() } },
      bellIcon(),
      this.badge,
    );
    this.list = h('ol', { class: 'notification-list', testid: 'notification-list' });
    this.permission = h('div', { class: 'permission' });
    this.markAllButton = h('button', { type: 'button', class: 'button small', testid: 'mark-all-read', text: 'Mark all read', on: { click: () => this.markAll() } });
    this.panel = h(
      'div',
      { class: 'notification-panel', id: panelId, role: 'region', 'aria-label': 'Notifications', hidden: true, testid: 'notification-panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Notifications' }), this.markAllButton),
      this.permission,
      this.list,
    );
    this.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        this.toggle(false);
        this.button.focus();
      }
    });
    this.button.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.open) this.toggle(false);
    });
    return h('div', { class: 'notifications' }, this.button, this.panel);
  }

  toggle(open = !this.open) {
    this.open = open;
    this.panel.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
    if (open) {
      this.renderList();
      this.renderPermission();
      this.sync();
    }
  }

  // ---- server state -------------------------------------------------------------

  /** Reads the inbox again; coalesced so a burst of changes makes one read. */
  sync(delay = 0) {
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => this.syncNow(), delay);
  }

  async syncNow() {
    try {
      const [unread, history, count] = await Promise.all([
        api.notifications({ unread: true, limit: UNREAD_LIMIT }),
        api.notifications({ limit: HISTORY_LIMIT }),
        api.unreadCount(),
      ]);
      this.unreadIds = new Set(unread.map((n) => n.id));
      this.unreadTickets = new Map(unread.map((n) => [n.id, n.ticket_id]));
      this.capped = unread.length >= UNREAD_LIMIT;
      this.serverUnread = count.unread;
      const now = Date.now();
      for (const n of [...unread, ...history]) this.recentLive.delete(n.id);
      for (const [id, at] of this.recentLive) if (now - at > LIVE_GRACE_MS) this.recentLive.delete(id);
      // The dropdown shows the newest; keep live ones the lists do not have yet.
      const items = new Map();
      for (const n of history) items.set(n.id, n);
      for (const id of this.recentLive.keys()) if (this.items.has(id)) items.set(id, this.items.get(id));
      this.items = items;
      this.renderCount();
      if (this.open) this.renderList();
      if (this.recentLive.size) this.sync(2000); // until the read model has caught up
    } catch (error) {
      if (error.status !== 401) console.warn('notifications not loaded', error);
    }
  }

  unreadCount() {
    const live = [...this.recentLive.keys()].filter((id) => !this.unreadIds.has(id));
    return (this.capped ? this.serverUnread : this.unreadIds.size) + live.length;
  }

  renderCount() {
    const count = this.unreadCount();
    this.badge.textContent = count > 99 ? '99+' : String(count);
    this.badge.dataset.count = String(count);
    this.button.setAttribute('aria-label', `Notifications, ${count} unread`);
    this.markAllButton.disabled = count === 0;
  }

  /** The notifications per ticket, the group with the newest first. */
  groups() {
    const groups = new Map();
    for (const n of [...this.items.values()].sort((a, b) => b.position - a.position)) {
      if (!groups.has(n.ticket_id)) groups.set(n.ticket_id, []);
      groups.get(n.ticket_id).push(n);
    }
    return [...groups.values()];
  }

  renderList() {
    const groups = this.groups();
    const shown = this.expanded ? groups : groups.slice(0, GROUP_CAP);
    const hidden = groups.length - shown.length;
    replace(
      this.list,
      groups.length ? shown.map((group) => this.group(group)) : h('li', { class: 'empty', text: 'Nothing yet.' }),
      hidden > 0
        ? h('li', { class: 'more' }, h('button', { type: 'button', class: 'button small', testid: 'notifications-more', text: `${hidden} more ticket${hidden === 1 ? '' : 's'}`, on: { click: () => { this.expanded = true; this.renderList(); } } }))
        : null,
    );
  }

  /** One ticket's notifications: a heading line, the changes, "Mark read". */
  group(notes) {
    const [latest] = notes;
    const unread = notes.filter((n) => this.isUnread(n));
    const level = ['high', 'medium', 'low'].find((l) => notes.some((n) => n.level === l));
    const heading = notes.length > 1 ? `${notes.length} changes on ${this.ref(latest.ticket_id)}` : `${latest.title} · ${this.ref(latest.ticket_id)}`;
    return h(
      'li',
      { class: `notification${unread.length ? ' unread' : ''}`, testid: 'notification-group', dataset: { ticketId: latest.ticket_id, level, unread: String(unread.length), count: String(notes.length) } },
      h('span', { class: `level level-${level}`, text: label(level) }),
      h('a', { href: `#/tickets/${latest.ticket_id}`, class: 'notification-title', testid: 'notification-group-title', text: heading, on: { click: () => this.toggle(false) } }),
      h('span', { class: 'notification-sub' }, this.about(latest.ticket_id), h('time', { datetime: latest.created_at, text: dateTime(latest.created_at) })),
      unread.length
        ? h('button', { type: 'button', class: 'button small', testid: 'mark-read', dataset: { needsOnline: '' }, 'aria-label': `Mark read: ${heading}`, text: 'Mark read', on: { click: () => this.markTicket(latest.ticket_id) } })
        : h('span', { class: 'read-mark', text: 'Read' }),
      notes.length > 1
        ? h('ul', { class: 'group-items' }, notes.map((n) => h('li', { testid: 'notification-item', dataset: { id: n.id, level: n.level, unread: String(this.isUnread(n)) } }, n.title, ' · ', h('time', { datetime: n.created_at, text: dateTime(n.created_at) }))))
        : h('span', { testid: 'notification-item', hidden: true, dataset: { id: latest.id, level: latest.level, unread: String(this.isUnread(latest)) } }),
    );
  }

  /** "#12", or the ticket's title while its number is unknown here. */
  ref(ticketId) {
    const ticket = this.ticketOf(ticketId);
    return ticket ? ticketRef(ticket) : 'a ticket';
  }

  /** The ticket's title when we hold it. */
  about(ticketId) {
    const title = this.ticketOf(ticketId)?.title;
    return title ? `${title} · ` : '';
  }

  isUnread(n) {
    return this.unreadIds.has(n.id) || this.recentLive.has(n.id);
  }

  renderPermission() {
    if (!('Notification' in window)) {
      replace(this.permission, h('p', { class: 'hint', text: 'This browser has no desktop notifications; urgent news shows as a toast.' }));
    } else if (Notification.permission === 'default') {
      replace(
        this.permission,
        h('button', {
          type: 'button',
          class: 'button small',
          testid: 'enable-browser-notifications',
          text: 'Turn on desktop alerts for urgent news',
          on: { click: async () => {
            await Notification.requestPermission();
            this.renderPermission();
          } },
        }),
      );
    } else if (Notification.permission === 'denied') {
      replace(this.permission, h('p', { class: 'hint', text: 'Desktop alerts are blocked; urgent news shows as a toast.' }));
    } else {
      replace(this.permission);
    }
  }

  // ---- changes ---------------------------------------------------------------------

  /** A `notification:created` change from the live feed. */
  onLive(data) {
    if (!data?.id || data.user_id !== this.userId || this.items.has(data.id)) return;
    this.items.set(data.id, data);
    if (!data.read_at) this.recentLive.set(data.id, Date.now());
    this.renderCount();
    if (this.open) this.renderList();
    this.alert(data);
    this.sync(1500);
  }

  /** Marks every notification about `ticketId` read (its group, or its page opened). */
  async markTicket(ticketId) {
    try {
      await api.markTicketRead(ticketId);
    } catch (error) {
      return toastError('Not marked read', error);
    }
    this.localReadTicket(ticketId);
    this.channel?.postMessage({ type: 'read-ticket', ticketId });
    this.sync();
    return undefined;
  }

  /** The ticket's page was opened: its unread notifications are read now. */
  readTicket(ticketId) {
    const known = [...this.unreadTickets.values(), ...[...this.recentLive.keys()].map((id) => this.items.get(id)?.ticket_id)];
    if (known.includes(ticketId)) this.markTicket(ticketId);
  }

  async markAll() {
    try {
      await api.markAllRead();
    } catch (error) {
      return toastError('Not marked read', error);
    }
    this.localReadAll();
    this.channel?.postMessage({ type: 'read-all' });
    this.sync();
    return undefined;
  }

  localRead(id) {
    this.unreadIds.delete(id);
    this.unreadTickets.delete(id);
    this.recentLive.delete(id);
    const n = this.items.get(id);
    if (n) n.read_at = n.read_at ?? new Date().toISOString();
    this.renderCount();
    if (this.open) this.renderList();
  }

  localReadTicket(ticketId) {
    const ids = [...this.unreadTickets].filter(([, t]) => t === ticketId).map(([id]) => id);
    for (const n of this.items.values()) if (n.ticket_id === ticketId) ids.push(n.id);
    for (const id of ids) this.localRead(id);
  }

  localReadAll() {
    for (const id of [...this.unreadIds, ...this.recentLive.keys()]) this.localRead(id);
    this.unreadIds.clear();
    this.serverUnread = 0;
    this.capped = false;
    this.renderCount();
  }

  fromOtherTab(message) {
    if (message?.type === 'read-ticket') this.localReadTicket(message.ticketId);
    else if (message?.type === 'read-all') this.localReadAll();
    this.sync();
  }

  // ---- alerts by level -------------------------------------------------------------

  alert(n) {
    if (n.level === 'low') return;
    this.pendingAlerts.push(n);
    // A reconnect can replay many at once: one summary instead of a flood.
    clearTimeout(this.alertTimer);
    this.alertTimer = setTimeout(() => this.flushAlerts(), 250);
  }

  flushAlerts() {
    const alerts = this.pendingAlerts;
    this.pendingAlerts = [];
    const byTicket = new Map();
    for (const n of alerts) byTicket.set(n.ticket_id, [...(byTicket.get(n.ticket_id) ?? []), n]);
    if (byTicket.size > 3) {
      toast(`${alerts.length} changes on ${byTicket.size} tickets while you were away.`, { kind: 'info', title: 'Catching up', action: { label: 'Show', run: () => this.toggle(true) } });
      return;
    }
    for (const notes of byTicket.values()) this.alertGroup(notes);
  }

  /** One toast (or desktop notification) for one ticket's new notifications. */
  alertGroup(notes) {
    const n = notes.find((note) => note.level === 'high') ?? notes[0];
    if (n.level === 'high' && this.desktop(n)) return;
    const several = notes.length > 1;
    toast(several ? `${this.about(n.ticket_id)}${notes.map((note) => note.title).join('; ')}` : `${this.about(n.ticket_id)}${n.title}`, {
      kind: n.level === 'high' ? 'warning' : 'info',
      title: several ? `${notes.length} changes on ${this.ref(n.ticket_id)}` : `${KIND_TITLES[n.kind] ?? 'Ticket changed'} · ${this.ref(n.ticket_id)}`,
      timeout: n.level === 'high' ? 10000 : 5000,
      testid: `toast-${n.level}`,
      action: { label: 'Open', run: () => { location.hash = `#/tickets/${n.ticket_id}`; } },
    });
  }

  /** A desktop notification when allowed; false when the caller should toast instead. */
  desktop(n) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return false;
    try {
      // One tag per notification: two open tabs show it once.
      const shown = new Notification('Bomizzel', { body: n.title, tag: n.id });
      shown.addEventListener('click', () => {
        window.focus();
        location.hash = `#/tickets/${n.ticket_id}`;
        shown.close();
      });
      return true;
    } catch {
      return false; // e.g. Android Chrome, which only allows them from a service worker
    }
  }
}

function bellIcon() {
  const svg = h('svg:svg', { viewBox: '0 0 24 24', width: '20', height: '20', 'aria-hidden': 'true', focusable: 'false' });
  svg.append(
    h('svg:path', { d: 'M12 3a6 6 0 0 0-6 6v3.6L4.3 15.4A1 1 0 0 0 5.2 17h13.6a1 1 0 0 0 .9-1.6L18 12.6V9a6 6 0 0 0-6-6z', fill: 'currentColor' }),
    h('svg:path', { d: 'M9.5 18.5a2.5 2.5 0 0 0 5 0z', fill: 'currentColor' }),
  );
  return svg;
}
