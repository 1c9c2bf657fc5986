// The tickets the console shows, kept in step with the server: loaded from
// `GET /api/tickets`, then changed by live feed changes and by the answers
// of our own commands. Staff hold the open work whole (every page) and only
// the most recently closed tickets (the list pages through the rest);
// customers hold all of their company's tickets. When a load stops at its
// cap it says so (`truncated`) instead of dropping tickets silently.
//
// Every ticket change carries the ticket's version after it, so each one is
// applied at most once whatever its route: a live change, the same change
// replayed after a reconnect, a twin in another room (`ticket:assigned` and
// `user:ticket_assigned`), or a command's own answer that got here first.

import * as api from './api.js';

const PAGE = 200;
/** The most tickets one load holds; past it the board says it shows a part. */
const MAX_TICKETS = 5000;
/** How many of the most recently closed tickets staff hold (the board's Closed column). */
export const CLOSED_WINDOW = 10;
const OPEN_WORK = 'open,in_progress,waiting,resolved';

export class TicketStore extends EventTarget {
  /** @param {(ticket) => boolean} visible tickets this user may no longer see are dropped */
  constructor({ visible = () => true, staff = true } = {}) {
    super();
    this.staff = staff;
    this.truncated = false;
    this.tickets = new Map();
    this.visible = visible;
    this.loaded = false;
    this.loading = null;
    this.fetching = new Map();
  }

  get(id) {
    return this.tickets.get(id);
  }

  all() {
    return [...this.tickets.values()];
  }

  size() {
    return this.tickets.size;
  }

  /**
   * Loads the tickets this user works with (see the top). Calls
   * made while a load runs wait for a new one, so a reload asked for after
   * a reconnect always reads the server after that reconnect.
   */
  reload() {
    if (this.loading) {
      this.reloadAgain = true;
      return this.loading;
    }
    this.loading = this.fetchAll().finally(() => {
      this.loading = null;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        this.reload();
      }
    });
    return this.loading;
  }

  /**
   * Resolves to the feed point the loaded tickets are consistent with: the
   * earliest of the pages' (a later page may be newer, and a change it
   * already has is dropped by its version).
   */
  async fetchAll() {
    const feed = { point: null };
    this.truncated = false;
    const rows = this.staff
      ? [...(await this.pages({ status: OPEN_WORK }, MAX_TICKETS, feed)), ...(await this.pages({ status: 'closed' }, CLOSED_WINDOW, feed))]
      : await this.pages({}, MAX_TICKETS, feed);
    const fresh = new Map();
    for (const row of rows) {
      const known = this.tickets.get(row.id);
      // A change applied while the list was being read may be newer than it.
      fresh.set(row.id, known && known.version > row.version ? { ...row, ...known } : row);
    }
    this.tickets = fresh;
    this.loaded = true;
    this.emit('reset', {});
    return feed.point;
  }

  /** Up to `most` tickets of `filter`, most recently changed first; notes the earliest feed point in `feed`. */
  async pages(filter, most, feed) {
    const rows = [];
    let cursor;
    do {
      const answer = await api.listTickets({ ...filter, limit: Math.min(PAGE, most - rows.length), cursor, sort: '-updated' });
      rows.push(...answer.items);
      if (answer.feed && (!feed.point || answer.feed.offset < feed.point.offset)) feed.point = answer.feed;
      cursor = answer.next_cursor;
    } while (cursor && rows.length < most);
    if (cursor && most === MAX_TICKETS) this.truncated = true;
    return rows;
  }

  /** Merges a ticket as a command or `GET /api/tickets/{id}` answered it. */
  put(view) {
    const known = this.tickets.get(view.id);
    if (known && known.version >= view.version) return known;
    const merged = { ...known, ...view };
    if (view.position) merged.updated_position = view.position;
    return this.set(merged, known ? 'updated' : 'added');
  }

  set(ticket, kind) {
    if (!this.visible(ticket)) {
      if (this.tickets.delete(ticket.id)) this.emit('removed', { ticket });
      return ticket;
    }
    this.tickets.set(ticket.id, ticket);
    this.emit(kind, { ticket });
    return ticket;
  }

  /**
   * Applies one live change. Returns true when it changed a ticket (so the
   * activity list shows each change once), false for a change already seen.
   */
  apply(name, data, position) {
    const id = data.ticket_id;
    if (!id || !name.startsWith('ticket:') && name !== 'user:ticket_assigned') return false;
    const known = this.tickets.get(id);
    if (known && known.version >= data.version) return false;
    if (!known) {
      if (name === 'ticket:created') {
        const created = { id, ...without(data, ['ticket_id']), public_comment_count: 0, internal_comment_count: 0, updated_position: position };
        this.set(created, 'added');
        return true;
      }
      // A change of a ticket we do not hold (older than the first pages, or
      // moved into our queues): read it whole.
      this.fetch(id);
      return true;
    }
    const next = { ...known, version: data.version, updated_position: position ?? known.updated_position };
    switch (name) {
      case 'ticket:created':
        Object.assign(next, without(data, ['ticket_id']));
        break;
      case 'ticket:assigned':
      case 'user:ticket_assigned':
        next.assignee_id = data.assignee_id;
        break;
      case 'ticket:status_changed':
      case 'ticket:priority_changed':
        next[name === 'ticket:status_changed' ? 'status' : 'priority'] = data.to;
        break;
      case 'ticket:updated':
        for (const key of ['title', 'description', 'tags', 'queue_id', 'team_id']) if (key in data) next[key] = data[key];
        break;
      case 'ticket:commented': {
        const key = data.internal ? 'internal_comment_count' : 'public_comment_count';
        next[key] = (next[key] ?? 0) + 1;
        break;
      }
      default:
        return false;
    }
    this.set(next, 'updated');
    return true;
  }

  async fetch(id) {
    if (this.fetching.has(id)) return this.fetching.get(id);
    const pending = api
      .ticket(id)
      .then((view) => this.put(view))
      .catch((error) => {
        if (error.status === 404 && this.tickets.delete(id)) this.emit('removed', { ticket: { id } });
      })
      .finally(() => this.fetching.delete(id));
    this.fetching.set(id, pending);
    return pending;
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
    this.dispatchEvent(new CustomEvent('change', { detail: { kind: name, ...detail } }));
  }
}

function without(object, keys) {
  const copy = { ...object };
  for (const key of keys) delete copy[key];
  return copy;
}
