#!/usr/bin/env node
// ws-peer.js: one real `ws` client driven over stdin/stdout with JSON lines, so a Go test can use a
// genuine third-party WebSocket client next to its raw-TCP clients.
//
// stdout events (one JSON object per line):
//   {"ev":"open","protocol":"..."}
//   {"ev":"message","binary":false,"b64":"...","len":N}
//   {"ev":"ping","b64":"..."}          (ws answers pings with pongs by itself: autoPong)
//   {"ev":"close","code":1000,"reason":"..."}
//   {"ev":"error","message":"..."}
// stdin commands (one JSON object per line):
//   {"text":"..."}   {"b64":"...","binary":true}   {"close":1000,"reason":"..."}
// The process exits after the connection closes, when stdin ends, or after --lifetime ms.
//
// Usage: node ws-peer.js --url ws://127.0.0.1:8080/ws [--lifetime 30000] [--open-timeout 5000] [--cookie 'a=1; b=2']
'use strict';

const readline = require('readline');
const WebSocket = require('ws');

const opts = { url: '', lifetime: 30000, openTimeout: 5000, cookie: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`ws-peer.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'url' || k === 'cookie' ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

let exiting = false;
function exit(code) {
  if (exiting) return;
  exiting = true;
  // Let stdout drain before leaving: the Go side reads the last lines.
  process.stdout.write('', () => process.exit(code));
}

setTimeout(() => { emit({ ev: 'error', message: 'lifetime over' }); exit(0); }, opts.lifetime).unref();

const ws = new WebSocket(opts.url, {
  perMessageDeflate: false,
  handshakeTimeout: opts.openTimeout,
  headers: opts.cookie ? { Cookie: opts.cookie } : {},
});
ws.on('open', () => emit({ ev: 'open', protocol: ws.protocol }));
ws.on('message', (data, isBinary) => emit({ ev: 'message', binary: isBinary, b64: data.toString('base64'), len: data.length }));
ws.on('ping', (data) => emit({ ev: 'ping', b64: data.toString('base64') }));
ws.on('close', (code, reason) => { emit({ ev: 'close', code, reason: reason.toString() }); exit(0); });
ws.on('error', (err) => emit({ ev: 'error', message: err.message }));

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    emit({ ev: 'error', message: `bad command: ${err.message}` });
    return;
  }
  if (ws.readyState !== WebSocket.OPEN) {
    emit({ ev: 'error', message: 'not open' });
    return;
  }
  if (typeof cmd.text === 'string') ws.send(cmd.text, { binary: false });
  else if (typeof cmd.b64 === 'string') ws.send(Buffer.from(cmd.b64, 'base64'), { binary: cmd.binary !== false });
  else if (cmd.close !== undefined) ws.close(cmd.close, cmd.reason || '');
});
rl.on('close', () => {
  if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'stdin closed');
  setTimeout(() => exit(0), 500).unref();
});
