// The agents' board: a column per status, a card per ticket. It shows the
// open work whole and Closed as a short window of the most recently closed
// (the list has them all). Cards move by drag and drop or with their
// Status menu; priority and assignee have menus too, and nothing changes
// until a value is chosen. The board redraws only the cards that changed,
// so a live change does not steal focus or scroll. On a phone it shows one
// column at a time, picked with tabs that carry the counts.

import { assigneeMenu, priorityMenu, setStatus, statusMenu } from './actions.js';
import { createdMs, h, replace, select, shortDuration, uid } from './dom.js';
import { mayManage, nameOf, user } from './session.js';
import { canMove, PRIORITY_RANK, priorityLabel, STATUSES, statusLabel, ticketRef } from './statuses.js';
import { CLOSED_WINDOW } from './store.js';

export class Board {
  /**
   * @param {object} options
   * @param {import('./store.js').TicketStore} options.store
   * @param {Array<{id,name}>} options.queues the queues this user works on
   * @param {import('./activity.js').ActivityList} options.activity
   * @param {import('./presence.js').TicketWatchers} options.watchers who is on which ticket
   */
  constructor({ store, queues, activity, watchers }) {
    this.store = store;
    this.queues = queues;
    this.activity = activity;
    this.watchers = watchers;
    this.cards = new Map();
    this.filter = { queue: localStorage.getItem('bomizzel.board.queue') ?? '', mine: false };
    if (this.filter.queue && !queues.some((q) => q.id === this.filter.queue)) this.filter.queue = '';
    this.tab = localStorage.getItem('bomizzel.board.tab') ?? 'open';
    this.editable = mayManage();
    this.element = this.render();
    this.onChange = (event) => this.changed(event.detail);
    store.addEventListener('change', this.onChange);
    // Ages move with the clock, not with events.
    this.ageTimer = setInterval(() => this.refreshAges(), 30000);
    this.fill();
  }

  destroy() {
    this.store.removeEventListener('change', this.onChange);
    clearInterval(this.ageTimer);
  }

  /** The cards in reading order, for the j/k keys. */
  navItems() {
    return [...this.element.querySelectorAll('[data-testid="card-title"]')].filter((a) => a.checkVisibility());
  }

  /** The watchers changed (a queue's `presence_counts`). */
  onWatchers() {
    for (const [id, card] of this.cards) this.watchers.show(card, id);
  }

  render() {
    const queueSelect = select(
      [['', user.role === 'agent' ? 'All my queues' : 'All queues'], ...this.queues.map((q) => [q.id, q.name ?? q.id])],
      this.filter.queue,
      { testid: 'queue-filter', id: uid('queue'), on: { change: (e) => this.setFilter({ queue: e.target.value }) } },
    );
    // Only people who take tickets have tickets of their own.
    const mine = this.editable ? h('input', { type: 'checkbox', id: uid('mine'), testid: 'mine-filter', on: { change: (e) => this.setFilter({ mine: e.target.checked }) } }) : null;
    const toolbar = h(
      'div',
      { class: 'toolbar', role: 'group', 'aria-label': 'Board filters' },
      h('div', { class: 'field inline' }, h('label', { for: queueSelect.id, text: 'Queue' }), queueSelect),
      mine ? h('div', { class: 'field inline check' }, mine, h('label', { for: mine.id, text: 'Assigned to me' })) : null,
      h('p', { class: 'toolbar-note', id: 'board-help' }, this.editable ? 'Drag a card to another column, or use its Status menu.' : 'Read only: analysts watch, agents act.'),
    );
    this.columns = new Map();
    this.tabs = new Map();
    const columns = STATUSES.map((status) => this.column(status));
    const tablist = h('div', { class: 'board-tabs', role: 'tablist', 'aria-label': 'Statuses', testid: 'board-tabs' }, STATUSES.map((status) => this.tabFor(status)));
    tablist.addEventListener('keydown', (event) => this.onTabKey(event));
    this.notice = h('p', { class: 'notice', testid: 'board-truncated', hidden: true });
    this.board = h('div', { class: 'board', testid: 'board', dataset: { tab: this.tab } }, columns);
    return h(
      'section',
      { class: 'board-view', 'aria-labelledby': 'board-title' },
      h('div', { class: 'view-head' }, h('h1', { id: 'board-title', text: 'Board' }), toolbar),
      this.activity.element,
      this.notice,
      tablist,
      this.board,
    );
  }

  column(status) {
    const count = h('span', { class: 'count', testid: `count-${status}`, text: '0' });
    const list = h('ul', { class: 'card-list', 'aria-label': `${statusLabel(status)} tickets` });
    const more = status === 'closed'
      ? h('p', { class: 'column-more', testid: 'closed-more' }, `The ${CLOSED_WINDOW} most recently closed. `, h('a', { href: '#/list?status=closed&sort=-updated', text: 'All closed tickets in the list' }))
      : null;
    const column = h(
      'section',
      { class: `column column-${status}`, id: `column-${status}`, testid: `column-${status}`, dataset: { status }, 'aria-labelledby': `col-${status}` },
      h('h2', { id: `col-${status}`, class: 'column-title' }, h('span', { class: `status-dot status-${status}`, 'aria-hidden': 'true' }), statusLabel(status), ' ', count),
      list,
      more,
    );
    if (this.editable) this.makeDropZone(column, status);
    this.columns.set(status, { column, list, count });
    return column;
  }

