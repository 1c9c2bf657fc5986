// A Socket.IO client driven by the Rust tests (tests/socketio.rs), built on
// the real socket.io-client from npm.
//
//   node client.mjs BASE_URL TOKEN|- OFFSET|OFFSETS|- [TRANSPORTS]
//
// Connects with auth {token, offset}, or {token, offsets} when the third
// argument is a JSON object of offsets per room. Every event the server emits, the
// acks and how the connection ends are printed as one JSON line each.
// Each stdin line {"emit": NAME, "arg": {...}} is sent with an ack; the end
// of stdin disconnects and exits.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [base, token, offset, transports] = process.argv.slice(2);
const auth = {};
if (token && token !== "-") auth.token = token;
if (offset && offset.startsWith("{")) auth.offsets = JSON.parse(offset);
else if (offset && offset !== "-") auth.offset = Number(offset);

// Each line says when it came: `ms` since the socket was opened.
const opened = performance.now();
const out = (line) => {
  const ms = Math.round(performance.now() - opened);
  process.stdout.write(JSON.stringify({ ...line, ms }) + "\n");
};
const socket = io(base, {
  auth,
  transports: (transports || "websocket").split(","),
  reconnection: false,
  forceNew: true,
});

socket.on("connect", () => out({ type: "connect", transport: socket.io.engine.transport.name }));
socket.on("connect_error", (error) => {
  out({ type: "connect_error", message: error.message });
  process.exit(0);
});
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((event, arg) => out({ type: "event", event, arg }));

const input = createInterface({ input: process.stdin });
input.on("line", async (line) => {
  if (!line.trim()) return;
  const { emit, arg } = JSON.parse(line);
  const ack = await socket.timeout(20000).emitWithAck(emit, arg);
  out({ type: "ack", emit, ack });
});
input.on("close", () => {
  socket.disconnect();
  setTimeout(() => process.exit(0), 50);
});
