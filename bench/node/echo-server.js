'use strict';
// Echo backend for wsgate's side-by-side benchmarks (bench/compare.sh): a
// plain `ws` WebSocketServer that sends every message back to its sender,
// same opcode, unchanged. Two of them stand behind wsgate and HAProxy.
//
// Usage: node echo-server.js [port] [host]   (or PORT / HOST env)
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 3101);
const host = process.argv[3] || process.env.HOST || '127.0.0.1';

const wss = new WebSocketServer({ port, host, perMessageDeflate: false, backlog: 4096, clientTracking: false });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

wss.on('listening', () => {
  const a = wss.address();
  console.log(`node ws echo server listening on ${a.address}:${a.port} pid ${process.pid}`);
});

const stop = () => {
  wss.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