  tabFor(status) {
    const count = h('span', { class: 'count', testid: `tab-count-${status}`, text: '0' });
    const tab = h(
      'button',
      { type: 'button', role: 'tab', id: `tab-${status}`, 'aria-controls': `column-${status}`, 'aria-selected': String(status === this.tab), tabindex: status === this.tab ? '0' : '-1', testid: `tab-${status}`, dataset: { status }, on: { click: () => this.showTab(status) } },
      statusLabel(status),
      ' ',
      count,
    );
    this.tabs.set(status, { tab, count });
    return tab;
  }

  showTab(status, focus = false) {
    this.tab = status;
    localStorage.setItem('bomizzel.board.tab', status);
    this.board.dataset.tab = status;
    for (const [s, { tab }] of this.tabs) {
      tab.setAttribute('aria-selected', String(s === status));
      tab.tabIndex = s === status ? 0 : -1;
    }
    for (const [s, { column }] of this.columns) column.classList.toggle('tab-hidden', s !== status);
    if (focus) this.tabs.get(status).tab.focus();
  }

  onTabKey(event) {
    const at = STATUSES.indexOf(this.tab);
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: STATUSES.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    this.showTab(STATUSES[(next + STATUSES.length) % STATUSES.length], true);
  }

  setFilter(change) {
    Object.assign(this.filter, change);
    if ('queue' in change) localStorage.setItem('bomizzel.board.queue', this.filter.queue);
    this.fill();
  }

  shows(ticket) {
    if (this.filter.queue && ticket.queue_id !== this.filter.queue) return false;
    if (this.filter.mine && ticket.assignee_id !== user.id) return false;
    return STATUSES.includes(ticket.status);
  }

  /** Redraws every card (after a load or a filter change). */
  fill() {
    this.cards.clear();
    for (const { list } of this.columns.values()) replace(list);
    const tickets = this.store.all().filter((t) => this.shows(t) && t.status !== 'closed').sort(order);
    for (const ticket of tickets) {
      const card = this.card(ticket);
      this.cards.set(ticket.id, card);
      this.columns.get(ticket.status).list.append(card);
    }
    this.fillClosed();
    this.notice.hidden = !this.store.truncated;
    this.notice.textContent = this.store.truncated ? `The board holds the first ${this.store.size()} tickets only; the list has every one.` : '';
    this.showTab(this.tab);
  }

  /** Closed: the most recently closed tickets only. */
  fillClosed() {
    const { list } = this.columns.get('closed');
    for (const item of [...list.children]) this.cards.delete(item.dataset.ticketId);
    replace(list);
    const closed = this.store.all().filter((t) => this.shows(t) && t.status === 'closed').sort(byRecency).slice(0, CLOSED_WINDOW);
    for (const ticket of closed) {
      const card = this.card(ticket);
      this.cards.set(ticket.id, card);
      list.append(card);
    }
    this.counts();
  }

  changed({ kind, ticket }) {
    if (kind === 'reset') return this.fill();
    const old = this.cards.get(ticket.id);
    const closedBefore = old?.dataset.status === 'closed';
    if (kind === 'removed' || !this.shows(ticket) || ticket.status === 'closed') {
      if (old) {
        old.remove();
        this.cards.delete(ticket.id);
      }
      if (closedBefore || ticket.status === 'closed') this.refocusAfter(() => this.fillClosed(), ticket.id);
      this.counts();
      return undefined;
    }
    // Keep keyboard focus on the same control of the redrawn card.
    const focusedRole = old?.contains(document.activeElement) ? document.activeElement.dataset.role : null;
    const card = this.card(ticket);
    this.cards.set(ticket.id, card);
    old?.remove();
    this.place(card, ticket);
    if (focusedRole) card.querySelector(`[data-role="${focusedRole}"]`)?.focus();
    if (kind === 'added' || old?.dataset.status !== ticket.status) card.classList.add('flash');
    if (closedBefore) this.fillClosed();
    this.counts();
    return undefined;
  }

  /** Runs `redraw` and puts the focus back on the same control of card `id`, if it had it. */
  refocusAfter(redraw, id) {
    const role = this.cards.get(id)?.contains(document.activeElement) ? document.activeElement.dataset.role : null;
    redraw();
    if (role) this.cards.get(id)?.querySelector(`[data-role="${role}"]`)?.focus();
  }

  /** Inserts `card` in its column at its sorted place. */
  place(card, ticket) {
    const { list } = this.columns.get(ticket.status);
    const before = [...list.children].find((other) => {
      const t = this.store.get(other.dataset.ticketId);
      return t && order(ticket, t) < 0;
    });
    list.insertBefore(card, before ?? null);
  }

