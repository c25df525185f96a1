'use strict';
// Baseline for wsgate's broadcast benchmarks: the seeds' pattern, a plain `ws`
// WebSocketServer that sends every message it receives to every client,
// the sender included, same opcode, unchanged.
//
// Usage: node broadcast-server.js [port] [host]   (or PORT / HOST env)
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8081);
const host = process.argv[3] || process.env.HOST || '127.0.0.1';

// perMessageDeflate is off by default in ws 8; say so explicitly because
// wsgate's benchmarks also run without compression.
const wss = new WebSocketServer({ port, host, perMessageDeflate: false, backlog: 4096 });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((c) => c.send(data, { binary: isBinary }));
  });
  // A reset from a benchmark client that exits must not take the server down.
  ws.on('error', () => {});
});

wss.on('listening', () => {
  const a = wss.address();
  console.log(`node ws broadcast server listening on ${a.address}:${a.port} pid ${process.pid}`);
});

const stop = () => {
  wss.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
