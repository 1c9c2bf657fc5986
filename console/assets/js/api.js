// The HTTP API client: one `request` that adds the bearer token and turns
// problem+json answers into ApiError, and one small function per route the
// console uses (so the rest of the code never builds URLs by hand).

/** An error answer of the API (RFC 9457 problem), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, code, detail, field) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = field;
  }
}

/** Fires `unauthorized` (detail: the problem code) on any 401, so the session can react once. */
export const apiEvents = new EventTarget();

let currentToken = null;
export function setToken(token) {
  currentToken = token;
}

export async function request(method, path, { body, headers = {}, auth = true, token } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers } };
  const bearer = token ?? (auth ? currentToken : null);
  if (bearer) init.headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network_error', 'the server cannot be reached');
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  const feed = feedPoint(response);
  if (feed && data && typeof data === 'object') Object.defineProperty(data, 'feed', { value: feed });
  if (!response.ok) {
    const code = data?.code ?? `http_${response.status}`;
    // Only the session's own token expiring signs the user out, not a probe with another token.
    if (response.status === 401 && bearer === currentToken && !token) {
      apiEvents.dispatchEvent(new CustomEvent('unauthorized', { detail: code }));
    }
    throw new ApiError(response.status, code, data?.detail ?? (typeof data === 'string' ? data : ''), data?.field);
  }
  return data;
}

/**
 * The room-feed point an answer is consistent with (`Bomizzel-Feed-Offset`,
 * `Bomizzel-Feed-Epoch`): subscribing from it after loading the answer
 * misses nothing and repeats nothing.
 */
function feedPoint(response) {
  const offset = response.headers.get('bomizzel-feed-offset');
  if (offset === null) return null;
  return { offset: Number(offset), epoch: response.headers.get('bomizzel-feed-epoch') };
}

const get = (path, options) => request('GET', path, options);
const post = (path, body, options) => request('POST', path, { body, ...options });
const enc = encodeURIComponent;

/** The query string of the defined values of `params`. */
function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// ---- session and directory ----------------------------------------------------

export const me = (token) => get('/api/me', { token });
export const queues = () => get('/api/queues');
export const users = (params = {}) => get(`/api/users${query(params)}`);
export const teams = () => get('/api/teams');

// ---- demo mode (404 when the server is not in demo mode) -----------------------

export const demoUsers = () => get('/api/demo/users', { auth: false });
export const demoLogin = (userId, ttlSeconds) =>
  post('/api/demo/login', ttlSeconds ? { user_id: userId, ttl_seconds: ttlSeconds } : { user_id: userId }, { auth: false });
export const simulation = () => get('/api/demo/simulation', { auth: false });
export const setSimulation = (running, perMinute) =>
  request('PUT', '/api/demo/simulation', { body: { running, per_minute: perMinute }, auth: false });

// ---- tickets -----------------------------------------------------------------------

export const listTickets = (params) => get(`/api/tickets${query(params)}`);
export const ticket = (id, version) => get(`/api/tickets/${enc(id)}${query({ version })}`);
export const history = (id) => get(`/api/tickets/${enc(id)}/history`);
export const comments = (id) => get(`/api/tickets/${enc(id)}/comments`);

/** Commands carry an Idempotency-Key, so a retry after a dropped answer does not apply twice. */
function command(path, body) {
  return post(path, body, { headers: { 'idempotency-key': crypto.randomUUID() } });
}
export const createTicket = (body) => command('/api/tickets', body);
export const setStatus = (id, status) => command(`/api/tickets/${enc(id)}/status`, { status });
export const setPriority = (id, priority) => command(`/api/tickets/${enc(id)}/priority`, { priority });
export const assign = (id, assigneeId) => command(`/api/tickets/${enc(id)}/assign`, { assignee_id: assigneeId });
export const addComment = (id, body, internal) => command(`/api/tickets/${enc(id)}/comments`, { body, internal });

// ---- saved views ------------------------------------------------------------------

export const views = () => get('/api/views');
export const viewCounts = () => get('/api/views/counts');
export const saveView = (body) => post('/api/views', body);
export const deleteView = (id) => request('DELETE', `/api/views/${enc(id)}`);

// ---- metrics -----------------------------------------------------------------------

export const queueMetrics = (id) => get(`/api/queues/${enc(id)}/metrics`);
export const queueHourly = (id, from, to) => get(`/api/queues/${enc(id)}/metrics/hourly${query({ from, to })}`);

// ---- notifications -----------------------------------------------------------------

export const notifications = (params = {}) => get(`/api/notifications${query(params)}`);
export const unreadCount = () => get('/api/notifications/unread-count');
export const markTicketRead = (ticketId) => post(`/api/notifications/tickets/${enc(ticketId)}/read`);
export const markAllRead = () => post('/api/notifications/read-all');
