// What the connection's state means for the person at the console: the
// header says live, catching up, or "Reconnecting in 7 s" counting down
// with "Retry now"; offline, a banner says so and every control that would
// send something is disabled (and says why) instead of failing one by one.
// Controls that send mark themselves with `data-needs-online`.

import { h } from './dom.js';

const TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  joining: 'Catching up…',
  live: 'Live',
  offline: 'Offline',
  expired: 'Session expired',
};
const OFFLINE_TEXT = 'You are offline. Nothing can be saved until the connection is back; changes made meanwhile will show then.';

export class ConnectionStatus {
  /** @param {{live: import('./live.js').LiveClient, bannerSlot: HTMLElement}} options */
  constructor({ live, bannerSlot }) {
    this.live = live;
    this.text = h('span', { class: 'connection-text', text: TEXT.connecting });
    this.retry = h('button', { type: 'button', class: 'button small retry', testid: 'retry-now', hidden: true, text: 'Retry now', on: { click: () => live.connectNow() } });
    this.element = h(
      'span',
      { class: 'connection', testid: 'connection', dataset: { state: 'connecting' } },
      h('span', { class: 'connection-state', role: 'status', 'aria-live': 'polite' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), this.text),
      this.retry,
    );
    this.banner = h('p', { class: 'offline-banner', id: 'offline-banner', testid: 'offline-banner', role: 'alert', hidden: true, text: OFFLINE_TEXT });
    bannerSlot.after(this.banner);
    this.disabled = new Set();
    this.observer = new MutationObserver(() => this.disableControls());
    this.onState = (event) => this.show(event.detail);
    live.addEventListener('state', this.onState);
  }

  destroy() {
    this.live.removeEventListener('state', this.onState);
    clearInterval(this.ticker);
    this.setOffline(false);
    this.banner.remove();
  }

  show({ state, retryInMs }) {
    this.element.dataset.state = state;
    clearInterval(this.ticker);
    this.retry.hidden = state !== 'reconnecting';
    if (state === 'reconnecting' && retryInMs) {
      const due = Date.now() + retryInMs;
      const tick = () => {
        this.text.textContent = `Reconnecting in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))} s`;
      };
      tick();
      this.ticker = setInterval(tick, 250);
    } else {
      this.text.textContent = state === 'reconnecting' ? 'Reconnecting…' : TEXT[state] ?? state;
    }
    this.setOffline(state === 'offline');
  }

  setOffline(offline) {
    this.banner.hidden = !offline;
    document.body.classList.toggle('is-offline', offline);
    if (offline) {
      this.disableControls();
      this.observer.observe(document.body, { childList: true, subtree: true });
    } else {
      this.observer.disconnect();
      for (const control of this.disabled) {
        control.disabled = false;
        control.removeAttribute('aria-describedby');
      }
      this.disabled.clear();
    }
  }

  /** Disables every control that sends (new ones too, while offline). */
  disableControls() {
    for (const control of document.querySelectorAll('[data-needs-online]:not(:disabled)')) {
      control.disabled = true;
      control.setAttribute('aria-describedby', this.banner.id);
      this.disabled.add(control);
    }
  }
}
