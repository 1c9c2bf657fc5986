// The ticket list (`#/list?…`): every filter of `GET /api/tickets`, its
// search (`q`, ranked, with highlighted snippets), sortable columns and
// pages that follow the API's cursors, so no ticket is ever left out.
// Saved views sit in a sidebar with their counts, kept live by counting
// again (`GET /api/views/counts`) after ticket changes. The question is in
// the address, so a list can be linked and the browser's back goes to it.
//
// Everything is asked of the API; nothing is filtered or sorted here.

import * as api from './api.js';
import { slaBadge } from './board.js';
import { membersOf } from './directory.js';
import { h, relative, replace, select, snippetNodes, uid } from './dom.js';
import { isStaff, nameOf, user } from './session.js';
import { PRIORITIES, priorityLabel, STATUSES, statusLabel, ticketRef } from './statuses.js';
import { toast, toastError } from './toast.js';

const PAGE = 50;
/** A list answer is read again at most this often while changes arrive. */
const REFRESH_MS = 400;
/** View counts are read again at most this often. */
const RECOUNT_MS = 1000;

/** The API's list parameters the form edits (cursor and limit are the pager's). */
const FILTERS = ['q', 'status', 'priority', 'queue', 'team', 'assignee', 'company', 'requester', 'tag', 'title', 'sla', 'created_from', 'created_to', 'updated_from', 'updated_to', 'sort'];
const SLA_STATES = [['breached', 'Breached'], ['due_soon', 'Due soon'], ['ok', 'On time']];

/** Columns: [key, heading, the API's sort field or null]. */
const COLUMNS = [
  ['number', '#', 'created'],
  ['title', 'Title', 'title'],
  ['requester', 'Requester', 'requester'],
  ['status', 'Status', 'status'],
  ['priority', 'Priority', 'priority'],
  ['assignee', 'Assignee', 'assignee'],
  ['sla', 'SLA due', 'sla_due'],
  ['updated', 'Updated', 'updated'],
];

export class ListView {
  /**
   * @param {object} options
   * @param {import('./store.js').TicketStore} options.store changes to it make the list read again
   * @param {URLSearchParams} options.params the question, from the address
   * @param {Array<{id,name}>} options.queues
   * @param {Array<string>} options.teams
   * @param {import('./presence.js').TicketWatchers} options.watchers who is on which ticket
   */
  constructor({ store, params, queues, teams, watchers }) {
    this.store = store;
    this.watchers = watchers;
    this.queues = queues;
    this.teams = teams;
    this.query = {};
    for (const key of FILTERS) if (params.get(key)) this.query[key] = params.get(key);
    this.limit = Math.min(200, Math.max(1, Number(params.get('limit')) || PAGE));
    this.cursors = [undefined]; // the cursor of each page read so far
    this.page = 0;
    this.element = this.render();
    this.onChange = () => this.soon();
    store.addEventListener('change', this.onChange);
    this.load();
    if (isStaff()) this.loadViews();
  }

