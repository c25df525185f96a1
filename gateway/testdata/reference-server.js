#!/usr/bin/env node
// reference-server.js: a tiny Node `ws` broadcast server with the same shape as wsgate's defaults
// (GET / = chat page with #msg, #send, #log; /ws = broadcast topic, sender included). It is NOT used by
// the Go tests: it exists so the peer scripts in this folder can be checked on their own
// (`node reference-server.js 18080` then point broadcast-clients.js / browser-chat.js at it), which
// tells a script bug from a gateway bug.
'use strict';

const http = require('http');
const WebSocket = require('ws');

// Either `node reference-server.js PORT` or wsgate-like `-listen HOST:PORT [-admin-listen HOST:PORT]`
// (the admin listener answers /healthz and a few /metrics lines with wsgate's names).
const argv = process.argv.slice(2);
const flag = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const listen = flag('-listen') || `127.0.0.1:${argv[0] || 18080}`;
const [host, portStr] = [listen.slice(0, listen.lastIndexOf(':')) || '127.0.0.1', listen.slice(listen.lastIndexOf(':') + 1)];
const port = Number(portStr);
const counters = { upgrades: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
const admin = flag('-admin-listen');
if (admin) {
  http.createServer((req, res) => {
    if (req.url === '/healthz') { res.end('ok'); return; }
    res.end([
      `wsgate_upgrades_total ${counters.upgrades}`,
      `wsgate_messages_in_total ${counters.messagesIn}`,
      `wsgate_messages_out_total ${counters.messagesOut}`,
      `wsgate_bytes_in_total ${counters.bytesIn}`,
      `wsgate_bytes_out_total ${counters.bytesOut}`,
    ].join('\n') + '\n');
  }).listen(Number(admin.slice(admin.lastIndexOf(':') + 1)), admin.slice(0, admin.lastIndexOf(':')) || '127.0.0.1');
}

const page = `<!doctype html><html><head><meta charset="utf-8"><title>chat</title></head><body>
<input id="msg" autofocus><button id="send">Send</button><ul id="log"></ul>
<script>
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
const log = document.getElementById('log');
const msg = document.getElementById('msg');
ws.onmessage = (e) => { const li = document.createElement('li'); li.textContent = e.data; log.appendChild(li); };
function send() { if (msg.value) { ws.send(msg.value); msg.value = ''; } }
document.getElementById('send').onclick = send;
msg.addEventListener('keydown', (e) => { if (e.key === 'Enter') send(); });
</script></body></html>`;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
    return;
  }
  res.writeHead(req.url.startsWith('/ws') ? 426 : 404, { Connection: 'close' });
  res.end();
});
const wss = new WebSocket.Server({
  server, path: '/ws', perMessageDeflate: false, maxPayload: Number(flag('-max-message-bytes') || 4194304),
});
// REF_FAULT makes the server misbehave on purpose, to show that the peer scripts catch it:
// nosender | dup | flipop | reorder | corrupt.
const fault = process.env.REF_FAULT || '';
let n = 0;
wss.on('connection', (ws) => {
  counters.upgrades++;
  ws.on('error', () => {}); // protocol errors close the socket; they must not crash the server
  ws.on('message', (data, isBinary) => {
    n++;
    counters.messagesIn++;
    counters.bytesIn += data.length;
    for (const c of wss.clients) {
      if (c.readyState !== WebSocket.OPEN) continue;
      if (fault === 'nosender' && c === ws) continue;
      let out = data;
      let bin = isBinary;
      if (fault === 'flipop' && n === 7) bin = !bin;
      if (fault === 'corrupt' && n === 7) { out = Buffer.from(data); out[out.length - 1] ^= 1; }
      if (fault === 'reorder' && n % 5 === 0 && c === ws) { setTimeout(() => c.send(out, { binary: bin }), 5); continue; }
      c.send(out, { binary: bin });
      counters.messagesOut++;
      counters.bytesOut += out.length;
      if (fault === 'dup' && n === 7) c.send(out, { binary: bin });
    }
  });
});
server.listen(port, host, () => process.stdout.write(`listening ${port}\n`));
