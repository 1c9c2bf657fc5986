// Who is signed in: the token (kept in localStorage so a reload or a second
// tab stays signed in), what it says about the user, and when it expires.

import * as api from './api.js';

const TOKEN_KEY = 'bomizzel.token';

/** Fires `expired` when the token runs out or the server refuses it. */
export const sessionEvents = new EventTarget();

/** The signed-in user: `{id, name, role, company_id, team_ids, queue_ids, exp}`, or null. */
export let user = null;
export let token = null;
let expiryTimer = null;
let expiredNotified = false;

export const isStaff = () => user && user.role !== 'customer';
export const mayManage = () => user && (user.role === 'agent' || user.role === 'admin');

/**
 * The claims of a JWT, read without verifying it: the server verifies; the
 * console only needs `sub`, `role`, `company` and `exp` to arrange itself.
 */
export function claimsOf(jwt) {
  const part = String(jwt).split('.')[1];
  if (!part) throw new Error('this does not look like a token (three dot-separated parts)');
  try {
    const base64 = part.replaceAll('-', '+').replaceAll('_', '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const json = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json);
    if (claims && typeof claims === 'object' && !Array.isArray(claims)) return claims;
  } catch {
    /* said below: the parser's own words ("Unexpected token …") mean nothing to the user */
  }
  throw new Error('this is not a valid token (its middle part does not hold readable claims)');
}

/**
 * Signs in with `jwt`: asks the server who it is (`GET /api/me`), which also
 * proves the token is accepted. Throws ApiError when it is not.
 */
export async function signIn(jwt) {
  const trimmed = jwt.trim().replace(/^Bearer\s+/i, '');
  const claims = claimsOf(trimmed);
  let who;
  try {
    who = await api.me(trimmed);
  } catch (error) {
    // Servers without /api/me: fall back to the token's claims, once a cheap
    // authenticated call has shown the token is valid.
    if (error.status !== 404) throw error;
    await api.request('GET', '/api/queues', { token: trimmed });
    who = { id: claims.sub, name: null, role: claims.role, company_id: claims.company ?? null, team_ids: [], queue_ids: null };
  }
  token = trimmed;
  user = { ...who, exp: claims.exp ?? null };
  api.setToken(token);
  localStorage.setItem(TOKEN_KEY, token);
  expiredNotified = false;
  armExpiry();
  return user;
}

/** Restores the session of a previous visit, if its token is still accepted. */
export async function restore() {
  const saved = localStorage.getItem(TOKEN_KEY);
  if (!saved) return null;
  try {
    return await signIn(saved);
  } catch (error) {
    if (error.status === 401) {
      // Keep the reason: the sign-in page says the old session expired.
      localStorage.removeItem(TOKEN_KEY);
      return { expired: error.code };
    }
    throw error;
  }
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  clearTimeout(expiryTimer);
  token = null;
  user = null;
  api.setToken(null);
}

/** Says `expired` once per session, whoever noticed first (timer, HTTP 401, WebSocket 4001). */
export function expire(reason) {
  if (!user || expiredNotified) return;
  expiredNotified = true;
  // Forget the session first: code still starting up sees it is over.
  signOut();
  sessionEvents.dispatchEvent(new CustomEvent('expired', { detail: reason }));
}

function armExpiry() {
  clearTimeout(expiryTimer);
  if (!user?.exp) return;
  const ms = user.exp * 1000 - Date.now();
  // setTimeout cannot wait longer than ~24.8 days; such tokens never fire here.
  if (ms < 2 ** 31 - 1) expiryTimer = setTimeout(() => expire('token_expired'), Math.max(0, ms));
}

api.apiEvents.addEventListener('unauthorized', (event) => {
  if (['token_expired', 'token_revoked', 'invalid_token', 'missing_token'].includes(event.detail)) expire(event.detail);
});

/** A display name for user `id` (demo users and, for admins, the directory). */
const names = new Map();
export function rememberNames(list) {
  for (const entry of list ?? []) if (entry?.id && entry.name) names.set(entry.id, entry.name);
}
export function nameOf(id) {
  if (!id) return 'Unassigned';
  return names.get(id) ?? id;
}
