// Keyboard shortcuts: `?` lists them, `/` goes to the search box, `j`/`k`
// move through the board's cards or the list's rows (Enter opens the one
// with the focus), `c` writes a comment, `a` assigns the ticket to you and
// Escape goes back. None of them act while you type in a field (Ctrl+Enter,
// which sends a comment, belongs to the comment box itself).

import { assign } from './actions.js';
import { h } from './dom.js';
import { mayManage, user } from './session.js';

const SHORTCUTS = [
  ['?', 'Show these shortcuts'],
  ['/', 'Search tickets (type #42 to open ticket 42)'],
  ['j / k', 'Next / previous ticket of the board or list'],
  ['Enter', 'Open the ticket'],
  ['c', 'Write a comment (on a ticket)'],
  ['Ctrl+Enter', 'Send the comment'],
  ['a', 'Assign the ticket to me'],
  ['Esc', 'Back'],
];

/** Whether the key belongs to what has the focus: a field, a menu or a dialog. */
function typing(target) {
  if (!(target instanceof Element)) return false;
  return target.matches('input, textarea, select, [contenteditable=""], [contenteditable="true"]') || Boolean(target.closest('[role="menu"], dialog'));
}

/**
 * Installs the shortcuts. `current()` is the page shown (its optional
 * `navItems()`, `currentTicket()`, `focusComment()`), `search()` the
 * search box, `back()` leaves a ticket's page.
 */
export function installShortcuts({ current, store, search, back }) {
  const handler = (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const page = current();
    const act = {
      '?': () => showHelp(),
      '/': () => search()?.focus(),
      j: () => move(page, 1),
      k: () => move(page, -1),
      c: () => page?.focusComment?.(),
      a: () => assignToMe(page, store),
      Escape: () => back(),
    }[event.key];
    if (!act) return;
    event.preventDefault();
    act();
  };
  document.addEventListener('keydown', handler);
  return () => document.removeEventListener('keydown', handler);
}

function move(page, step) {
  const items = page?.navItems?.() ?? [];
  if (!items.length) return;
  const at = items.indexOf(document.activeElement);
  const next = at < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, at + step));
  for (const item of items) item.closest('[data-ticket-id]:not(a)')?.classList.remove('nav-current');
  items[next].closest('[data-ticket-id]:not(a)')?.classList.add('nav-current');
  items[next].focus();
  items[next].scrollIntoView({ block: 'nearest' });
}

/** The ticket of the page, or of the card or row that has the focus. */
function focusedTicket(page, store) {
  const own = page?.currentTicket?.();
  if (own) return own;
  const id = document.activeElement?.closest('[data-ticket-id]')?.dataset.ticketId;
  return id ? store.get(id) ?? page?.listed?.(id) : null;
}

function assignToMe(page, store) {
  const ticket = focusedTicket(page, store);
  if (ticket && mayManage() && ticket.assignee_id !== user.id) assign(store, ticket, user.id);
}

function showHelp() {
  if (document.querySelector('[data-testid="shortcuts"]')) return;
  const close = h('button', { type: 'button', class: 'button', text: 'Close' });
  const dialog = h(
    'dialog',
    { class: 'dialog', testid: 'shortcuts', 'aria-labelledby': 'shortcuts-title' },
    h('h2', { id: 'shortcuts-title', text: 'Keyboard shortcuts' }),
    h('dl', { class: 'shortcut-list' }, SHORTCUTS.map(([key, what]) => [h('dt', {}, h('kbd', { text: key })), h('dd', { text: what })])),
    h('p', { class: 'hint', text: 'They do nothing while you type in a field.' }),
    h('div', { class: 'dialog-buttons' }, close),
  );
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
