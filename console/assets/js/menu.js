// A menu button (the WAI-ARIA "menu button" pattern) for picking one of a
// few values: status, priority, assignee. Nothing is chosen by moving
// through the menu: the arrow keys only move the focus, and a value is
// taken on Enter, Space or a click. (A <select> changes on every arrow key,
// which saved a ticket's status at each press.)

import { h, uid } from './dom.js';

export class MenuButton {
  /**
   * @param {object} options
   * @param {string} options.text what the button says (e.g. "Status: Open")
   * @param {string} options.label its accessible name (e.g. "Status of #12")
   * @param {() => Array<{value, text, current?, disabled?}>} options.items read when it opens
   * @param {(value) => void} options.onChoose called with a chosen item's value
   * @param {string} [options.testid]
   * @param {string} [options.role] the `data-role` that keeps focus across redraws
   */
  constructor({ text, label, items, onChoose, testid, role }) {
    this.items = items;
    this.onChoose = onChoose;
    const menuId = uid('menu');
    this.button = h('button', {
      type: 'button',
      class: 'button small menu-button',
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      'aria-controls': menuId,
      'aria-label': label,
      testid,
      dataset: role ? { role, needsOnline: '' } : { needsOnline: '' },
      text,
    });
    this.menu = h('ul', { class: 'menu', role: 'menu', id: menuId, 'aria-label': label, hidden: true, testid: testid ? `${testid}-menu` : null });
    this.element = h('span', { class: 'menu-wrap' }, this.button, this.menu);
    this.button.addEventListener('click', () => (this.isOpen() ? this.close(true) : this.open(0)));
    this.button.addEventListener('keydown', (event) => this.onButtonKey(event));
    this.menu.addEventListener('keydown', (event) => this.onMenuKey(event));
    this.menu.addEventListener('click', (event) => {
      const item = event.target.closest('[role="menuitemradio"]');
      if (item) this.choose(item);
    });
    this.element.addEventListener('focusout', (event) => {
      if (this.isOpen() && !this.element.contains(event.relatedTarget)) this.close(false);
    });
  }

  isOpen() {
    return !this.menu.hidden;
  }

  /** Opens the menu with the focus on the current item, or on the first (0) or last (-1). */
  open(where) {
    const items = this.items();
    this.menu.replaceChildren(
      ...items.map((item) =>
        h('li', {
          role: 'menuitemradio',
          tabindex: '-1',
          'aria-checked': item.current ? 'true' : 'false',
          'aria-disabled': item.disabled ? 'true' : null,
          testid: 'menu-item',
          dataset: { value: item.value ?? '' },
          text: item.text,
        }),
      ),
    );
    this.menu.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    const all = this.entries();
    const current = all.findIndex((li) => li.getAttribute('aria-checked') === 'true');
    const index = where === -1 ? all.length - 1 : current >= 0 && where === 0 ? current : 0;
    all[index]?.focus();
  }

  close(refocus) {
    this.menu.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    if (refocus) this.button.focus();
  }

  entries() {
    return [...this.menu.querySelectorAll('[role="menuitemradio"]')];
  }

  onButtonKey(event) {
    if (['ArrowDown', 'Enter', ' '].includes(event.key)) {
      event.preventDefault();
      this.open(0);
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      this.open(-1);
    }
  }

  onMenuKey(event) {
    const all = this.entries();
    const at = all.indexOf(document.activeElement);
    const move = (index) => all[(index + all.length) % all.length]?.focus();
    const keys = {
      ArrowDown: () => move(at + 1),
      ArrowUp: () => move(at - 1),
      Home: () => move(0),
      End: () => move(all.length - 1),
      Enter: () => this.choose(all[at]),
      ' ': () => this.choose(all[at]),
      Escape: () => this.close(true),
      Tab: () => this.close(false),
    };
    const act = keys[event.key];
    if (!act) return;
    if (event.key !== 'Tab') event.preventDefault();
    event.stopPropagation();
    act();
  }

  choose(item) {
    if (!item || item.getAttribute('aria-disabled') === 'true') return;
    const unchanged = item.getAttribute('aria-checked') === 'true';
    this.close(true);
    if (!unchanged) this.onChoose(item.dataset.value === '' ? null : item.dataset.value);
  }
}
