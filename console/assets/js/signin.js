// Signing in: paste a token, or, when the server runs in demo mode, pick a
// demo user. Also the demo banner with the "simulate activity" switch,
// shown on every page while in demo mode.

import * as api from './api.js';
import { h, label, uid } from './dom.js';
import { toast, toastError } from './toast.js';

/** The demo users when the server is in demo mode, otherwise null. */
export async function detectDemo() {
  try {
    return await api.demoUsers();
  } catch {
    return null; // 404: not a demo server (or it cannot be reached yet)
  }
}

const ROLE_ORDER = { admin: 0, agent: 1, analyst: 2, customer: 3 };

/**
 * The sign-in page. `onToken(token)` signs in and throws on refusal;
 * `notice` ({text, testid}) explains why we are here (e.g. the session expired).
 */
export function signInView({ demoUsers, onToken, notice }) {
  const message = h('p', { class: 'form-error', role: 'alert', testid: 'signin-error' });
  const signInWith = async (token) => {
    message.textContent = '';
    try {
      await onToken(token);
    } catch (error) {
      message.textContent = error.code === 'token_expired' ? 'This token has expired.' : `Sign-in refused: ${error.detail || error.message}`;
    }
  };

  const tokenInput = h('textarea', { id: uid('token'), name: 'token', rows: '4', required: true, spellcheck: 'false', autocomplete: 'off', testid: 'token-input', 'aria-describedby': 'token-hint' });
  const form = h(
    'form',
    { class: 'panel', testid: 'token-form', 'aria-labelledby': 'paste-title' },
    h('h2', { id: 'paste-title', text: 'Paste a token' }),
    h('label', { for: tokenInput.id, class: 'field-label', text: 'Access token (JWT)' }),
    tokenInput,
    h('p', { class: 'hint', id: 'token-hint', text: 'Mint one with `bomizzel token --sub ID --role agent`. It is kept in this browser until you sign out.' }),
    h('button', { type: 'submit', class: 'button primary', testid: 'token-submit', text: 'Sign in' }),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    signInWith(tokenInput.value);
  });

  let demoPanel = null;
  if (demoUsers?.length) {
    const sorted = [...demoUsers].sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.id.localeCompare(b.id));
    demoPanel = h(
      'section',
      { class: 'panel demo-users', testid: 'demo-users', 'aria-labelledby': 'demo-title' },
      h('h2', { id: 'demo-title', text: 'Sign in as' }),
      h('p', { class: 'hint', text: 'Demo mode: pick anyone; a one-hour token is minted for them.' }),
      h(
        'ul',
        { class: 'user-list' },
        sorted.map((u) =>
          h(
            'li',
            {},
            h(
              'button',
              {
                type: 'button',
                class: 'user-button',
                testid: `signin-as-${u.id}`,
                on: {
                  click: async () => {
                    try {
                      const answer = await api.demoLogin(u.id);
                      await signInWith(answer.token);
                    } catch (error) {
                      message.textContent = `Demo sign-in failed: ${error.detail || error.message}`;
                    }
                  },
                },
              },
              h('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(u.name ?? u.id) }),
              h('span', { class: 'user-name', text: u.name ?? u.id }),
              h('span', { class: `role role-${u.role}`, text: label(u.role) }),
              h('span', { class: 'user-where', text: u.company_id ? `customer of ${u.company_id}` : (u.team_ids ?? []).join(', ') }),
            ),
          ),
        ),
      ),
    );
  }

  return h(
    'section',
    { class: 'signin-view', testid: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in to Bomizzel' }),
    notice ? h('p', { class: 'notice', role: 'alert', testid: notice.testid, text: notice.text }) : null,
    message,
    h('div', { class: 'signin-panels' }, demoPanel, form),
  );
}

export function initials(name) {
  return String(name)
    .split(/[\s._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join('');
}

/** The loud banner of demo mode, with the simulated-activity switch. */
export function demoBanner() {
  const toggle = h('input', { type: 'checkbox', role: 'switch', id: uid('sim'), testid: 'simulate-switch' });
  const rate = h('input', { type: 'number', id: uid('rate'), min: '1', max: '600', value: '30', inputmode: 'numeric', testid: 'simulate-rate' });
  const state = h('span', { class: 'sim-state', testid: 'simulate-state', 'aria-live': 'polite' });
  const show = (sim) => {
    toggle.checked = sim.running;
    rate.value = String(sim.per_minute);
    state.textContent = sim.running ? `${sim.per_minute} changes a minute` : 'off';
  };
  const apply = async () => {
    const perMinute = Math.min(600, Math.max(1, Math.round(Number(rate.value) || 30)));
    try {
      show(await api.setSimulation(toggle.checked, perMinute));
      toast(toggle.checked ? `Demo users now make about ${perMinute} changes a minute.` : 'Simulated activity stopped.', { kind: 'info', timeout: 3000 });
    } catch (error) {
      toastError('Simulation not changed', error);
    }
  };
  toggle.addEventListener('change', apply);
  rate.addEventListener('change', () => {
    if (toggle.checked) apply();
  });
  api.simulation().then(show, () => {});
  return h(
    'aside',
    { class: 'demo-banner', testid: 'demo-banner', 'aria-label': 'Demo mode' },
    h('strong', { class: 'demo-flag', text: 'Demo mode' }),
    h('span', { class: 'demo-text', text: 'Sample data; anyone may sign in as any demo user.' }),
    h(
      'div',
      { class: 'sim' },
      h('span', { class: 'switch' }, toggle, h('label', { for: toggle.id, text: 'Simulate activity' })),
      h('label', { for: rate.id, class: 'rate-label', text: 'per minute' }),
      rate,
      state,
    ),
  );
}