  counts() {
    for (const [status, { list, count }] of this.columns) {
      count.textContent = String(list.children.length);
      this.tabs.get(status).count.textContent = String(list.children.length);
    }
  }

  refreshAges() {
    for (const [id, card] of this.cards) {
      const ticket = this.store.get(id);
      const age = card.querySelector('.age');
      if (ticket && age) age.textContent = shortDuration((Date.now() - createdMs(ticket)) / 1000);
    }
  }

  card(ticket) {
    const titleId = uid('card');
    const created = createdMs(ticket);
    const meta = h(
      'p',
      { class: 'card-meta' },
      h('span', { class: 'ref', testid: 'card-number', text: ticketRef(ticket) }),
      h('span', { class: `badge priority-${ticket.priority}`, testid: 'card-priority', text: priorityLabel(ticket.priority) }),
      slaBadge(ticket),
      h('span', { class: 'assignee', testid: 'card-assignee', title: 'Assignee' }, ticket.assignee_id ? nameOf(ticket.assignee_id) : 'Unassigned'),
      h('span', { class: 'watchers', testid: 'card-watchers', hidden: true }),
      h('time', { class: 'age', datetime: new Date(created).toISOString(), title: `Opened ${new Date(created).toLocaleString()}`, 'aria-label': `Age ${shortDuration((Date.now() - created) / 1000)}`, text: shortDuration((Date.now() - created) / 1000) }),
    );
    const card = h(
      'li',
      {
        class: 'card',
        testid: 'ticket-card',
        dataset: { ticketId: ticket.id, status: ticket.status, priority: ticket.priority, assignee: ticket.assignee_id ?? '', version: String(ticket.version) },
        'aria-labelledby': titleId,
        draggable: this.editable ? 'true' : false,
      },
      // The link is not a drag source of its own: dragging from the title moves the card.
      h('h3', { class: 'card-title', id: titleId }, h('a', { href: `#/tickets/${ticket.id}`, testid: 'card-title', draggable: 'false', dataset: { role: 'open' }, text: ticket.title })),
      meta,
      h('p', { class: 'card-queue', text: ticket.queue_id ? `Queue: ${this.queueName(ticket.queue_id)}` : '' }),
      this.editable ? h('div', { class: 'card-controls' }, statusMenu(this.store, ticket, 'card-status'), priorityMenu(this.store, ticket, 'card-priority-menu'), assigneeMenu(this.store, ticket, 'card-assignee-menu')) : null,
    );
    this.watchers.show(card, ticket.id);
    if (this.editable) this.makeDraggable(card, ticket);
    return card;
  }

  makeDraggable(card, ticket) {
    card.addEventListener('dragstart', (event) => {
      event.dataTransfer.setData('text/plain', ticket.id);
      event.dataTransfer.effectAllowed = 'move';
      this.dragging = ticket.id;
      card.classList.add('dragging');
    });
    card.addEventListener('dragend', () => {
      this.dragging = null;
      card.classList.remove('dragging');
      for (const { column } of this.columns.values()) column.classList.remove('drop-ok', 'drop-no');
    });
  }

  queueName(id) {
    return this.queues.find((q) => q.id === id)?.name ?? id;
  }

  makeDropZone(column, status) {
    column.addEventListener('dragover', (event) => {
      const ticket = this.store.get(this.dragging);
      if (!ticket) return;
      const ok = canMove(ticket.status, status);
      column.classList.toggle('drop-ok', ok);
      column.classList.toggle('drop-no', !ok && ticket.status !== status);
      if (ok) {
        event.preventDefault(); // allows the drop
        event.dataTransfer.dropEffect = 'move';
      }
    });
    column.addEventListener('dragleave', (event) => {
      if (!column.contains(event.relatedTarget)) column.classList.remove('drop-ok', 'drop-no');
    });
    column.addEventListener('drop', (event) => {
      event.preventDefault();
      column.classList.remove('drop-ok', 'drop-no');
      const ticket = this.store.get(event.dataTransfer.getData('text/plain') || this.dragging);
      if (ticket) setStatus(this.store, ticket, status);
    });
  }
}

/** A badge while open work's SLA is breached or due soon (staff answers carry `sla`). */
export function slaBadge(ticket) {
  const state = ticket.sla?.state;
  if ((state !== 'breached' && state !== 'due_soon') || ['resolved', 'closed'].includes(ticket.status)) return null;
  return h('span', { class: `badge sla-${state}`, testid: 'sla-badge', dataset: { sla: state }, text: state === 'breached' ? 'SLA breached' : 'SLA due soon' });
}

/** Urgent first, then newest first. */
function order(a, b) {
  return PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || createdMs(b) - createdMs(a);
}

/** The most recently changed first. */
function byRecency(a, b) {
  return (b.updated_position ?? 0) - (a.updated_position ?? 0);
}
