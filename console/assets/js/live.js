// The live connection to `/ws`: authenticates with a first `auth` frame
// (browsers cannot set headers on a WebSocket), joins the console's rooms,
// and resumes each room from its last offset after any interruption, so a
// change is shown exactly once however often the connection drops.
//
// Offsets: one per room, kept in localStorage under the user's id with the
// feed's epoch. Rooms are joined one at a time: an `error` frame does not
// name its room, and a change that belongs to two rooms may arrive during
// the replay of the first while the second is not joined yet; joining in
// turn lets each room's offset move only when the server has counted the
// change for that room (see `onSubscribed`).
//
// Events (EventTarget): `state` {state, attempt, retryInMs}, `change`
// {frame} for each new change, `latest` {frame} for latest-value messages
// (queue metrics), `presence` {frame} for presence lists and board counts
// (`presence`, `presence_counts`), `unrecovered` {rooms, reasons} when rooms could not be
// replayed (reload them from the HTTP API), `expired` {code}.

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
/** We ping this often; a connection silent for DEAD_AFTER_MS is replaced. */
const PING_EVERY_MS = 20000;
const DEAD_AFTER_MS = 45000;

export class LiveClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.userId offsets are kept per user
   * @param {() => string} options.token the current token
   */
  constructor({ userId, token }) {
    super();
    this.userId = userId;
    this.token = token;
    this.storageKey = `bomizzel.live.${userId}`;
    this.desired = new Set();
    this.socket = null;
    this.state = 'idle';
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeat = null;
    this.stopped = true;
    this.joined = new Set(); // rooms the server confirmed on this connection
    this.pending = null; // the room whose `subscribe` awaits its answer
    this.maxSeen = 0; // the highest offset received on this connection
    this.queue = []; // rooms still to join on this connection
    this.unrecovered = { rooms: [], reasons: [] };
    this.readyOffset = 0;
    const saved = readJson(this.storageKey);
    this.epoch = saved?.epoch ?? null;
    this.offsets = new Map(Object.entries(saved?.offsets ?? {}));
    this.onOnline = () => this.connectNow();
    this.onOffline = () => this.goOffline();
  }

  /** The rooms to be in; joins new ones and leaves the others. */
  setRooms(rooms) {
    const next = new Set(rooms);
    for (const room of this.desired) {
      if (next.has(room)) continue;
      this.offsets.delete(room);
      if (this.joined.delete(room)) this.send({ type: 'unsubscribe', room });
      this.queue = this.queue.filter((r) => r !== room);
    }
    const added = [...next].filter((room) => !this.desired.has(room));
    this.desired = next;
    this.save();
    if (this.state === 'live' || this.state === 'joining') {
      this.queue.push(...added);
      this.joinNext();
    }
  }

  /**
   * Joins a ticket's room while its page is open (presence). Its changes
   * already come through the other rooms, so it resumes from what this
   * connection has seen rather than reloading.
   */
  watch(room) {
    if (this.desired.has(room)) return;
    if (!this.offsets.has(room) && this.epoch) this.offsets.set(room, Math.max(this.readyOffset, this.maxSeen));
    this.setRooms([...this.desired, room]);
  }

  unwatch(room) {
    this.setRooms([...this.desired].filter((r) => r !== room));
  }

  /** Says what this user is doing in a joined ticket room. */
  announce(room, activity) {
    if (this.joined.has(room)) this.send({ type: 'presence', room, activity });
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    if (navigator.onLine === false) this.goOffline();
    else this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.retryTimer);
    this.drop(1000, 'signed out');
    this.setState('idle');
  }

  // ---- connection life cycle --------------------------------------------------

  connect() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.retryTimer);
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket = socket;
    this.maxSeen = 0;
    this.lastHeard = Date.now();
    socket.addEventListener('open', () => {
      if (this.socket === socket) this.send({ type: 'auth', token: this.token() });
    });
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket) return; // a socket we already gave up on
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket === socket) this.onClose(event.code, event.reason);
    });
  }

  /** Reconnects at once (the network is back, or the user asked). */
  connectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    this.drop(1000, 'reconnecting');
    this.connect();
  }

  goOffline() {
    // Closing at once (rather than waiting for the socket to notice) stops
    // us showing "live" while nothing can arrive; offsets say where to resume.
    clearTimeout(this.retryTimer);
    this.drop(1000, 'offline');
    this.setState('offline');
  }

  /** Forgets the current socket; its late events are ignored. */
  drop(code, reason) {
    clearInterval(this.heartbeat);
    const socket = this.socket;
    this.socket = null;
    this.joined.clear();
    this.pending = null;
    this.queue = [];
    if (socket && socket.readyState <= WebSocket.OPEN) {
      try {
        socket.close(code, reason);
      } catch {
        /* already closing */
      }
    }
  }

  onClose(code, reason) {
    this.drop(1000, 'closed');
    if (code === 4001 || code === 4003) {
      // The token expired or is refused: retrying with it cannot succeed.
      this.setState('expired');
      this.dispatchEvent(new CustomEvent('expired', { detail: { code, reason } }));
      return;
    }
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (this.stopped) return;
    // Exponential backoff with jitter, so a restarted server is not hit by
    // every console at the same instant.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.setState('reconnecting', { retryInMs: delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, attempt: this.attempt, ...extra } }));
  }

  send(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  // ---- frames --------------------------------------------------------------------

  onFrame(frame) {
    switch (frame.type) {
      case 'ready':
        return this.onReady(frame);
      case 'subscribed':
        return this.onSubscribed(frame);
      case 'error':
        return this.onError(frame);
      case 'event':
        return frame.offset === null || frame.offset === undefined ? this.emit('latest', { frame }) : this.onChange(frame);
      case 'presence':
      case 'presence_counts':
        return this.emit('presence', { frame });
      case 'unsubscribed':
        // Evicted (e.g. removed from a team): stop counting offsets for it.
        this.joined.delete(frame.room);
        return undefined;
      case 'ping':
        return this.send({ type: 'pong' });
      default:
        return undefined;
    }
  }

  onReady(frame) {
    if (this.joined.size || this.pending) return; // an answer to a token refresh
    this.readyOffset = frame.offset;
    if (this.epoch && frame.epoch && this.epoch !== frame.epoch) {
      // The feed started over (rebuilt): old offsets mean nothing in it.
      this.offsets.clear();
    }
    this.epoch = frame.epoch;
    this.save();
    this.unrecovered = { rooms: [], reasons: [] };
    this.queue = [...this.desired];
    this.setState('joining');
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), PING_EVERY_MS);
    this.joinNext();
  }

  joinNext() {
    if (this.pending || !this.socket) return;
    const room = this.queue.shift();
    if (room === undefined) {
      this.finishJoining();
      return;
    }
    if (this.joined.has(room) || !this.desired.has(room)) {
      this.joinNext();
      return;
    }
    this.pending = room;
    const since = this.offsets.get(room);
    const frame = { type: 'subscribe', room };
    if (since !== undefined) frame.since = since;
    if (since !== undefined && this.epoch) frame.epoch = this.epoch;
    this.send(frame);
  }

  finishJoining() {
    if (this.state !== 'live') {
      this.attempt = 0;
      this.setState('live');
    }
    if (this.unrecovered.rooms.length) {
      const detail = this.unrecovered;
      this.unrecovered = { rooms: [], reasons: [] };
      this.emit('unrecovered', detail);
    }
  }

  /**
   * Subscribes `rooms` again from `feed` (a reload's feed point), so that
   * the changes between what the reload has and the live stream are
   * replayed. Nothing to do without a point, or in another epoch (the
   * next connection reloads again).
   */
  resumeFrom(rooms, feed) {
    if (!feed || feed.epoch !== this.epoch || !this.socket) return;
    for (const room of rooms) {
      if (!this.desired.has(room)) continue;
      this.offsets.set(room, feed.offset);
      this.joined.delete(room);
      this.queue.push(room);
    }
    this.save();
    this.joinNext();
  }

  onSubscribed(frame) {
    const room = frame.room;
    if (room !== this.pending) return;
    this.pending = null;
    this.joined.add(room);
    // Before this frame the server has sent every change of the room up to
    // its join point (replayed now, or earlier through another joined room),
    // and nothing past it: everything received so far on this connection is
    // at or before that point. So the room is complete up to maxSeen.
    const before = this.offsets.get(room) ?? 0;
    if (frame.recovered) {
      this.offsets.set(room, Math.max(before, this.maxSeen));
    } else {
      // Not replayed: the caller reloads from the API; later changes are
      // live. Resuming from the ready offset next time replays any that the
      // reload might have missed (applying one twice is harmless, see store.js).
      this.offsets.set(room, Math.max(this.readyOffset, this.maxSeen));
      this.unrecovered.rooms.push(room);
      this.unrecovered.reasons.push(frame.reason);
    }
    this.save();
    this.joinNext();
  }

  onError(frame) {
    if (this.pending) {
      // The refused subscribe (e.g. `forbidden`): leave the room out.
      console.warn(`room ${this.pending} refused: ${frame.code} ${frame.message ?? ''}`);
      if (frame.code === 'offset_ahead') this.offsets.delete(this.pending);
      this.pending = null;
      this.joinNext();
    }
  }

  onChange(frame) {
    const rooms = frame.rooms ?? [];
    this.maxSeen = Math.max(this.maxSeen, frame.offset);
    // The server already sends a change once per connection; this check
    // mirrors it so a change can never be applied twice by this client.
    let joinedRoom = false;
    for (const room of rooms) {
      if (!this.joined.has(room)) continue;
      joinedRoom = true;
      if ((this.offsets.get(room) ?? -1) >= frame.offset) return;
    }
    for (const room of rooms) {
      if (this.joined.has(room)) this.offsets.set(room, frame.offset);
    }
    if (joinedRoom) this.save();
    this.emit('change', { frame });
  }

  beat() {
    if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
      // Half-open connection: nothing heard, not even our pong.
      this.drop(4000, 'no sign of life');
      this.scheduleRetry();
      return;
    }
    this.send({ type: 'ping' });
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  save() {
    const offsets = {};
    for (const room of this.desired) if (this.offsets.has(room)) offsets[room] = this.offsets.get(room);
    try {
      localStorage.setItem(this.storageKey, JSON.stringify({ epoch: this.epoch, offsets }));
    } catch {
      /* storage full or disabled: resuming falls back to a reload */
    }
  }
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
}
