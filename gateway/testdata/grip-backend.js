#!/usr/bin/env node
// grip-backend.js: a GRIP backend (Pushpin's WebSocket-over-GRIP, the WebSocket part) written with
// Node `ws`, for gateway/grip_e2e_test.go. It accepts the `grip` extension the proxy offers by adding
// `Sec-WebSocket-Extensions: grip` in the `headers` event, then speaks to the proxy with `c:` control
// messages and to the client with prefixed messages.
//
//   WS ?channel=A&channel=B  → c:{"type":"subscribe","channel":A}, ... then a prefixed hello JSON
//                              {hello:true, server, grip (the proxy offered grip), ext (the offer as received)}
//   client text commands (JSON), relayed by the proxy until detach:
//     {"cmd":"say","text":T}              → prefixed T
//     {"cmd":"raw","text":T}              → T without prefix (the proxy must drop it)
//     {"cmd":"sub"|"unsub","channel":C}   → c:{"type":"subscribe"|"unsubscribe","channel":C}
//     {"cmd":"detach"}                    → c:{"type":"detach"}
//     {"cmd":"keepalive","content":K,"timeout":N}
//     {"cmd":"control","text":T}          → "c:" + T as is (malformed or unknown control messages)
//     {"cmd":"big","size":N,"frags":K,"gap":MS} → one prefixed text message of N 'x' in K fragments,
//                                          MS ms apart, then a prefixed "big-done"
//   GET /sockets → {"open":N}: WebSocket connections open now
//
// Prints {"ready":true,"port":P,"name":NAME} once listening; runs until killed.
// Usage: node grip-backend.js --port 0 --name g1 [--prefix m:] [--detach-on-connect 0|1]
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const opts = { port: 0, name: 'grip', prefix: 'm:', detachOnConnect: 0 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`grip-backend.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = (k === 'port' || k === 'detachOnConnect') ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (opts.prefix === '""') opts.prefix = '';

const server = http.createServer((req, res) => {
  if (req.url === '/sockets') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ open: wss.clients.size }));
    return;
  }
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 8 << 20 });

function gripOffered(req) {
  return (req.headers['sec-websocket-extensions'] || '').split(',').some((e) => e.split(';')[0].trim() === 'grip');
}

wss.on('headers', (headers, req) => {
  if (!gripOffered(req)) return;
  headers.push(opts.prefix === 'm:' ? 'Sec-WebSocket-Extensions: grip'
    : `Sec-WebSocket-Extensions: grip; message-prefix="${opts.prefix}"`);
});

const control = (ws, obj) => ws.send('c:' + JSON.stringify(obj));
const say = (ws, text) => ws.send(opts.prefix + text);

wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  const url = new URL(req.url, 'http://x');
  for (const ch of url.searchParams.getAll('channel')) control(ws, { type: 'subscribe', channel: ch });
  say(ws, JSON.stringify({ hello: true, server: opts.name, grip: gripOffered(req),
    ext: req.headers['sec-websocket-extensions'] || '' }));
  if (opts.detachOnConnect) control(ws, { type: 'detach' });
  ws.on('message', (data, isBinary) => {
    let cmd;
    try {
      cmd = JSON.parse(data.toString());
    } catch (err) {
      say(ws, JSON.stringify({ echo: data.toString(), binary: isBinary }));
      return;
    }
    switch (cmd.cmd) {
      case 'say': say(ws, cmd.text); break;
      case 'raw': ws.send(cmd.text); break;
      case 'sub': control(ws, { type: 'subscribe', channel: cmd.channel }); break;
      case 'unsub': control(ws, { type: 'unsubscribe', channel: cmd.channel }); break;
      case 'detach': control(ws, { type: 'detach' }); break;
      case 'keepalive': control(ws, { type: 'keep-alive', content: cmd.content, timeout: cmd.timeout }); break;
      case 'control': ws.send('c:' + cmd.text); break;
      case 'big': {
        const frags = cmd.frags || 4;
        const per = Math.ceil(cmd.size / frags);
        let sent = 0;
        let i = 0;
        const step = () => {
          if (ws.readyState !== ws.OPEN) return;
          const n = Math.min(per, cmd.size - sent);
          const chunk = (i === 0 ? opts.prefix : '') + 'x'.repeat(n);
          sent += n;
          i++;
          const fin = i >= frags || sent >= cmd.size;
          ws.send(chunk, { binary: false, fin });
          if (!fin) setTimeout(step, cmd.gap || 50);
          else say(ws, 'big-done');
        };
        step();
        break;
      }
      default: say(ws, JSON.stringify({ unknown: cmd }));
    }
  });
});

server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, name: opts.name }) + '\n');
});