  destroy() {
    this.store.removeEventListener('change', this.onChange);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.recountTimer);
  }

  /** The rows' title links, for the j/k keys. */
  navItems() {
    return [...this.rows.querySelectorAll('[data-testid="row-title"]')];
  }

  render() {
    this.rows = h('tbody', { testid: 'list-rows' });
    this.head = h('tr', {});
    this.status = h('p', { class: 'list-status', testid: 'list-status', role: 'status' });
    this.prev = h('button', { type: 'button', class: 'button small', testid: 'page-prev', text: '← Previous page', on: { click: () => this.turn(-1) } });
    this.next = h('button', { type: 'button', class: 'button small', testid: 'page-next', text: 'Next page →', on: { click: () => this.turn(1) } });
    this.sidebar = h('nav', { class: 'views panel', 'aria-labelledby': 'views-title', testid: 'views' }, h('h2', { id: 'views-title', text: 'Saved views' }), h('p', { class: 'loading', text: 'Loading…' }));
    return h(
      'section',
      { class: 'list-view', 'aria-labelledby': 'list-title', testid: 'list-view' },
      h('div', { class: 'view-head' }, h('h1', { id: 'list-title', text: this.query.q ? 'Search' : 'Tickets' })),
      h(
        'div',
        { class: 'list-grid' },
        isStaff() ? this.sidebar : null,
        h(
          'div',
          { class: 'list-main' },
          this.filterForm(),
          h('div', { class: 'table-wrap' }, h('table', { class: 'ticket-table', testid: 'ticket-table' }, h('caption', { class: 'visually-hidden', text: 'Tickets' }), h('thead', {}, this.head), this.rows)),
          h('div', { class: 'pager', role: 'group', 'aria-label': 'Pages' }, this.prev, this.status, this.next),
        ),
      ),
    );
  }

  // ---- the question ---------------------------------------------------------------

  filterForm() {
    const field = (text, control) => h('div', { class: 'field' }, h('label', { for: control.id, text }), control);
    const input = (key, type = 'text') => h('input', { type, id: uid(key), testid: `filter-${key}`, value: type === 'date' ? (this.query[key] ?? '').slice(0, 10) : this.query[key] ?? '', dataset: { key } });
    const choose = (key, options) => select(options, this.query[key] ?? '', { id: uid(key), testid: `filter-${key}`, dataset: { key } });
    const staff = isStaff();
    const memberOptions = [...new Map(this.teams.flatMap((team) => membersOf(team)).map((m) => [m.id, m])).values()].map((m) => [m.id, m.name ?? m.id]);
    const form = h(
      'form',
      { class: 'filters panel', testid: 'filters', role: 'search', 'aria-label': 'Filter the tickets' },
      h('div', { class: 'filter-row' },
        field('Search', input('q', 'search')),
        this.checks('status', 'Status', STATUSES.map((s) => [s, statusLabel(s)])),
        this.checks('priority', 'Priority', PRIORITIES.map((p) => [p, priorityLabel(p)])),
        staff ? this.checks('sla', 'SLA', SLA_STATES) : null,
      ),
      h('details', { class: 'more-filters', open: FILTERS.slice(3).some((k) => k !== 'sort' && k !== 'sla' && this.query[k]) },
        h('summary', { text: 'More filters' }),
        h('div', { class: 'filter-row' },
          staff ? field('Queue', choose('queue', [['', 'Any queue'], ...this.queues.map((q) => [q.id, q.name ?? q.id])])) : null,
          staff ? field('Team', choose('team', [['', 'Any team'], ...this.teams.map((t) => [t, t])])) : null,
          field('Assignee', choose('assignee', [['', 'Anyone'], ['me', 'Me'], ['none', 'Nobody'], ...memberOptions])),
          field('Company', input('company')),
          field('Requester', input('requester')),
          staff ? field('Tag', input('tag')) : null,
          field('Title contains', input('title')),
          field('Opened from', input('created_from', 'date')),
          field('Opened before', input('created_to', 'date')),
          field('Changed from', input('updated_from', 'date')),
          field('Changed before', input('updated_to', 'date')),
        ),
      ),
    );
    form.addEventListener('change', (event) => this.edited(event.target));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.edited(form.querySelector('[data-key="q"]'));
    });
    return form;
  }

  /** A group of checkboxes for a comma-separated parameter. */
  checks(key, legend, options) {
    const chosen = new Set((this.query[key] ?? '').split(',').filter(Boolean));
    return h(
      'fieldset',
      { class: 'checks', testid: `filter-${key}` },
      h('legend', { text: legend }),
      options.map(([value, text]) => {
        const box = h('input', { type: 'checkbox', id: uid(key), value, checked: chosen.has(value), dataset: { key, multi: '' } });
        return h('span', { class: 'check' }, box, h('label', { for: box.id, text }));
      }),
    );
  }

  /** A filter control changed: the new question, from page one. */
  edited(control) {
    const key = control?.dataset.key;
    if (!key) return;
    if ('multi' in control.dataset) {
      const values = [...this.element.querySelectorAll(`input[data-key="${key}"]:checked`)].map((box) => box.value);
      this.set(key, values.join(','));
    } else if (control.type === 'date') {
      this.set(key, control.value ? `${control.value}T00:00:00Z` : '');
    } else {
      this.set(key, control.value.trim());
    }
    this.activeView = null;
    this.restart();
  }

  set(key, value) {
    if (value) this.query[key] = value;
    else delete this.query[key];
    // Relevance needs a search; without one the API's default order applies.
    if (key === 'q' && !value && /relevance/.test(this.query.sort ?? '')) delete this.query.sort;
  }

  sortBy(field) {
    const current = this.query.sort ?? (this.query.q ? '-relevance' : '-created');
    this.query.sort = current === `-${field}` ? field : `-${field}`;
    this.restart();
  }

  restart() {
    this.cursors = [undefined];
    this.page = 0;
    // The address holds the question (without starting a new page view).
    const search = new URLSearchParams(this.query);
    if (this.limit !== PAGE) search.set('limit', String(this.limit));
    history.replaceState(null, '', `#/list${search.size ? `?${search}` : ''}`);
    this.element.querySelector('#list-title').textContent = this.query.q ? 'Search' : 'Tickets';
    this.load();
    this.markActiveView();
  }

  // ---- the answer -----------------------------------------------------------------

  turn(step) {
    const page = this.page + step;
    if (page < 0 || page >= this.cursors.length) return;
    this.page = page;
    this.load();
  }

  /** Reads the list again soon (a change arrived), and the views' counts. */
  soon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.load(), REFRESH_MS);
    if (isStaff()) this.recountSoon();
  }

  async load() {
    const asked = JSON.stringify([this.query, this.page]);
    this.asked = asked;
    let answer;
    try {
      answer = await api.listTickets({ ...this.query, limit: this.limit, cursor: this.cursors[this.page] });
    } catch (error) {
      if (this.asked === asked) replace(this.status, h('span', { class: 'form-error', text: `Not loaded: ${error.detail || error.message}` }));
      return;
    }
    if (this.asked !== asked) return; // a newer question was asked meanwhile
    this.cursors[this.page + 1] = answer.next_cursor ?? undefined;
    this.cursors.length = answer.next_cursor ? this.page + 2 : this.page + 1;
    this.show(answer.items);
  }

  /** The watchers changed (a queue's `presence_counts`). */
  onWatchers() {
    for (const row of this.rows.querySelectorAll('[data-testid="list-row"]')) this.watchers.show(row, row.dataset.ticketId);
  }

  /** A ticket of the page shown (for the `a` key). */
  listed(id) {
    return this.items?.get(id);
  }

  show(items) {
    this.items = new Map(items.map((t) => [t.id, t]));
    const focused = this.rows.contains(document.activeElement) ? document.activeElement.dataset.ticketId : null;
    this.renderHead();
    replace(this.rows, items.length ? items.map((t) => this.row(t)) : h('tr', {}, h('td', { colspan: String(COLUMNS.length), class: 'empty', text: 'No ticket matches.' })));
    this.onWatchers();
    if (focused) this.rows.querySelector(`[data-testid="row-title"][data-ticket-id="${focused}"]`)?.focus();
    const first = this.page * this.limit + 1;
    const more = this.cursors.length > this.page + 1;
    this.status.textContent = items.length ? `Page ${this.page + 1}: tickets ${first}–${first + items.length - 1}${more ? ', more on the next page' : ', the last page'}` : this.page ? 'No more tickets.' : '';
    this.prev.disabled = this.page === 0;
    this.next.disabled = !more;
  }

  renderHead() {
    const sort = this.query.sort ?? (this.query.q ? '-relevance' : '-created');
    const field = sort.replace(/^-/, '');
    replace(
      this.head,
      COLUMNS.map(([key, heading, sortField]) => {
        if (!sortField || (sortField === 'sla_due' && !isStaff())) return h('th', { scope: 'col', text: heading });
        const active = field === sortField;
        const direction = sort.startsWith('-') ? 'descending' : 'ascending';
        return h(
          'th',
          { scope: 'col', 'aria-sort': active ? direction : null },
          h('button', { type: 'button', class: 'sort-button', testid: `sort-${key}`, on: { click: () => this.sortBy(sortField) } }, heading, h('span', { class: 'sort-mark', 'aria-hidden': 'true', text: active ? (direction === 'ascending' ? ' ▲' : ' ▼') : '' })),
        );
      }),
    );
  }

  row(t) {
    return h(
      'tr',
      { testid: 'list-row', dataset: { ticketId: t.id, number: String(t.number), status: t.status, priority: t.priority, requester: t.requester_id, assignee: t.assignee_id ?? '' } },
      h('td', { class: 'num', text: ticketRef(t) }),
      h(
        'td',
        { class: 'title-cell' },
        h('a', { href: `#/tickets/${t.id}`, testid: 'row-title', dataset: { ticketId: t.id }, text: t.title }),
        ' ',
        h('span', { class: 'watchers', testid: 'row-watchers', hidden: true }),
        t.snippet ? h('p', { class: 'snippet', testid: 'snippet' }, snippetNodes(t.snippet)) : null,
      ),
      h('td', { text: nameOf(t.requester_id) }),
      h('td', {}, h('span', { class: `status-badge status-${t.status}`, text: statusLabel(t.status) })),
      h('td', {}, h('span', { class: `badge priority-${t.priority}`, text: priorityLabel(t.priority) })),
      h('td', { testid: 'row-assignee', text: t.assignee_id ? nameOf(t.assignee_id) : 'Unassigned' }),
      h('td', { class: 'sla-cell' }, t.sla?.due_at ? h('time', { datetime: t.sla.due_at, text: relative(t.sla.due_at) }) : '–', ' ', slaBadge(t)),
      h('td', {}, h('time', { datetime: t.updated_at, text: relative(t.updated_at) })),
    );
  }

  // ---- saved views ----------------------------------------------------------------

  async loadViews() {
    try {
      this.views = await api.views();
    } catch (error) {
      replace(this.sidebar, h('h2', { id: 'views-title', text: 'Saved views' }), h('p', { class: 'form-error', text: `Not loaded: ${error.detail || error.message}` }));
      return;
    }
    this.renderViews();
    this.recount();
  }

  renderViews() {
    this.viewLinks = new Map();
    const items = this.views.map((view) => {
      const count = h('span', { class: 'count', testid: 'view-count', text: '…' });
      const link = h('a', { href: '#/list', testid: 'view-link', dataset: { viewId: view.id }, on: { click: (event) => this.useView(event, view) } }, h('span', { class: 'view-name', text: view.name }), ' ', count);
      this.viewLinks.set(view.id, { link, count });
      const remove = view.owner_id === user.id ? h('button', { type: 'button', class: 'button ghost small', 'aria-label': `Delete the view ${view.name}`, text: '×', on: { click: () => this.removeView(view) } }) : null;
      return h('li', { dataset: { viewId: view.id } }, link, view.team_id ? h('span', { class: 'hint', text: ` · ${view.team_id}` }) : null, remove);
    });
    const name = h('input', { type: 'text', id: uid('view-name'), required: true, maxlength: '200', testid: 'view-name' });
    const share = this.teams.length && user.role !== 'analyst' ? h('input', { type: 'checkbox', id: uid('share'), testid: 'view-share' }) : null;
    const save = h(
      'form',
      { class: 'save-view', testid: 'save-view' },
      h('label', { for: name.id, text: 'Save this list as' }),
      name,
      share ? h('span', { class: 'check' }, share, h('label', { for: share.id, text: `Share with ${this.teams[0]}` })) : null,
      h('button', { type: 'submit', class: 'button small', dataset: { needsOnline: '' }, text: 'Save view' }),
    );
    save.addEventListener('submit', (event) => {
      event.preventDefault();
      this.saveView(name.value, share?.checked ? this.teams[0] : null);
    });
    replace(this.sidebar, h('h2', { id: 'views-title', text: 'Saved views' }), h('ul', { class: 'view-list' }, items.length ? items : h('li', { class: 'hint', text: 'No saved views yet.' })), save);
    this.markActiveView();
  }

  useView(event, view) {
    event.preventDefault();
    this.query = { ...view.query };
    this.activeView = view.id;
    this.element.querySelector('[data-testid="filters"]').replaceWith(this.filterForm());
    this.restart();
  }

  markActiveView() {
    for (const [id, { link }] of this.viewLinks ?? []) {
      if (id === this.activeView) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  recountSoon() {
    if (this.recountTimer) return;
    this.recountTimer = setTimeout(() => {
      this.recountTimer = null;
      this.recount();
    }, RECOUNT_MS);
  }

  async recount() {
    try {
      for (const { id, count } of await api.viewCounts()) {
        const entry = this.viewLinks?.get(id);
        if (entry) {
          entry.count.textContent = String(count);
          entry.link.dataset.count = String(count);
        }
      }
    } catch {
      /* the next change counts again */
    }
  }

  async saveView(name, teamId) {
    try {
      await api.saveView({ name: name.trim(), team_id: teamId, query: this.query });
      toast(`“${name.trim()}” is in your saved views.`, { kind: 'success', title: 'View saved', timeout: 4000 });
      this.loadViews();
    } catch (error) {
      toastError('View not saved', error);
    }
  }

  async removeView(view) {
    try {
      await api.deleteView(view.id);
      this.loadViews();
    } catch (error) {
      toastError('View not deleted', error);
    }
  }
}
