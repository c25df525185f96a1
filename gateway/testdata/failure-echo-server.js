#!/usr/bin/env node
// failure-echo-server.js: a plain Node `ws` (v8) echo server on an http.Server, the backend of the
// failure tests (gateway/failure_e2e_test.go): they SIGKILL it mid-session, put thousands of tunnels
// on it, and add/remove it from a pool with SIGHUP.
//
//   GET /health → 200 "ok";  any other plain GET → 404
//   WS  any path → first a text hello JSON { hello: true, server, xff }, then every message is echoed
//                  with its opcode (text stays text, binary stays binary)
//
// Prints one JSON line {"ready":true,"port":P,"name":NAME} once listening; runs until killed.
// Usage: node failure-echo-server.js --port 0 --name s1
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const opts = { port: 0, name: 'echo' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`failure-echo-server.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'port' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 8 << 20 });
wss.on('connection', (ws, req) => {
  ws.send(JSON.stringify({ hello: true, server: opts.name, xff: req.headers['x-forwarded-for'] || '' }));
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // a client that vanishes is not this server's problem
});
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, name: opts.name }) + '\n');
});
