#!/usr/bin/env node
// sio-client.js: one socket.io-client v4 with DEFAULT transports (HTTP long-polling first, then the
// upgrade to WebSocket), through the gateway, with a cookie jar so that a sticky-session cookie set by
// the gateway is sent back on every poll and on the WebSocket upgrade.
//
// Cookies: in Node, socket.io-client keeps no cookies unless `withCredentials: true`; with it,
// engine.io-client (>= 6.5, here 6.6) creates a CookieJar (globals.node.js) that parses Set-Cookie from
// every polling response and adds `Cookie:` to every later poll and to the WebSocket upgrade request
// (transports/websocket.node.js). That is exactly a browser's behaviour behind HAProxy's
// `cookie SERVERID insert`. The jar is read back (engine._cookieJar, a private field) for the summary.
//
// It emits --count 'whoami' events, one after the other, each with an ack, and prints one JSON summary:
//   { connected, firstTransport (at engine open), acks: [server names], ackTransports: [...], transport (final), upgraded (engine
//     'upgrade' event seen), cookies: {name: value}, connectErrors: [...], disconnects: [...],
//     upgradeErrors: [...], timedOut, elapsedMs }
//
// Usage: node sio-client.js --url http://127.0.0.1:8080 [--count 20] [--timeout 8000] [--settle 300]
'use strict';

const { io } = require('socket.io-client');

const opts = { url: '', count: 20, timeout: 8000, settle: 300 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`sio-client.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'url' ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

const started = Date.now();
const summary = {
  connected: false, firstTransport: '', acks: [], ackTransports: [], transport: '', upgraded: false, cookies: {},
  connectErrors: [], disconnects: [], upgradeErrors: [], timedOut: false, elapsedMs: 0,
};

// Default transports and upgrade; no reconnection, so one broken session is not papered over by a
// lucky second attempt (the test must see the first session work end to end).
const socket = io(opts.url, { withCredentials: true, reconnection: false, timeout: opts.timeout });

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  const engine = socket.io.engine;
  if (engine) {
    summary.transport = engine.transport ? engine.transport.name : '';
    if (engine._cookieJar) {
      for (const [name, c] of engine._cookieJar.cookies) summary.cookies[name] = c.value;
    }
  }
  summary.elapsedMs = Date.now() - started;
  socket.close();
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}
setTimeout(() => { summary.timedOut = true; finish(); }, opts.timeout).unref();

socket.io.on('open', () => {
  const engine = socket.io.engine;
  summary.firstTransport = engine.transport ? engine.transport.name : '';
  engine.on('upgrade', () => { summary.upgraded = true; });
  engine.on('upgradeError', (err) => { summary.upgradeErrors.push(String(err && err.message || err)); });
});
socket.on('connect_error', (err) => {
  summary.connectErrors.push(`${err.message}${err.description ? ` (${err.description.message || err.description})` : ''}`);
  finish();
});
socket.on('disconnect', (reason, details) => {
  if (finished) return;
  summary.disconnects.push(`${reason}${details && details.description ? ` (${details.description.message || details.description})` : ''}`);
  finish();
});

socket.on('connect', async () => {
  summary.connected = true;
  for (let n = 0; n < opts.count && !finished; n++) {
    let ack;
    try {
      ack = await socket.timeout(3000).emitWithAck('whoami', n);
    } catch (err) {
      summary.connectErrors.push(`ack ${n}: ${err.message}`);
      break;
    }
    summary.acks.push(ack.server);
    summary.ackTransports.push(ack.transport);
    // Spread the events over the upgrade: let the WebSocket probe finish partway through.
    if (n === 4) await new Promise((r) => setTimeout(r, opts.settle));
  }
  // Give a late upgrade a moment to complete, then report.
  const deadline = Date.now() + 2000;
  while (!summary.upgraded && Date.now() < deadline && !finished) await new Promise((r) => setTimeout(r, 50));
  finish();
});
