#!/usr/bin/env node
// jwt-browser.js: headless Debian Chromium (playwright-core, never a downloaded browser) loads a page
// of the gateway (--url, any same-origin page: the demo page), then from it opens
//   1. new WebSocket(--ws + '?token=' + --token): must open, send a message (the token's publish claim
//      allows it) and receive it back through the topic;
//   2. new WebSocket(--ws) with no token: the gateway answers 401, which a browser only shows as a
//      failed connection (close 1006).
// Prints ONE JSON summary line; the Go test asserts on it.
//
// Usage: node jwt-browser.js --url http://127.0.0.1:8080/ --ws ws://127.0.0.1:8080/rooms/room-1
//          --token JWT [--timeout 20000] [--chromium /usr/bin/chromium]
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const opts = { url: '', ws: '', token: '', timeout: 20000, chromium: '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`jwt-browser.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'timeout' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

// Runs in the page: one socket's life as a summary.
const trySocket = ({ url, send, timeout }) => new Promise((resolve) => {
  const r = { opened: false, received: [], closeCode: 0, error: false };
  const ws = new WebSocket(url);
  const done = () => resolve(r);
  setTimeout(() => { try { ws.close(); } catch (e) { /* closing */ } done(); }, timeout);
  ws.onopen = () => { r.opened = true; if (send) ws.send(send); };
  ws.onmessage = (e) => { r.received.push(String(e.data)); if (r.received.includes(send)) { ws.close(1000); } };
  ws.onerror = () => { r.error = true; };
  ws.onclose = (e) => { r.closeCode = e.code; done(); };
});

async function main() {
  const summary = { ok: false, withToken: null, withoutToken: null, error: '' };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.chromium,
      headless: true,
      timeout: opts.timeout,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context.setDefaultTimeout(opts.timeout);
    const page = context.pages().length > 0 ? context.pages()[0] : await context.newPage();
    await page.goto(opts.url, { waitUntil: 'load' });
    const msg = `from chromium ${process.pid}`;
    summary.withToken = await page.evaluate(trySocket,
      { url: `${opts.ws}?token=${encodeURIComponent(opts.token)}`, send: msg, timeout: opts.timeout / 2 });
    summary.withoutToken = await page.evaluate(trySocket, { url: opts.ws, send: '', timeout: opts.timeout / 2 });
    summary.sent = msg;
    summary.ok = summary.withToken.opened && summary.withToken.received.includes(msg)
      && !summary.withoutToken.opened && summary.withoutToken.closeCode === 1006;
  } catch (err) {
    summary.error = String(err && err.stack ? err.stack : err).slice(0, 2000);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}

setTimeout(() => {
  process.stderr.write('jwt-browser.js: hard timeout\n');
  process.exit(3);
}, opts.timeout * 4 + 15000).unref();

main();
