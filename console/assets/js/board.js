// The agents' board: a column per status, a card per ticket. Cards move by
// drag and drop, or from the keyboard with the card's status menu; "Assign
// to me" and the priority menu act at once. The board redraws only the
// cards that changed, so a live change does not steal focus or scroll.

import * as api from './api.js';
import { createdMs, h, label, replace, select, shortDuration, uid } from './dom.js';
import { mayManage, nameOf, user } from './session.js';
import { canMove, PRIORITIES, PRIORITY_RANK, STATUSES } from './statuses.js';
import { toastError } from './toast.js';

export class Board {
  /**
   * @param {object} options
   * @param {import('./store.js').TicketStore} options.store
   * @param {Array<{id,name}>} options.queues the queues this user works on
   * @param {import('./activity.js').ActivityList} options.activity
   */
  constructor({ store, queues, activity }) {
    this.store = store;
    this.queues = queues;
    this.activity = activity;
    this.cards = new Map();
    this.watchers = {}; // per ticket: {viewing, replying, noting}, from the queue rooms
    this.filter = { queue: localStorage.getItem('bomizzel.board.queue') ?? '', mine: false };
    if (this.filter.queue && !queues.some((q) => q.id === this.filter.queue)) this.filter.queue = '';
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

  /** A queue's board counts (`presence_counts`): who is on which card. */
  onPresence(frame) {
    if (frame.type !== 'presence_counts') return;
    const queueId = frame.room.replace(/^queue:/, '');
    for (const [id, ticket] of Object.entries(this.watchers)) if (ticket.queue_id === queueId) delete this.watchers[id];
    for (const [id, counts] of Object.entries(frame.tickets ?? {})) this.watchers[id] = { ...counts, queue_id: queueId };
    for (const [id, card] of this.cards) this.showWatchers(card, id);
  }

  showWatchers(card, id) {
    const counts = this.watchers[id];
    const total = counts ? counts.viewing + counts.replying + counts.noting : 0;
    const badge = card.querySelector('.watchers');
    badge.hidden = total === 0;
    badge.textContent = total ? `${total} here` : '';
    badge.title = counts ? `${counts.viewing} viewing, ${counts.replying} replying, ${counts.noting} writing a note` : '';
    badge.setAttribute('aria-label', badge.title);
  }

  render() {
    const queueSelect = select(
      [['', user.role === 'agent' ? 'All my queues' : 'All queues'], ...this.queues.map((q) => [q.id, q.name ?? q.id])],
      this.filter.queue,
      { testid: 'queue-filter', on: { change: (e) => this.setFilter({ queue: e.target.value }) } },
    );
    // Only people who take tickets have tickets of their own.
    const mine = this.editable ? h('input', { type: 'checkbox', id: uid('mine'), testid: 'mine-filter', on: { change: (e) => this.setFilter({ mine: e.target.checked }) } }) : null;
    const toolbar = h(
      'div',
      { class: 'toolbar', role: 'group', 'aria-label': 'Board filters' },
      h('div', { class: 'field inline' }, h('label', { for: (queueSelect.id = uid('queue')), text: 'Queue' }), queueSelect),
      mine ? h('div', { class: 'field inline check' }, mine, h('label', { for: mine.id, text: 'Assigned to me' })) : null,
      h('p', { class: 'toolbar-note', id: 'board-help' }, this.editable ? 'Drag a card to another column, or use its Status menu.' : 'Read only: analysts watch, agents act.'),
    );
    this.columns = new Map();
    const columns = STATUSES.map((status) => {
      const count = h('span', { class: 'count', testid: `count-${status}`, text: '0' });
      const list = h('ul', { class: 'card-list', 'aria-label': `${label(status)} tickets` });
      const column = h(
        'section',
        { class: `column column-${status}`, testid: `column-${status}`, dataset: { status }, 'aria-labelledby': `col-${status}` },
        h('h2', { id: `col-${status}`, class: 'column-title' }, h('span', { class: `status-dot status-${status}`, 'aria-hidden': 'true' }), label(status), ' ', count),
        list,
      );
      if (this.editable) this.makeDropZone(column, status);
      this.columns.set(status, { column, list, count });
      return column;
    });
    return h(
      'section',
      { class: 'board-view', 'aria-labelledby': 'board-title' },
      h('div', { class: 'view-head' }, h('h1', { id: 'board-title', text: 'Board' }), toolbar),
      this.activity.element,
      h('div', { class: 'board', testid: 'board' }, columns),
    );
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
    const tickets = this.store.all().filter((t) => this.shows(t)).sort(order);
    for (const ticket of tickets) {
      const card = this.card(ticket);
      this.cards.set(ticket.id, card);
      this.columns.get(ticket.status).list.append(card);
    }
    this.counts();
  }

  changed({ kind, ticket }) {
    if (kind === 'reset') return this.fill();
    const old = this.cards.get(ticket.id);
    if (kind === 'removed' || !this.shows(ticket)) {
      if (old) {
        old.remove();
        this.cards.delete(ticket.id);
        this.counts();
      }
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
    this.counts();
    return undefined;
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
    for (const [status, { list, count }] of this.columns) count.textContent = String(list.children.length);
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
      h('span', { class: `badge priority-${ticket.priority}`, testid: 'card-priority', text: label(ticket.priority) }),
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
      this.editable ? this.controls(ticket) : null,
    );
    this.showWatchers(card, ticket.id);
    if (this.editable) {
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
    return card;
  }

  queueName(id) {
    return this.queues.find((q) => q.id === id)?.name ?? id;
  }

  controls(ticket) {
    const statusSelect = select(
      STATUSES.map((s) => [s, label(s)]),
      ticket.status,
      { testid: 'card-status', dataset: { role: 'status' }, id: uid('status'), 'aria-label': `Status of ${ticket.title}` },
    );
    // Statuses the machine refuses from here are shown but disabled.
    for (const option of statusSelect.options) option.disabled = option.value !== ticket.status && !canMove(ticket.status, option.value);
    statusSelect.addEventListener('change', () => this.move(ticket.id, statusSelect.value));
    const prioritySelect = select(
      PRIORITIES.map((p) => [p, label(p)]),
      ticket.priority,
      { testid: 'card-priority-select', dataset: { role: 'priority' }, 'aria-label': `Priority of ${ticket.title}` },
    );
    prioritySelect.addEventListener('change', () => this.run('Priority not changed', () => api.setPriority(ticket.id, prioritySelect.value)));
    const mine = ticket.assignee_id === user.id;
    const assign = h('button', {
      type: 'button',
      class: 'button small',
      testid: mine ? 'unassign' : 'assign-me',
      dataset: { role: 'assign' },
      'aria-label': `${mine ? 'Unassign' : 'Assign to me'}: ${ticket.title}`,
      text: mine ? 'Unassign' : 'Assign to me',
      on: { click: () => this.run('Not assigned', () => api.assign(ticket.id, mine ? null : user.id)) },
    });
    return h('div', { class: 'card-controls' }, statusSelect, prioritySelect, assign);
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
      const id = event.dataTransfer.getData('text/plain') || this.dragging;
      if (id) this.move(id, status);
    });
  }

  move(id, status) {
    const ticket = this.store.get(id);
    if (!ticket || ticket.status === status) return;
    this.run(`Not moved to ${label(status)}`, () => api.setStatus(id, status));
  }

  /** Runs a command; its answer updates the store (the live change then finds it applied). */
  async run(what, command) {
    try {
      const view = await command();
      if (view) this.store.put(view);
    } catch (error) {
      toastError(what, error);
      this.fill(); // put back a card or menu the failed command had moved
    }
  }
}

/** Urgent first, then newest first. */
function order(a, b) {
  return PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || createdMs(b) - createdMs(a);
}
