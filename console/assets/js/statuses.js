// The ticket statuses and priorities as the server names them, the words
// people read for them, and the server's status machine, so the console
// offers only moves it accepts.

export const STATUSES = ['open', 'in_progress', 'waiting', 'resolved', 'closed'];
export const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
export const PRIORITY_RANK = { low: 1, medium: 2, high: 3, urgent: 4 };

/** The one place a status or priority gets its human words. */
const WORDS = {
  open: 'Open',
  in_progress: 'In progress',
  waiting: 'Waiting',
  resolved: 'Resolved',
  closed: 'Closed',
  urgent: 'Urgent',
  high: 'High',
  medium: 'Medium',
  low: 'Low',
};
export const statusLabel = (status) => WORDS[status] ?? String(status ?? '');
export const priorityLabel = (priority) => WORDS[priority] ?? String(priority ?? '');

/** domain/src/status.rs: from each status, the statuses it may change to. */
const TRANSITIONS = {
  open: ['in_progress', 'waiting', 'resolved', 'closed'],
  in_progress: ['open', 'waiting', 'resolved', 'closed'],
  waiting: ['open', 'in_progress', 'resolved', 'closed'],
  resolved: ['open', 'in_progress', 'closed'],
  closed: ['open'],
};

export const canMove = (from, to) => TRANSITIONS[from]?.includes(to) ?? false;

/** "#42": how people name a ticket (its number), or its title while the number is unknown. */
export const ticketRef = (ticket) => (ticket?.number ? `#${ticket.number}` : `“${ticket?.title ?? 'a ticket'}”`);
