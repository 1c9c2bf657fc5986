// A reconnect storm with the stock socket.io-client, for tests/socketio.rs:
// COUNT sockets opened at once, each emitting `subscribe` the moment it is
// connected, as clients in the field do after a server restart. The sockets
// are spread over WORKERS node processes (one process alone cannot open
// them fast enough to load the server as a crowd of browsers does), with
// the client's TRANSPORTS (its default is polling, then an upgrade to
// websocket).
//
//   node storm.mjs BASE_URL TOKEN COUNT ROOM [WORKERS=2] [TRANSPORTS=polling,websocket]
//
// Prints one JSON line when every socket has an outcome (or after 60 s):
// {connected, acked, refused, errors, seconds}. The client's timeouts are
// long, so that a slow (debug, loaded) server is not taken for one that
// lost a connect or an ack: those never come.
import { fork } from "node:child_process";
import { io } from "socket.io-client";

const [base, token, countText, room, workersText, transportsText] = process.argv.slice(2);
const TIMEOUT_MS = 45000;
const GIVE_UP_MS = 60000;

// Opens `count` sockets at once; resolves with their outcomes once each
// has one, or with what is known when `GIVE_UP_MS` has passed.
function storm(count) {
  const transports = (transportsText || "polling,websocket").split(",");
  const outcome = { connected: 0, acked: 0, refused: 0, errors: [] };
  const sockets = [];
  return new Promise((resolve) => {
    let settled = 0;
    const finish = () => resolve({ outcome, sockets });
    const settle = () => {
      settled += 1;
      if (settled === count) finish();
    };
    setTimeout(finish, GIVE_UP_MS);
    for (let i = 0; i < count; i += 1) {
      const socket = io(base, {
        auth: { token },
        transports,
        reconnection: false,
        forceNew: true,
        timeout: TIMEOUT_MS,
      });
      sockets.push(socket);
      socket.on("connect", async () => {
        outcome.connected += 1;
        try {
          const ack = await socket.timeout(TIMEOUT_MS).emitWithAck("subscribe", { room });
          if (ack?.ok) outcome.acked += 1;
          else outcome.refused += 1;
        } catch (error) {
          outcome.errors.push(`ack: ${error.message}`);
        }
        settle();
      });
      socket.on("connect_error", (error) => {
        outcome.errors.push(`connect_error: ${error.message}`);
        settle();
      });
    }
  });
}

if (process.env.STORM_SHARE) {
  // A worker: its share of the storm, reported to the parent; it keeps
  // its sockets open until told to close, so that every socket of the
  // storm is open at the same time.
  const { outcome, sockets } = await storm(Number(process.env.STORM_SHARE));
  process.send(outcome);
  process.on("message", () => {
    for (const socket of sockets) socket.disconnect();
    setTimeout(() => process.exit(0), 50);
  });
} else {
  const count = Number(countText);
  const workers = Math.max(1, Math.min(count, Number(workersText || 2)));
  const started = Date.now();
  const children = Array.from({ length: workers }, (_, i) => {
    const share = Math.floor(count / workers) + (i < count % workers ? 1 : 0);
    return fork(new URL(import.meta.url).pathname, process.argv.slice(2), {
      env: { ...process.env, STORM_SHARE: String(share) },
    });
  });
  const lost = (code) => ({ connected: 0, acked: 0, refused: 0, errors: [`worker exited with ${code}`] });
  const outcomes = await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          child.once("message", resolve);
          child.once("exit", (code) => resolve(lost(code)));
        }),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  const total = { connected: 0, acked: 0, refused: 0, errors: [] };
  for (const outcome of outcomes) {
    total.connected += outcome.connected;
    total.acked += outcome.acked;
    total.refused += outcome.refused;
    total.errors.push(...outcome.errors);
  }
  process.stdout.write(JSON.stringify({ ...total, seconds }) + "\n");
  for (const child of children) child.send("close");
}
