#!/usr/bin/env node
// resume-browser.js: headless Debian Chromium (playwright-core) runs the gateway's wsgate.js from the
// built-in page, through a TCP proxy this script owns. While messages are published without pause
// (s-0 … s-(n-1), publish API), the proxy destroys every TCP connection twice — the connections die,
// the page lives on — and wsgate.js reconnects and resumes. Prints ONE JSON summary line: what the
// page's client saw, in order, and its recovered answers.
//
// Usage: node resume-browser.js --gateway 127.0.0.1:8080 --admin http://127.0.0.1:9090 [--n 900]
//          [--topic chat] [--timeout 40000] [--chromium /usr/bin/chromium]
'use strict';

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const opts = { gateway: '', admin: '', n: 900, topic: 'chat', timeout: 40000, chromium: '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`resume-browser.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = typeof opts[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

function done(obj) { process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(0)); }
setTimeout(() => done({ error: 'timeout' }), opts.timeout + 20000).unref();

// The proxy: every browser connection piped to the gateway; kill() destroys them all.
const [gwHost, gwPort] = opts.gateway.split(':');
const live = new Set();
const proxy = net.createServer((c) => {
  const up = net.connect(Number(gwPort), gwHost);
  const pair = { c, up };
  live.add(pair);
  const end = () => { live.delete(pair); c.destroy(); up.destroy(); };
  c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  c.pipe(up); up.pipe(c);
});
function kill() { for (const p of live) { p.c.destroy(); p.up.destroy(); } live.clear(); }

async function publish(body) {
  const res = await fetch(`${opts.admin}/v1/publish/${encodeURIComponent(opts.topic)}`, { method: 'POST', body });
  if (res.status !== 202) throw new Error(`publish: ${res.status}`);
}

async function main() {
  await new Promise((res) => proxy.listen(0, '127.0.0.1', res));
  const base = `http://127.0.0.1:${proxy.address().port}/`;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium, headless: true, timeout: opts.timeout,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const summary = { consoleErrors: [] };
  try {
    context.setDefaultTimeout(opts.timeout);
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => summary.consoleErrors.push(e.message));
    await page.goto(base, { waitUntil: 'load' });
    // A client of the test's own next to the page's: the same wsgate.js the page loaded.
    await page.evaluate((topic) => {
      window.__seen = []; window.__rec = [];
      window.__c = wsgate.connect('ws://' + location.host + '/ws', {
        minDelay: 100, maxDelay: 400,
        onRecover: (t, recovered, reply) => window.__rec.push({ topic: t, recovered, messages: reply.messages }),
      });
      window.__c.subscribe(topic, (m) => window.__seen.push(m.data));
    }, opts.topic);
    await page.waitForFunction(() => window.__c.status === 'open' && Object.keys(window.__c.pending).length === 0);
    let kills = 0;
    const killer = setInterval(async () => {
      const n = await page.evaluate(() => window.__seen.length).catch(() => 0);
      if ((kills === 0 && n >= opts.n / 3) || (kills === 1 && n >= 2 * opts.n / 3)) { kills++; kill(); }
    }, 5);
    for (let k = 0; k < opts.n; k++) await publish('s-' + k);
    await page.waitForFunction((n) => window.__seen.length >= n, opts.n);
    clearInterval(killer);
    await new Promise((res) => setTimeout(res, 300)); // a late duplicate would show up here
    const r = await page.evaluate(() => ({ seen: window.__seen, rec: window.__rec, recovered: window.__c.recovered,
      pageLog: document.querySelectorAll('#log li').length }));
    let inOrder = r.seen.length === opts.n;
    for (let k = 0; inOrder && k < r.seen.length; k++) if (r.seen[k] !== 's-' + k) inOrder = false;
    Object.assign(summary, { seen: r.seen.length, inOrder, kills, recovers: r.rec, recovered: r.recovered, pageLog: r.pageLog });
  } finally {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  done(summary);
}

main().catch((err) => done({ error: String(err && err.stack || err) }));
