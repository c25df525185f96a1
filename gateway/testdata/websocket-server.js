#!/usr/bin/env node
// websocket-server.js: the `websocket` npm package (WebSocket-Node) on a raw http.Server, as in its
// README: an echo server. Text comes back as text, binary as binary. Outgoing messages over 16 KiB are
// fragmented by the package (its default fragmentOutgoingMessages), so a big echo crosses the gateway
// as a fragmented message. Frames and messages up to 4 MiB are accepted (the package's default frame
// limit is 64 KiB, below the 256 KiB message the test sends as one frame).
//
//   GET /health → 200 "ok";  any other plain GET → 404
//   WS  any path → the first message is a text hello JSON { hello: true, server, xff }, then echo
//
// Prints one JSON line {"ready":true,"port":P,"name":NAME} once listening; runs until killed.
// Usage: node websocket-server.js --port 3001 --name s1
'use strict';

const http = require('http');
const WebSocketServer = require('websocket').server;

const opts = { port: 0, name: 'wsn' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`websocket-server.js: bad argument ${process.argv[i]}\n`);
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

const wsServer = new WebSocketServer({
  httpServer: server,
  autoAcceptConnections: false,
  maxReceivedFrameSize: 4 << 20,
  maxReceivedMessageSize: 4 << 20,
});

wsServer.on('request', (request) => {
  const conn = request.accept(null, request.origin);
  conn.sendUTF(JSON.stringify({ hello: true, server: opts.name, xff: request.httpRequest.headers['x-forwarded-for'] || '' }));
  conn.on('message', (msg) => {
    if (msg.type === 'utf8') conn.sendUTF(msg.utf8Data);
    else conn.sendBytes(msg.binaryData);
  });
  conn.on('error', (err) => process.stderr.write(`websocket-server ${opts.name}: ${err.message}\n`));
});

server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, name: opts.name }) + '\n');
});
