#!/usr/bin/env node
// sio-server.js: a Socket.IO v4 server (engine.io with its default transports: long-polling, then the
// upgrade to WebSocket) that names itself in every ack, so a test can tell which backend answered.
//
//   socket.emit('whoami', n, ack)  →  ack({ server: NAME, n, transport: 'polling' | 'websocket', sid })
//   GET /health                    →  200 "ok" (for the gateway's check=http:/health)
//
// Prints one JSON line {"ready":true,"port":P,"name":NAME} once listening; runs until killed.
// Usage: node sio-server.js --port 3001 --name s1
'use strict';

const http = require('http');
const { Server } = require('socket.io');

const opts = { port: 0, name: 'sio' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`sio-server.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'port' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const server = http.createServer((req, res) => {
  // socket.io answers /socket.io/ itself (it is attached before this handler runs).
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end(`not found on ${opts.name}`);
});

const io = new Server(server); // default transports ['polling', 'websocket'], default path /socket.io/
io.on('connection', (socket) => {
  socket.on('whoami', (n, ack) => {
    if (typeof ack !== 'function') return;
    ack({ server: opts.name, n, transport: socket.conn.transport.name, sid: socket.conn.id });
  });
});
// Log engine.io's refusals (e.g. "Session ID unknown" when a poll lands on the wrong backend).
io.engine.on('connection_error', (err) => {
  process.stderr.write(`sio-server ${opts.name}: connection_error ${err.code} ${err.message}\n`);
});

server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, name: opts.name }) + '\n');
});
