// A ticket's page (`#/tickets/<id>`): its fields, its comments with a form
// to add one (Ctrl+Enter sends), its full history with actor and time, and
// for staff "state at version N" by stepping through that history.
// Customers get the same page with what the API gives them (public
// comments only, no internal checkbox) and in their words: no versions,
// their history numbered by the changes they are shown.
//
// Only what the server sent is rendered: the page never guesses at
// comments or fields it was not given.

import * as api from './api.js';
import { assigneeMenu, priorityMenu, statusMenu } from './actions.js';
import { dateTime, h, replace, uid } from './dom.js';
import { isStaff, mayManage, nameOf, user } from './session.js';
import { priorityLabel, statusLabel, ticketRef } from './statuses.js';
import { PresencePanel } from './presence.js';
import { toast, toastError } from './toast.js';

const EVENT_NAMES = {
  TicketCreated: 'Created',
  TicketAssigned: 'Assigned',
  TicketUnassigned: 'Unassigned',
  TicketStatusChanged: 'Status changed',
  TicketPriorityChanged: 'Priority changed',
  TicketUpdated: 'Edited',
  TicketMoved: 'Moved',
  CommentAdded: 'Comment',
};

/** The time a UUIDv7 was minted (comments and tickets get such ids when created). */
function uuidTime(id) {
  const ms = Number.parseInt(String(id).replaceAll('-', '').slice(0, 12), 16);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

export class DetailView {
  constructor({ id, store, live, back, queueName = (q) => q }) {
    this.id = id;
    this.presence = new PresencePanel({ live, ticketId: id });
    this.queueName = queueName;
    this.store = store;
    this.back = back;
    this.comments = new Map();
    this.history = [];
    this.viewing = null; // the version shown in "state at version", or null
    this.element = h('article', { class: 'detail-view', testid: 'ticket-detail', 'aria-labelledby': 'detail-title', dataset: { ticketId: id } }, h('p', { class: 'loading', text: 'Loading the ticket…' }));
    this.onStore = (event) => {
      if (event.detail.ticket?.id === this.id && event.detail.kind !== 'removed') this.showTicket(event.detail.ticket);
    };
    store.addEventListener('change', this.onStore);
    this.load();
  }

  destroy() {
    this.store.removeEventListener('change', this.onStore);
    clearTimeout(this.historyTimer);
    this.presence.destroy();
  }

  onPresence(frame) {
    this.presence.onPresence(frame);
  }

  async load() {
    try {
      const [ticket, comments, history] = await Promise.all([api.ticket(this.id), api.comments(this.id), api.history(this.id)]);
      this.ticket = this.store.put(ticket) ?? ticket;
      for (const comment of comments) this.comments.set(comment.comment_id, comment);
      this.history = history;
      this.render();
    } catch (error) {
      replace(
        this.element,
        h('p', { class: 'notice', role: 'alert', text: error.status === 404 ? 'There is no such ticket, or it is not yours to see.' : `The ticket could not be loaded: ${error.detail || error.message}` }),
        h('a', { href: this.back.href, text: `Back to ${this.back.text}` }),
      );
    }
  }

  /** A live change of this ticket (the caller filters by ticket id). */
  onLive(frame) {
    if (frame.event === 'ticket:commented' && frame.data.comment_id) {
      const data = frame.data;
      if (!this.comments.has(data.comment_id)) {
        this.comments.set(data.comment_id, { comment_id: data.comment_id, author_id: data.author_id, body: data.body, internal: Boolean(data.internal), created_at: uuidTime(data.comment_id) });
        this.renderComments();
      }
    }
    // The history endpoint has actor and time; reading it again (coalesced) is simplest.
    clearTimeout(this.historyTimer);
    this.historyTimer = setTimeout(() => this.reloadHistory(), 250);
  }

  async reloadHistory() {
    try {
      this.history = await api.history(this.id);
      this.renderHistory();
    } catch {
      /* the next change tries again */
    }
  }

  render() {
    const t = this.ticket;
    this.fields = h('div', { class: 'detail-fields' });
    this.actions = h('div', { class: 'detail-actions' });
    this.commentList = h('ol', { class: 'comment-list', testid: 'comments' });
    this.historyList = h('ol', { class: 'history-list', testid: 'history' });
    this.versionPanel = h('section', { class: 'version-panel', testid: 'version-panel', 'aria-labelledby': 'version-title' });
    replace(
      this.element,
      h('p', { class: 'crumbs' }, h('a', { href: this.back.href, testid: 'back', text: `← ${this.back.text}` })),
      h('header', { class: 'detail-head' }, h('span', { class: 'ref', testid: 'detail-number', text: ticketRef(t) }), h('h1', { id: 'detail-title', testid: 'detail-title', text: t.title }), h('span', { class: `status-badge status-${t.status}`, testid: 'detail-status', text: statusLabel(t.status) })),
      this.presence.element,
      h(
        'div',
        { class: 'detail-grid' },
        h(
          'div',
          { class: 'detail-main' },
          h('section', { class: 'panel', 'aria-labelledby': 'desc-title' }, h('h2', { id: 'desc-title', text: 'Description' }), h('p', { class: 'description', testid: 'detail-description', text: t.description || 'No description.' })),
          h('section', { class: 'panel', 'aria-labelledby': 'comments-title' }, h('h2', { id: 'comments-title', text: 'Comments' }), this.commentList, this.commentForm()),
        ),
        h(
          'div',
          { class: 'detail-side' },
          h('section', { class: 'panel', 'aria-labelledby': 'fields-title' }, h('h2', { id: 'fields-title', text: 'Details' }), this.fields, this.actions),
          h('section', { class: 'panel', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title', text: 'History' }), isStaff() ? this.versionPanel : null, this.historyList),
        ),
      ),
    );
    this.showTicket(t);
    this.renderComments();
    this.renderHistory();
    document.title = `${t.title} · Bomizzel`;
  }

  showTicket(ticket) {
    if (!this.fields) return;
    this.ticket = { ...this.ticket, ...ticket };
    const t = this.ticket;
    this.element.querySelector('[data-testid="detail-title"]').textContent = t.title;
    const badge = this.element.querySelector('[data-testid="detail-status"]');
    badge.textContent = statusLabel(t.status);
    badge.className = `status-badge status-${t.status}`;
    badge.dataset.status = t.status;
    this.element.querySelector('[data-testid="detail-description"]').textContent = t.description || 'No description.';
    replace(this.fields, fieldList(t, this.queueName));
    this.renderActions();
  }

  renderActions() {
    const t = this.ticket;
    const keep = this.actions.contains(document.activeElement) ? document.activeElement.dataset.role : null;
    if (mayManage()) {
      replace(
        this.actions,
        h('div', { class: 'field inline' }, h('span', { class: 'field-name', text: 'Status' }), statusMenu(this.store, t, 'detail-status-menu')),
        h('div', { class: 'field inline' }, h('span', { class: 'field-name', text: 'Priority' }), priorityMenu(this.store, t, 'detail-priority-menu')),
        h('div', { class: 'field inline' }, h('span', { class: 'field-name', text: 'Assignee' }), assigneeMenu(this.store, t, 'detail-assignee-menu')),
      );
    } else if (user.role === 'customer' && t.requester_id === user.id) {
      // Customers may close their own ticket or reopen it (docs/permissions.md).
      const next = t.status === 'closed' ? 'open' : 'closed';
      replace(
        this.actions,
        h('button', { type: 'button', class: 'button small', testid: next === 'closed' ? 'close-ticket' : 'reopen-ticket', dataset: { role: 'assign', needsOnline: '' }, text: next === 'closed' ? 'Close this ticket' : 'Reopen this ticket', on: { click: () => this.run('Not changed', () => api.setStatus(t.id, next)) } }),
      );
    } else {
      replace(this.actions);
    }
    if (keep) this.actions.querySelector(`[data-role="${keep}"]`)?.focus();
  }

  /** The ticket this page shows (for the `a` key). */
  currentTicket() {
    return this.ticket;
  }

  /** Puts the focus in the comment box (the `c` key). */
  focusComment() {
    this.commentBody?.focus();
  }

  async run(what, command) {
    try {
      const view = await command();
      if (view) this.store.put(view);
      this.showTicket(view ?? this.ticket);
    } catch (error) {
      toastError(what, error);
      this.renderActions();
    }
  }

  commentForm() {
    const body = h('textarea', { id: uid('comment'), rows: '3', required: true, maxlength: '10000', testid: 'comment-body', 'aria-keyshortcuts': 'Control+Enter' });
    this.commentBody = body;
    const internal = isStaff() ? h('input', { type: 'checkbox', id: uid('internal'), testid: 'comment-internal' }) : null;
    const submit = h('button', { type: 'submit', class: 'button primary', testid: 'comment-submit', dataset: { needsOnline: '' }, text: 'Add comment' });
    const form = h(
      'form',
      { class: 'comment-form', testid: 'comment-form' },
      h('label', { for: body.id, class: 'field-label', text: 'Add a comment' }),
      this.presence.warning,
      body,
      h(
        'div',
        { class: 'form-row' },
        internal ? h('span', { class: 'field inline check' }, internal, h('label', { for: internal.id, text: 'Internal (staff only)' })) : h('span', { class: 'hint', text: 'Your comment is visible to the support team.' }),
        h('span', { class: 'hint', text: 'Ctrl+Enter sends' }),
        submit,
      ),
    );
    // Others on the ticket see that you are replying or writing a note.
    const typing = () => (body.value.trim() ? this.presence.typing(internal?.checked ?? false) : this.presence.stopped());
    body.addEventListener('input', typing);
    body.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (!submit.disabled) form.requestSubmit();
      }
    });
    internal?.addEventListener('change', typing);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = body.value.trim();
      if (!text) return;
      this.presence.stopped();
      submit.disabled = true;
      try {
        const view = await api.addComment(this.id, text, internal?.checked ?? false);
        this.store.put(view);
        body.value = '';
        if (internal) internal.checked = false;
        // The answer does not carry the comment; the list does (with its id, so no double).
        for (const comment of await api.comments(this.id)) this.comments.set(comment.comment_id, comment);
        this.renderComments();
        this.reloadHistory();
        toast('Comment added.', { kind: 'success', timeout: 2500 });
      } catch (error) {
        toastError('Comment not added', error);
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  renderComments() {
    if (!this.commentList) return;
    const comments = [...this.comments.values()].sort((a, b) => (a.position ?? 0) - (b.position ?? 0) || String(a.comment_id).localeCompare(String(b.comment_id)));
    replace(
      this.commentList,
      comments.length
        ? comments.map((c) =>
            h(
              'li',
              { class: `comment${c.internal ? ' internal' : ''}`, testid: c.internal ? 'comment-internal-item' : 'comment-public-item', dataset: { commentId: c.comment_id } },
              h(
                'p',
                { class: 'comment-head' },
                h('strong', { text: nameOf(c.author_id) }),
                c.internal ? h('span', { class: 'badge internal-badge', text: 'Internal' }) : null,
                c.created_at ? h('time', { datetime: c.created_at, text: dateTime(c.created_at) }) : null,
              ),
              h('p', { class: 'comment-body', text: c.body }),
            ),
          )
        : h('li', { class: 'empty', text: 'No comments yet.' }),
    );
  }

  renderHistory() {
    if (!this.historyList) return;
    // Customers count the changes they are shown (the API numbers their
    // entries so), without the word "version" or its staff notation.
    const staff = isStaff();
    replace(
      this.historyList,
      this.history.map((entry, index) =>
        h(
          'li',
          { class: `history-entry${entry.version === this.viewing ? ' current' : ''}`, testid: 'history-entry', dataset: { version: String(entry.version), step: String(index + 1), type: entry.event_type ?? entry.type } },
          staff
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'history-button',
                  'aria-label': `Show the ticket as it was at version ${entry.version}`,
                  'aria-pressed': entry.version === this.viewing ? 'true' : 'false',
                  on: { click: () => this.showVersion(entry.version) },
                },
                h('span', { class: 'version', text: `v${entry.version}` }),
                h('span', { class: 'what', text: describe(entry, this.queueName) }),
              )
            : h('p', { class: 'history-step' }, h('span', { class: 'step', testid: 'history-step', text: `${entry.version}.` }), h('span', { class: 'what', text: describe(entry, this.queueName) })),
          h('p', { class: 'who-when' }, h('span', { text: staff ? `${nameOf(entry.actor)} (${entry.role})` : nameOf(entry.actor) }), ' · ', h('time', { datetime: entry.occurred_at, text: dateTime(entry.occurred_at) })),
        ),
      ),
    );
    if (staff) this.renderVersionPanel();
  }

  async showVersion(version, from = null) {
    const latest = this.history.at(-1)?.version ?? 1;
    if (version === null || version > latest || version < 1) {
      this.viewing = null;
    } else {
      this.viewing = version;
      try {
        this.atVersion = await api.ticket(this.id, version);
      } catch (error) {
        toastError(`Version ${version} not loaded`, error);
        this.viewing = null;
      }
    }
    this.renderHistory();
    // Keep the keyboard where the user is stepping.
    const same = from && this.versionPanel.querySelector(`[data-role="${from}"]:not(:disabled)`);
    (same ?? this.versionPanel.querySelector('.version-now, [data-role="start"]'))?.focus();
  }

  renderVersionPanel() {
    const versions = this.history.map((e) => e.version);
    const latest = versions.at(-1) ?? 1;
    // Step between the versions the history lists (a customer's history
    // leaves out internal comments, and with them their versions).
    const start = versions.at(-2) ?? latest;
    const title = h('h3', { id: 'version-title', text: 'State at version' });
    if (this.viewing === null) {
      replace(
        this.versionPanel,
        title,
        h(
          'p',
          { class: 'hint version-intro' },
          h('button', { type: 'button', class: 'button small', testid: 'version-start', dataset: { role: 'start' }, text: `Show version ${start}`, on: { click: () => this.showVersion(start) } }),
          ' or pick a change below to see the ticket as it was after it.',
        ),
      );
      return;
    }
    const v = this.viewing;
    const at = this.atVersion;
    const index = versions.indexOf(v);
    const older = versions[index - 1];
    const newer = versions[index + 1];
    replace(
      this.versionPanel,
      title,
      h('p', { class: 'version-now', testid: 'version-label', tabindex: '-1', 'aria-live': 'polite' }, `Version ${v} of ${latest}`),
      h(
        'div',
        { class: 'stepper', role: 'group', 'aria-label': 'Step through versions' },
        h('button', { type: 'button', class: 'button small', testid: 'version-prev', dataset: { role: 'older' }, disabled: older === undefined, text: '← Older', on: { click: () => this.showVersion(older, 'older') } }),
        h('button', { type: 'button', class: 'button small', testid: 'version-next', dataset: { role: 'newer' }, disabled: newer === undefined, text: 'Newer →', on: { click: () => this.showVersion(newer, 'newer') } }),
        h('button', { type: 'button', class: 'button small ghost-dark', testid: 'version-close', text: 'Back to now', on: { click: () => this.showVersion(null) } }),
      ),
      h('div', { class: 'version-fields', testid: 'version-fields' }, h('p', { class: 'version-title' }, h('strong', { text: at.title })), fieldList(at, this.queueName)),
    );
  }
}

