// The customer's page: their company's tickets with live status, and a form
// to open a new one. Ticket details (public comments only, as the API
// sends them) are the shared detail page.

import * as api from './api.js';
import { createdMs, h, label, replace, shortDuration, uid } from './dom.js';
import { nameOf, user } from './session.js';
import { toast, toastError } from './toast.js';

export class CustomerView {
  constructor({ store, queues, activity }) {
    this.store = store;
    this.queues = queues;
    this.activity = activity;
    this.rows = new Map();
    this.showClosed = false;
    this.element = this.render();
    this.onChange = (event) => this.changed(event.detail);
    store.addEventListener('change', this.onChange);
    this.fill();
  }

  destroy() {
    this.store.removeEventListener('change', this.onChange);
  }

  render() {
    this.list = h('ul', { class: 'ticket-rows', testid: 'customer-tickets', 'aria-labelledby': 'my-title' });
    this.empty = h('p', { class: 'hint', text: 'No tickets yet. Open one with the form.' });
    const closed = h('input', { type: 'checkbox', id: uid('closed'), on: { change: (e) => { this.showClosed = e.target.checked; this.fill(); } } });
    return h(
      'section',
      { class: 'customer-view', 'aria-labelledby': 'my-title' },
      h(
        'div',
        { class: 'view-head' },
        h('h1', { id: 'my-title', text: 'Your tickets' }),
        h('p', { class: 'hint', text: `Tickets of ${user.company_id}; statuses change here as the support team works.` }),
        // On a phone the form is below the list: a way to it without scrolling past every ticket.
        h('button', { type: 'button', class: 'button small jump-to-form', text: 'Open a new ticket', on: { click: () => { this.titleInput.scrollIntoView({ block: 'center' }); this.titleInput.focus(); } } }),
      ),
      h(
        'div',
        { class: 'customer-grid' },
        h(
          'div',
          { class: 'customer-list' },
          h('div', { class: 'toolbar' }, h('span', { class: 'field inline check' }, closed, h('label', { for: closed.id, text: 'Show closed tickets' }))),
          this.empty,
          this.list,
          this.activity.element,
        ),
        this.form(),
      ),
    );
  }

  form() {
    const titleError = h('p', { class: 'form-error', id: uid('title-error'), role: 'alert', testid: 'new-title-error' });
    const title = h('input', { type: 'text', id: uid('title'), required: true, maxlength: '200', autocomplete: 'off', testid: 'new-title', 'aria-describedby': titleError.id });
    this.titleInput = title;
    // Said on the page (not only in the browser's bubble), and also for a
    // title of spaces, which the browser's `required` lets through.
    const titleMissing = () => {
      const missing = !title.value.trim();
      titleError.textContent = missing ? 'Give the ticket a title: a few words that say what is wrong.' : '';
      if (missing) title.setAttribute('aria-invalid', 'true');
      else title.removeAttribute('aria-invalid');
      return missing;
    };
    title.addEventListener('input', () => {
      if (titleError.textContent) titleMissing();
    });
    const description = h('textarea', { id: uid('description'), rows: '5', testid: 'new-description' });
    const queue = h('select', { id: uid('queue'), required: true, testid: 'new-queue' }, this.queues.map((q) => h('option', { value: q.id, text: q.name ?? q.id })));
    const submit = h('button', { type: 'submit', class: 'button primary', testid: 'new-submit', dataset: { needsOnline: '' }, text: 'Open ticket' });
    const form = h(
      'form',
      { class: 'panel new-ticket', testid: 'new-ticket-form', 'aria-labelledby': 'new-title-heading', novalidate: true },
      h('h2', { id: 'new-title-heading', text: 'Open a ticket' }),
      h('div', { class: 'field' }, h('label', { for: title.id, class: 'field-label', text: 'Title' }), title, titleError),
      h('div', { class: 'field' }, h('label', { for: description.id, class: 'field-label', text: 'What happened?' }), description),
      h('div', { class: 'field' }, h('label', { for: queue.id, class: 'field-label', text: 'Topic' }), queue),
      submit,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (titleMissing()) {
        title.focus();
        return;
      }
      submit.disabled = true;
      try {
        const ticket = await api.createTicket({ title: title.value.trim(), description: description.value.trim(), queue_id: queue.value });
        this.store.put(ticket);
        form.reset();
        toast(`“${ticket.title}” is open; the team has been told.`, { kind: 'success', title: 'Ticket opened', timeout: 4000 });
        this.rows.get(ticket.id)?.querySelector('a')?.focus();
      } catch (error) {
        toastError('Ticket not opened', error);
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  shows(ticket) {
    return this.showClosed || ticket.status !== 'closed';
  }

  fill() {
    this.rows.clear();
    const tickets = this.store.all().filter((t) => this.shows(t)).sort((a, b) => createdMs(b) - createdMs(a));
    replace(this.list, tickets.map((t) => this.remember(this.row(t))));
    this.empty.hidden = tickets.length > 0;
  }

  remember(row) {
    this.rows.set(row.dataset.ticketId, row);
    return row;
  }

  changed({ kind, ticket }) {
    if (kind === 'reset') return this.fill();
    const old = this.rows.get(ticket.id);
    if (kind === 'removed' || !this.shows(ticket)) {
      old?.remove();
      this.rows.delete(ticket.id);
    } else if (old) {
      const row = this.remember(this.row(ticket));
      old.replaceWith(row);
      if (old.dataset.status !== ticket.status) row.classList.add('flash');
    } else {
      const row = this.remember(this.row(ticket));
      row.classList.add('flash');
      // Newest first: a new ticket goes where its creation time puts it.
      const after = [...this.list.children].find((other) => createdMs(this.store.get(other.dataset.ticketId) ?? {}) < createdMs(ticket));
      this.list.insertBefore(row, after ?? null);
    }
    this.empty.hidden = this.list.children.length > 0;
    return undefined;
  }

  row(t) {
    const created = createdMs(t);
    return h(
      'li',
      { class: 'ticket-row', testid: 'customer-ticket', dataset: { ticketId: t.id, status: t.status } },
      h('a', { href: `#/tickets/${t.id}`, class: 'ticket-row-title', text: t.title }),
      h('span', { class: `status-badge status-${t.status}`, testid: 'customer-status', text: label(t.status) }),
      h(
        'span',
        { class: 'ticket-row-meta' },
        `${label(t.priority)} priority · `,
        t.assignee_id ? `with ${nameOf(t.assignee_id)}` : 'waiting for an agent',
        ' · opened ',
        h('time', { datetime: new Date(created).toISOString(), text: `${shortDuration((Date.now() - created) / 1000)} ago` }),
      ),
    );
  }
}
