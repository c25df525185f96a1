#!/usr/bin/env node
// lb-clients.js: N Node `ws` clients open WebSocket tunnels through the gateway, all at once; each reads
// the backend's hello (which names the server and echoes X-Forwarded-For as the backend saw it), checks
// a text and a binary echo, holds the connection --hold ms, and closes with 1000.
//
// Prints one JSON summary: { opened, counts: {server: n}, clients: [{ i, server, xff, textEcho,
//   binaryEcho, error }], errors: [...], elapsedMs }
//
// Usage: node lb-clients.js --url ws://127.0.0.1:8080/ws/echo [--n 10] [--hold 200] [--timeout 8000]
//                           [--xff 203.0.113.7]   (sent as X-Forwarded-For by odd-numbered clients)
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const opts = { url: '', n: 10, hold: 200, timeout: 8000, xff: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`lb-clients.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = (k === 'url' || k === 'xff') ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

const started = Date.now();
const summary = { opened: 0, counts: {}, clients: [], errors: [], elapsedMs: 0 };

function runClient(i) {
  return new Promise((resolve) => {
    const r = { i, server: '', xff: '', sentXff: '', textEcho: false, binaryEcho: false, error: '' };
    summary.clients.push(r);
    const headers = {};
    if (opts.xff && i % 2 === 1) {
      headers['X-Forwarded-For'] = opts.xff;
      r.sentXff = opts.xff;
    }
    const ws = new WebSocket(opts.url, { perMessageDeflate: false, handshakeTimeout: opts.timeout, headers });
    const text = `text from client ${i}`;
    const bin = crypto.randomBytes(1000 + i);
    let step = 0; // 0 hello, 1 text echo, 2 binary echo
    const done = (err) => {
      if (err && !r.error) r.error = err;
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => { done(`timeout at step ${step}`); ws.terminate(); }, opts.timeout);
    ws.on('open', () => { summary.opened++; });
    ws.on('message', (data, isBinary) => {
      if (step === 0) {
        try {
          const h = JSON.parse(data.toString());
          r.server = h.server;
          r.xff = h.xff;
        } catch (e) {
          done(`bad hello: ${data.toString().slice(0, 100)}`);
          ws.terminate();
          return;
        }
        summary.counts[r.server] = (summary.counts[r.server] || 0) + 1;
        step = 1;
        ws.send(text);
      } else if (step === 1) {
        r.textEcho = !isBinary && data.toString() === text;
        step = 2;
        ws.send(bin);
      } else if (step === 2) {
        r.binaryEcho = isBinary && Buffer.compare(data, bin) === 0;
        step = 3;
        setTimeout(() => ws.close(1000, 'done'), opts.hold);
      }
    });
    ws.on('close', () => done(step === 3 ? '' : `closed at step ${step}`));
    ws.on('error', (err) => { summary.errors.push(`client ${i}: ${err.message}`); done(err.message); });
  });
}

Promise.all(Array.from({ length: opts.n }, (_, i) => runClient(i))).then(() => {
  summary.clients.sort((a, b) => a.i - b.i);
  summary.elapsedMs = Date.now() - started;
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
});