/** The ticket's fields as a description list. */
function fieldList(t, queueName) {
  const rows = [
    ['Number', t.number ? `#${t.number}` : undefined, 'number'],
    ['Status', statusLabel(t.status), 'status'],
    ['Priority', priorityLabel(t.priority), 'priority'],
    ['Assignee', t.assignee_id ? nameOf(t.assignee_id) : 'Unassigned', 'assignee'],
    ['Queue', t.queue_id && queueName(t.queue_id), 'queue'],
    ['Requester', nameOf(t.requester_id), 'requester'],
    ['Company', t.company_id, 'company'],
    ['Tags', t.tags === undefined ? undefined : t.tags.length ? t.tags.join(', ') : '–', 'tags'],
    ['Version', isStaff() ? String(t.version) : undefined, 'version'],
  ];
  return h('dl', { class: 'fields' }, rows.filter(([, value]) => value !== undefined).map(([name, value, key]) => [h('dt', { text: name }), h('dd', { testid: `field-${key}`, text: value })]));
}

/** One line about a history entry, in words (labels, names, queue names). */
function describe(entry, queueName) {
  const type = entry.event_type ?? entry.type;
  const d = entry.data ?? {};
  switch (type) {
    case 'TicketCreated':
      return `Opened “${d.title}” (${priorityLabel(d.priority)} priority)`;
    case 'TicketAssigned':
      return `Assigned to ${nameOf(d.assignee_id)}`;
    case 'TicketUnassigned':
      return `Unassigned from ${nameOf(d.previous_assignee_id)}`;
    case 'TicketStatusChanged':
      return `Status ${statusLabel(d.from)} → ${statusLabel(d.to)}`;
    case 'TicketPriorityChanged':
      return `Priority ${priorityLabel(d.from)} → ${priorityLabel(d.to)}`;
    case 'TicketUpdated':
      return `Edited the ${['title', 'description', 'tags'].filter((k) => d[k]).join(', ') || 'details'}`;
    case 'TicketMoved':
      return `Moved from ${queueName(d.from_queue_id)} to ${queueName(d.to_queue_id)}`;
    case 'CommentAdded':
      return d.internal ? 'Internal note' : 'Comment';
    default:
      return EVENT_NAMES[type] ?? 'Changed';
  }
}
