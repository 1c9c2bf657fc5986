// Changing a ticket on purpose: the status, priority and assignee pickers
// of the board, the list and the ticket page all come from here, so they
// behave alike. A change is sent only when chosen (Enter or a click), is
// confirmed with a toast that offers "Undo", and taking a colleague's
// ticket asks first.

import * as api from './api.js';
import { confirmChange } from './dialog.js';
import { membersOf } from './directory.js';
import { MenuButton } from './menu.js';
import { nameOf, user } from './session.js';
import { canMove, PRIORITIES, priorityLabel, STATUSES, statusLabel, ticketRef } from './statuses.js';
import { toast, toastError } from './toast.js';

/** Sends a command and keeps its answer; a refusal is said in a toast. The answer, or null. */
async function send(store, failure, command) {
  try {
    const view = await command();
    if (view) store.put(view);
    return view;
  } catch (error) {
    toastError(failure, error);
    return null;
  }
}

/** The confirmation of a change, with "Undo" when it can be undone. */
function confirmed(title, message, undo) {
  toast(message, {
    kind: 'success',
    title,
    timeout: 8000,
    testid: 'toast-done',
    action: undo && {
      label: 'Undo',
      run: async () => {
        if (await undo()) toast(`${message.replace(/\.$/, '')}: undone.`, { kind: 'info', title: 'Undone', timeout: 4000, testid: 'toast-undone' });
      },
    },
  });
}

export async function setStatus(store, ticket, to) {
  const from = ticket.status;
  const ref = ticketRef(ticket);
  if (from === to) return;
  const view = await send(store, `${ref} not moved to ${statusLabel(to)}`, () => api.setStatus(ticket.id, to));
  if (!view) return;
  const undo = canMove(to, from) ? () => send(store, 'Not undone', () => api.setStatus(ticket.id, from)) : null;
  confirmed('Status changed', `${ref} is now ${statusLabel(to)}.`, undo);
}

export async function setPriority(store, ticket, to) {
  const from = ticket.priority;
  const ref = ticketRef(ticket);
  if (from === to) return;
  const view = await send(store, `${ref} priority not changed`, () => api.setPriority(ticket.id, to));
  if (!view) return;
  confirmed('Priority changed', `${ref} is now ${priorityLabel(to)} priority.`, () => send(store, 'Not undone', () => api.setPriority(ticket.id, from)));
}

const whom = (id) => (id === user.id ? 'you' : nameOf(id));

/**
 * Assigns `ticket` to `assigneeId` (null: nobody). Taking it from a
 * colleague (someone else holds it) is confirmed first.
 */
export async function assign(store, ticket, assigneeId) {
  const previous = ticket.assignee_id ?? null;
  const ref = ticketRef(ticket);
  if (previous === assigneeId) return;
  if (previous && previous !== user.id) {
    const taker = assigneeId === null ? 'Unassign it' : assigneeId === user.id ? 'Take it' : `Give it to ${nameOf(assigneeId)}`;
    const sure = await confirmChange({
      title: `${ref} belongs to ${nameOf(previous)}`,
      text: `${nameOf(previous)} is working on “${ticket.title}”. ${taker} anyway? They will be told.`,
      confirm: taker,
    });
    if (!sure) return;
  }
  const view = await send(store, `${ref} not assigned`, () => api.assign(ticket.id, assigneeId));
  if (!view) return;
  const taken = view.taken_from ? ` (taken from ${nameOf(view.taken_from)})` : '';
  const message = assigneeId === null ? `${ref} is unassigned${taken}.` : `${ref} is assigned to ${whom(assigneeId)}${taken}.`;
  confirmed('Assignee changed', message, () => send(store, 'Not undone', () => api.assign(ticket.id, previous)));
}

// ---- the pickers ------------------------------------------------------------------

export function statusMenu(store, ticket, testid) {
  return new MenuButton({
    text: statusLabel(ticket.status),
    label: `Status: ${statusLabel(ticket.status)}. Change the status of ${ticketRef(ticket)}`,
    testid,
    role: 'status',
    items: () => STATUSES.map((s) => ({ value: s, text: statusLabel(s), current: s === ticket.status, disabled: s !== ticket.status && !canMove(ticket.status, s) })),
    onChoose: (to) => setStatus(store, ticket, to),
  }).element;
}

export function priorityMenu(store, ticket, testid) {
  return new MenuButton({
    text: priorityLabel(ticket.priority),
    label: `Priority: ${priorityLabel(ticket.priority)}. Change the priority of ${ticketRef(ticket)}`,
    testid,
    role: 'priority',
    items: () => PRIORITIES.map((p) => ({ value: p, text: priorityLabel(p), current: p === ticket.priority })),
    onChoose: (to) => setPriority(store, ticket, to),
  }).element;
}

export function assigneeMenu(store, ticket, testid) {
  const holder = ticket.assignee_id ?? null;
  return new MenuButton({
    text: holder ? nameOf(holder) : 'Unassigned',
    label: `Assignee: ${holder ? nameOf(holder) : 'nobody'}. Assign ${ticketRef(ticket)}`,
    testid,
    role: 'assign',
    items: () => [
      { value: user.id, text: 'Me', current: holder === user.id },
      ...membersOf(ticket.team_id)
        .filter((member) => member.id !== user.id)
        .map((member) => ({ value: member.id, text: member.name ?? member.id, current: holder === member.id })),
      { value: null, text: 'Nobody (unassign)', current: holder === null },
    ],
    onChoose: (to) => assign(store, ticket, to),
  }).element;
}
