// Presence on a ticket's page: who else is viewing or replying (avatars
// with names), a collision warning when another agent replies or writes a
// note while you type ("Bob is replying — your reply may cross theirs"),
// and for customers "Support is replying…". The page's room is joined
// while it is open; the reply box says `replying` (or `noting` for an
// internal note) as you type, renewed every few seconds, and `viewing`
// once you stop. The server decides who is shown to whom: a customer is
// only ever sent staff who are replying, by role.
//
// `TicketWatchers` keeps how many are on each ticket of the user's queues
// (the queue rooms' `presence_counts`) for the board's cards and the
// list's rows, whichever page is open when they arrive.

import { h, replace } from './dom.js';
import { nameOf, user } from './session.js';

/** Renew a typing activity this often while typing (the server lets it lapse after 10 s). */
const RENEW_MS = 3000;
/** Typing stopped this long ago: back to viewing. */
const IDLE_MS = 4000;

const ACTIVITY_TEXT = { viewing: 'viewing', replying: 'replying', noting: 'writing a note' };

export class PresencePanel {
  /**
   * @param {object} options
   * @param {import('./live.js').LiveClient} options.live
   * @param {string} options.ticketId
   */
  constructor({ live, ticketId }) {
    this.live = live;
    this.room = `ticket:${ticketId}`;
    this.members = [];
    this.typingAs = null; // the activity announced while typing
    this.lastSent = 0;
    this.idleTimer = null;
    this.element = h('div', { class: 'presence-bar', testid: 'presence', 'aria-live': 'polite' });
    this.warning = h('p', { class: 'collision-warning', testid: 'collision-warning', role: 'alert', hidden: true });
    live.watch(this.room);
    this.render();
  }

  destroy() {
    clearTimeout(this.idleTimer);
    this.live.unwatch(this.room);
  }

  /** A `presence` frame of this page's room. */
  onPresence(frame) {
    if (frame.room !== this.room) return;
    this.members = frame.members ?? [];
    this.render();
  }

  /** The reply box changed: `internal` when it is a note. */
  typing(internal) {
    const activity = internal ? 'noting' : 'replying';
    const now = Date.now();
    if (activity !== this.typingAs || now - this.lastSent >= RENEW_MS) {
      this.live.announce(this.room, activity);
      this.typingAs = activity;
      this.lastSent = now;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopped(), IDLE_MS);
    this.render();
  }

  /** Typing stopped (or the reply was sent). */
  stopped() {
    clearTimeout(this.idleTimer);
    if (!this.typingAs) return;
    this.typingAs = null;
    this.live.announce(this.room, 'viewing');
    this.render();
  }

  render() {
    const others = this.members.filter((m) => !m.user || m.user !== user.id);
    if (user.role === 'customer') {
      const replying = others.some((m) => m.activity === 'replying');
      replace(this.element, replying ? h('span', { class: 'support-replying', testid: 'support-replying', text: 'Support is replying…' }) : null);
    } else {
      replace(
        this.element,
        others.length ? h('span', { class: 'presence-label', text: 'Also here:' }) : null,
        others.map((m) => {
          const name = m.name ?? nameOf(m.user);
          return h(
            'span',
            { class: `presence-member activity-${m.activity}`, testid: 'presence-member', dataset: { user: m.user ?? '', activity: m.activity }, title: `${name} is ${ACTIVITY_TEXT[m.activity] ?? m.activity}` },
            h('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(name) }),
            h('span', { class: 'presence-name', text: `${name} · ${ACTIVITY_TEXT[m.activity] ?? m.activity}` }),
          );
        }),
      );
    }
    this.renderWarning(others);
  }

  /** While you type, another staff member replying or noting is a collision. */
  renderWarning(others) {
    const rival = this.typingAs && others.find((m) => m.role !== 'customer' && (m.activity === 'replying' || m.activity === 'noting'));
    this.warning.hidden = !rival;
    if (rival) {
      const name = rival.name ?? nameOf(rival.user);
      const doing = rival.activity === 'noting' ? 'writing a note' : 'replying';
      this.warning.textContent = `${name} is ${doing} — your reply may cross theirs`;
    }
  }
}

function initials(name) {
  return String(name ?? '?')
    .split(/[\s._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join('');
}

/** How many are on each ticket of the user's queues, from `presence_counts` frames. */
export class TicketWatchers {
  constructor() {
    this.counts = new Map(); // ticket id -> {viewing, replying, noting, queue}
  }

  /** A queue room's counts replace what that queue had. */
  update(frame) {
    const queue = frame.room;
    for (const [id, counts] of this.counts) if (counts.queue === queue) this.counts.delete(id);
    for (const [id, counts] of Object.entries(frame.tickets ?? {})) this.counts.set(id, { ...counts, queue });
  }

  /** Fills the `.watchers` badge inside `element` for ticket `id`. */
  show(element, id) {
    const counts = this.counts.get(id);
    const total = counts ? counts.viewing + counts.replying + counts.noting : 0;
    const badge = element.querySelector('.watchers');
    badge.hidden = total === 0;
    badge.textContent = total ? `${total} here` : '';
    badge.title = counts ? `${counts.viewing} viewing, ${counts.replying} replying, ${counts.noting} writing a note` : '';
    badge.setAttribute('aria-label', badge.title);
  }
}
