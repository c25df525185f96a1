#!/usr/bin/env node
// expressws-server.js: an express + express-ws app shaped like the tutorials users run behind HAProxy:
//
//   GET /ws            → 200 an HTML page (Content-Length), naming this server
//   GET /ws/chunked    → 200 a body written in pieces (Transfer-Encoding: chunked)
//   GET .../whoami     → 200 JSON { server, xff, xfp, xfh, cookie, user } from the request as received
//   GET /health        → 200 "ok" (for check=http:/health)
//   WS  /ws/echo       → first a text hello JSON { hello: true, server, xff, xfp, xfh, cookie }, then
//                        echoes every message with its opcode (text stays text, binary stays binary)
//
// Prints one JSON line {"ready":true,"port":P,"name":NAME} once listening; runs until killed.
// Usage: node expressws-server.js --port 3001 --name s1
'use strict';

const express = require('express');
const expressWs = require('express-ws');

const opts = { port: 0, name: 'ews' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`expressws-server.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'port' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const app = express();
expressWs(app, null, { wsOptions: { perMessageDeflate: false } });

function seen(req) {
  return {
    server: opts.name,
    xff: req.headers['x-forwarded-for'] || '',
    xfp: req.headers['x-forwarded-proto'] || '',
    xfh: req.headers['x-forwarded-host'] || '',
    cookie: req.headers.cookie || '',
    user: req.headers['x-user'] || '',
  };
}

const page = `<!doctype html>
<html><head><title>express-ws echo on ${opts.name}</title></head>
<body><p id="marker">express-ws echo page served by ${opts.name}</p>
<script>const ws = new WebSocket(location.href.replace(/^http/, 'ws') + '/echo');</script>
</body></html>
`;

app.get('/health', (req, res) => res.type('text/plain').send('ok'));
// Any path ending in /whoami (the gateway forwards the path as is, route prefix included).
app.use((req, res, next) => (req.method === 'GET' && req.path.endsWith('/whoami') ? res.json(seen(req)) : next()));
app.get('/ws', (req, res) => res.type('html').send(page));
app.get('/ws/chunked', (req, res) => {
  res.type('text/plain');
  let i = 0;
  const next = () => {
    if (i === 5) { res.end(`end from ${opts.name}\n`); return; }
    res.write(`piece ${i++} from ${opts.name}\n`);
    setTimeout(next, 5);
  };
  next();
});
app.ws('/ws/echo', (ws, req) => {
  ws.send(JSON.stringify({ hello: true, ...seen(req) }));
  // express-ws 5 brings its own ws 7, whose 'message' event gives a string for text and a Buffer for
  // binary (no isBinary argument): echo with the same opcode.
  ws.on('message', (data) => ws.send(data, { binary: typeof data !== 'string' }));
});

const server = app.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, name: opts.name }) + '\n');
});
