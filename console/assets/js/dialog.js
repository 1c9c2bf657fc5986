// A confirmation asked before a change that takes something from someone
// (a colleague's ticket): a modal <dialog> (the browser keeps the focus in
// it and Escape cancels), answered with Confirm or Cancel.

import { h, uid } from './dom.js';

/** Resolves to true when the user confirms. */
export function confirmChange({ title, text, confirm = 'Confirm', testid = 'confirm-dialog' }) {
  const titleId = uid('dlg');
  const textId = uid('dlg');
  const ok = h('button', { type: 'button', class: 'button primary', testid: 'confirm-yes', text: confirm });
  const cancel = h('button', { type: 'button', class: 'button', testid: 'confirm-no', text: 'Cancel' });
  const dialog = h(
    'dialog',
    { class: 'dialog', role: 'alertdialog', 'aria-labelledby': titleId, 'aria-describedby': textId, testid },
    h('h2', { id: titleId, text: title }),
    h('p', { id: textId, text }),
    h('div', { class: 'dialog-buttons' }, cancel, ok),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      done(false);
    });
    dialog.showModal();
    cancel.focus();
  });
}
