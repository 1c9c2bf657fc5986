// "Live activity": the ticket changes that arrived over the live connection,
// newest first, one line per change. It makes the exactly-once promise
// visible: after a reconnect, the changes made meanwhile appear here once.

import { h, replace } from './dom.js';
import { nameOf } from './session.js';
import { priorityLabel, statusLabel, ticketRef } from './statuses.js';

const KEEP = 50;

function describe(name, data, title) {
  const subject = data.number ? `${ticketRef(data)}${title ? ` “${title}”` : ''}` : title ? `“${title}”` : 'a ticket';
  switch (name) {
    case 'ticket:created':
      return `New ticket ${subject}`;
    case 'ticket:assigned':
    case 'user:ticket_assigned':
      return data.assignee_id ? `${subject} assigned to ${nameOf(data.assignee_id)}` : `${subject} unassigned`;
    case 'ticket:status_changed':
      return `${subject}: ${statusLabel(data.from)} → ${statusLabel(data.to)}`;
    case 'ticket:priority_changed':
      return `${subject}: priority ${priorityLabel(data.from)} → ${priorityLabel(data.to)}`;
    case 'ticket:commented':
      return `${data.internal ? 'Internal comment' : 'Comment'} on ${subject} by ${nameOf(data.author_id)}`;
    case 'ticket:updated':
      return 'queue_id' in data && !('title' in data) ? `${subject} moved to another queue` : `${subject} edited`;
    default:
      return `${subject} changed`;
  }
}

export class ActivityList {
  constructor() {
    this.list = h('ol', { class: 'activity-list', testid: 'activity-list' });
    this.count = h('span', { class: 'count', testid: 'activity-total', text: '0' });
    this.total = 0;
    this.element = h(
      'details',
      { class: 'activity', testid: 'activity' },
      h('summary', {}, 'Live activity ', this.count),
      this.list,
      h('p', { class: 'hint', text: 'Changes received live since this page was opened, newest first.' }),
    );
  }

  /** Records one applied change (`frame` as the server sent it). */
  add(frame, title) {
    this.total += 1;
    this.count.textContent = String(this.total);
    const data = frame.data;
    const item = h(
      'li',
      { testid: 'activity-item', dataset: { ticketId: data.ticket_id, version: String(data.version), event: frame.event, offset: String(frame.offset) } },
      h('a', { href: `#/tickets/${data.ticket_id}`, text: describe(frame.event, data, title) }),
      h('time', { datetime: new Date().toISOString(), text: new Date().toLocaleTimeString() }),
    );
    this.list.prepend(item);
    while (this.list.children.length > KEEP) this.list.lastElementChild.remove();
  }

  clear() {
    this.total = 0;
    this.count.textContent = '0';
    replace(this.list);
  }
}
