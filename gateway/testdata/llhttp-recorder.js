#!/usr/bin/env node
// llhttp-recorder.js: the recording backend of the differential request-smuggling suite
// (gateway/smuggle_e2e_test.go). A plain Node `http` server, so requests are framed by Node's own
// parser (llhttp, strict mode: Node's defaults), which is what a typical application behind wsgate
// runs. It records what it parsed; the test compares that with what the client's framing meant.
//
// Data port (the proxy's backend): every request is recorded as
//   {kind:"request", i, conn, method, url, version, rawHeaders, body (base64), complete}
// (complete: its body ended) and answered 200 with X-Recorder: 1 and the body "req I METHOD URL".
// An upgrade request (Upgrade header) is recorded the same way with kind "upgrade"; the target
// /app/ws-ok gets a 101 and every byte after it is recorded as {kind:"tunnel", conn, data}; any other
// upgrade target gets a 426 with Connection: close, and bytes that still reach the socket are recorded
// as a tunnel too (a proxy that tunnels after a refused upgrade would send them).
// A request llhttp refuses is recorded as {kind:"error", conn, code, reason, raw (base64 rawPacket)}
// and answered 400 with X-Recorder: error. Each TCP connection also records its raw bytes
// ({kind:"conn", conn, raw}), so the report can show exactly what the proxy sent.
//
// Control port: GET /records → the JSON array of records so far; GET /reset → clears them and
// closes every data connection (each test case starts clean).
//
// Prints one JSON line {"ready":true,"port":DATA,"control":CONTROL} once both listen; runs until killed.
// Usage: node llhttp-recorder.js
'use strict';

const http = require('http');

let records = [];
let nextConn = 0;
let nextReq = 0;
const raw = new Map(); // conn id -> {chunks: Buffer[]}
const sockets = new Set();

function connOf(socket) {
  if (socket.__recId === undefined) {
    socket.__recId = nextConn++;
  }
  return socket.__recId;
}

// requireHostHeader off: Node would answer a Host-less HTTP/1.1 request 400 itself, unrecorded; the
// test wants to see such a request (a proxy that dropped Host) and judge it.
const data = http.createServer({ requireHostHeader: false }, (req, res) => {
  const rec = {
    kind: 'request', i: nextReq++, conn: connOf(req.socket), method: req.method, url: req.url,
    version: req.httpVersion, rawHeaders: req.rawHeaders, body: '', complete: false,
  };
  records.push(rec);
  const parts = [];
  req.on('data', (b) => {
    parts.push(b);
    rec.body = Buffer.concat(parts).toString('base64');
  });
  req.on('end', () => {
    rec.complete = true;
    const body = `req ${rec.i} ${req.method} ${req.url}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Recorder': '1', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  req.on('error', () => {});
});

// Record the raw bytes of every data connection. Node's http server normally has llhttp consume the
// socket natively (no JS 'data' events); marking the handle consumed first makes it read through JS,
// where this listener sees the same bytes the parser gets.
data.prependListener('connection', (socket) => {
  const id = connOf(socket);
  sockets.add(socket);
  const entry = { kind: 'conn', conn: id, chunks: [] };
  raw.set(id, entry);
  if (socket._handle) {
    socket._handle._consumed = true;
  }
  socket.on('data', (b) => entry.chunks.push(Buffer.from(b)));
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
});

data.on('upgrade', (req, socket, head) => {
  const id = connOf(socket);
  records.push({
    kind: 'upgrade', i: nextReq++, conn: id, method: req.method, url: req.url,
    version: req.httpVersion, rawHeaders: req.rawHeaders, body: '', complete: true,
  });
  const tunnel = { kind: 'tunnel', conn: id, data: '' };
  const seen = [];
  const add = (b) => {
    if (b.length === 0) return;
    seen.push(Buffer.from(b));
    tunnel.data = Buffer.concat(seen).toString('base64');
    if (!records.includes(tunnel)) records.push(tunnel);
  };
  add(head);
  socket.on('data', add);
  socket.on('error', () => {});
  if (req.url === '/app/ws-ok') {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Recorder: 1\r\n\r\n');
    return;
  }
  const body = `refused upgrade ${req.url}`;
  socket.end(`HTTP/1.1 426 Upgrade Required\r\nX-Recorder: 1\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
});

data.on('clientError', (err, socket) => {
  records.push({
    kind: 'error', conn: connOf(socket), code: err.code || '', reason: err.reason || err.message,
    raw: err.rawPacket ? Buffer.from(err.rawPacket).toString('base64') : '',
  });
  if (socket.writable) {
    socket.end('HTTP/1.1 400 Bad Request\r\nX-Recorder: error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }
  socket.destroy();
});

const control = http.createServer((req, res) => {
  if (req.url === '/reset') {
    records = [];
    raw.clear();
    for (const s of sockets) s.destroy();
    sockets.clear();
    res.end('ok');
    return;
  }
  if (req.url === '/records') {
    const conns = [...raw.values()].map((e) => ({ kind: 'conn', conn: e.conn, raw: Buffer.concat(e.chunks).toString('base64') }));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(records.concat(conns)));
    return;
  }
  res.writeHead(404);
  res.end();
});

data.listen(0, '127.0.0.1', () => {
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ ready: true, port: data.address().port, control: control.address().port }) + '\n');
  });
});
