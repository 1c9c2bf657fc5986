// A reconnect storm with the stock socket.io-client, for tests/socketio.rs:
// COUNT sockets opened at once, each emitting `subscribe` the moment it is
// connected, as a client in the field does after a server restart.
//
//   node storm.mjs BASE_URL TOKEN COUNT ROOM
//
// Prints one JSON line when every socket has an outcome (or after 30 s):
// {connected, acked, refused, errors, seconds}.
import { io } from "socket.io-client";

const [base, token, countText, room] = process.argv.slice(2);
const count = Number(countText);
const started = Date.now();
const outcome = { connected: 0, acked: 0, refused: 0, errors: [] };
let settled = 0;
const sockets = [];

const finish = () => {
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ ...outcome, seconds }) + "\n");
  for (const socket of sockets) socket.disconnect();
  setTimeout(() => process.exit(0), 50);
};
const settle = () => {
  settled += 1;
  if (settled === count) finish();
};
setTimeout(finish, 30000);

for (let i = 0; i < count; i += 1) {
  const socket = io(base, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  sockets.push(socket);
  socket.on("connect", async () => {
    outcome.connected += 1;
    try {
      const ack = await socket.timeout(20000).emitWithAck("subscribe", { room });
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
