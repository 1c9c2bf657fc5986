// Toasts: short messages in a corner that screen readers announce (the
// region is aria-live) and that dismiss themselves after a few seconds,
// unless the pointer or keyboard focus is on them.

import { h } from './dom.js';

const region = () => document.getElementById('toasts');

/**
 * Shows a toast. `kind`: info, success, warning or error (errors are
 * announced assertively). `timeout` 0 keeps it until closed.
 * Returns a function that closes it.
 */
export function toast(message, { kind = 'info', title, timeout = 5000, action, testid = 'toast' } = {}) {
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
  const body = h('div', { class: 'toast-body' }, title ? h('strong', { class: 'toast-title', text: title }) : null, h('span', { text: message }));
  const actionButton = action ? h('button', { type: 'button', class: 'button small', text: action.label }) : null;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', testid, dataset: { kind } }, body, actionButton, close);
  let timer = null;
  const dismiss = () => {
    clearTimeout(timer);
    el.remove();
  };
  const arm = () => {
    clearTimeout(timer);
    if (timeout > 0) timer = setTimeout(dismiss, timeout);
  };
  close.addEventListener('click', dismiss);
  actionButton?.addEventListener('click', () => {
    action.run();
    dismiss();
  });
  // Reading or tabbing to a toast keeps it open.
  el.addEventListener('mouseenter', () => clearTimeout(timer));
  el.addEventListener('mouseleave', arm);
  el.addEventListener('focusin', () => clearTimeout(timer));
  el.addEventListener('focusout', arm);
  const list = region();
  list.append(el);
  // Keep the corner tidy when many arrive at once (simulated activity).
  while (list.children.length > 4) list.firstElementChild.remove();
  arm();
  return dismiss;
}

/** A toast for a failed action, with the API's own explanation. */
export function toastError(what, error) {
  const detail = error?.detail || error?.message || String(error);
  toast(detail, { kind: 'error', title: what, timeout: 8000, testid: 'toast-error' });
}
