#!/usr/bin/env node
// browser-chat.js: headless Debian Chromium (driven by playwright-core, never a downloaded browser)
// opens the gateway's demo page in two tabs, waits until each tab's WebSocket is open, types a message
// into tab 1's #msg and presses Enter, then clicks #send in tab 2 with a second message, and reports
// what each tab's #log shows. Prints ONE JSON summary line; the Go test asserts on it.
//
// Usage: node browser-chat.js --url http://127.0.0.1:8080/ [--timeout 20000]
//          [--chromium /usr/bin/chromium] [--spki BASE64]
// --spki trusts an https server's certificate by the SHA-256 of its SubjectPublicKeyInfo (Chromium's
// --ignore-certificate-errors-spki-list), for a test CA the browser does not know.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const opts = { url: '', timeout: 20000, chromium: '/usr/bin/chromium', spki: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`browser-chat.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'timeout' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

// Records every WebSocket the page creates, so the test can wait for "open" without relying on how the
// page itself tracks its connection, and can report which URL the page dialled.
const trackSockets = () => {
  const Native = window.WebSocket;
  window.__wsTracked = [];
  window.WebSocket = function TrackedWebSocket(...args) {
    const ws = new Native(...args);
    window.__wsTracked.push(ws);
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {
    CONNECTING: Native.CONNECTING, OPEN: Native.OPEN, CLOSING: Native.CLOSING, CLOSED: Native.CLOSED,
  });
};

async function logItems(page) {
  return page.$$eval('#log li', (lis) => lis.map((li) => li.textContent));
}

async function main() {
  const started = Date.now();
  const summary = { url: opts.url, ok: false, steps: [], tabs: [], wsUrls: [], consoleErrors: [], error: '' };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.chromium,
      headless: true,
      timeout: opts.timeout,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ].concat(opts.spki ? [`--ignore-certificate-errors-spki-list=${opts.spki}`] : []),
    });
    context.setDefaultTimeout(opts.timeout);
    await context.addInitScript(trackSockets);

    const pages = [];
    for (let i = 0; i < 2; i++) {
      const page = i === 0 && context.pages().length > 0 ? context.pages()[0] : await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') summary.consoleErrors.push(`tab${i + 1}: ${m.text()}`); });
      page.on('pageerror', (e) => summary.consoleErrors.push(`tab${i + 1}: ${e.message}`));
      const resp = await page.goto(opts.url, { waitUntil: 'load' });
      summary.steps.push(`tab${i + 1} loaded status=${resp ? resp.status() : 'none'}`);
      pages.push(page);
    }
    for (let i = 0; i < 2; i++) {
      await pages[i].waitForFunction(
        () => (window.__wsTracked || []).some((ws) => ws.readyState === 1), null, { timeout: opts.timeout });
      summary.steps.push(`tab${i + 1} websocket open`);
      summary.wsUrls.push(...await pages[i].evaluate(() => window.__wsTracked.map((ws) => ws.url)));
    }

    const token = `hello-${process.pid}-${Date.now()} ✓`;
    const token2 = `second-${process.pid}-${Date.now()}`;
    await pages[0].fill('#msg', token);
    await pages[0].press('#msg', 'Enter');
    summary.steps.push('tab1 typed + Enter');
    const seen = (tok) => (lis) => lis.filter((t) => t.includes(tok)).length;
    const waitFor = async (page, tok) => {
      try {
        await page.waitForFunction(
          (t) => Array.from(document.querySelectorAll('#log li')).some((li) => li.textContent.includes(t)),
          tok, { timeout: opts.timeout });
        return true;
      } catch (e) {
        return false;
      }
    };
    const got1 = await Promise.all(pages.map((p) => waitFor(p, token)));
    summary.steps.push(`token1 seen in tabs: ${got1}`);

    await pages[1].fill('#msg', token2);
    await pages[1].click('#send');
    summary.steps.push('tab2 typed + clicked #send');
    const got2 = await Promise.all(pages.map((p) => waitFor(p, token2)));
    summary.steps.push(`token2 seen in tabs: ${got2}`);

    // A short pause so that a duplicate delivery would show up as a second <li>.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 2; i++) {
      const items = await logItems(pages[i]);
      summary.tabs.push({
        items: items.slice(-20),
        token1Count: seen(token)(items),
        token2Count: seen(token2)(items),
        inputAfterSend: await pages[i].inputValue('#msg'),
      });
    }
    summary.token1 = token;
    summary.token2 = token2;
    summary.ok = summary.tabs.every((t) => t.token1Count === 1 && t.token2Count === 1);
  } catch (err) {
    summary.error = String(err && err.stack ? err.stack : err).slice(0, 2000);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  summary.elapsedMs = Date.now() - started;
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}

setTimeout(() => {
  process.stderr.write('browser-chat.js: hard timeout\n');
  process.exit(3);
}, opts.timeout * 4 + 15000).unref();

main();
