#!/usr/bin/env node
// broadcast-clients.js: N real `ws` clients on one broadcast topic. Every client sends
// --text text messages and --binary binary messages (each with a unique id and a payload derived from
// that id, so any change is detectable), plus optionally one --big-byte binary message from client 0.
// Every client records what it receives; the script checks exactly-once delivery, opcode, payload,
// per-sender FIFO and that all clients saw one identical order, and prints ONE JSON summary line on
// stdout. The Go test (gateway/e2e_test.go) asserts on the summary, so the checks here only count and
// describe; they never decide pass/fail themselves (exit code is 0 unless the script itself broke).
//
// Usage: node broadcast-clients.js --url ws://127.0.0.1:8080/ws [--clients 50] [--text 20]
//          [--binary 3] [--big 0] [--open-timeout 10000] [--timeout 30000] [--grace 300]
//
// Several gateways (a cluster): repeat --url, or give --urls a,b,c (both may be combined; order is
// kept). Client i connects to urls[i % urls.length] (round-robin), and every check above is made across
// all of them: one broadcast topic spanning the nodes. The summary lists the URLs and each client's URL.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

function parseArgs(argv) {
  const opts = {
    url: '', urls: [], clients: 50, text: 20, binary: 3, big: 0,
    openTimeout: 10000, timeout: 30000, grace: 300,
  };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const v = argv[i + 1];
    if (!(k in opts) || v === undefined) throw new Error(`bad argument ${argv[i]}`);
    if (k === 'url' || k === 'urls') {
      // --url may be repeated and --urls takes a comma-separated list; both append, in order.
      const list = (k === 'url' ? [v] : v.split(',')).map((u) => u.trim());
      if (list.some((u) => u === '')) throw new Error(`empty URL in ${argv[i]} ${v}`);
      opts.urls.push(...list);
    } else {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`bad number for ${argv[i]}: ${v}`);
      opts[k] = n;
    }
  }
  if (opts.urls.length === 0) throw new Error('--url (or --urls) is required');
  opts.url = opts.urls[0];
  return opts;
}

const opts = parseArgs(process.argv);
const started = Date.now();

// Text payloads carry multi-byte UTF-8 (2-, 3- and 4-byte sequences) so that a gateway that re-encodes
// or truncates text is caught; the id prefix makes every payload unique and parseable.
function textPayload(c, s) {
  return `T:${c}:${s}:héllo wörld ✓ 🚀 ` + 'x'.repeat((c * 7 + s * 13) % 200);
}

// Binary payloads start with "B", client and seq (uint16 BE each), then bytes derived from a hash of the
// id, including 0x00 and 0xff and invalid UTF-8 — a gateway that treated them as text would break them.
function binaryPayload(c, s) {
  const len = 5 + ((c * 31 + s * 17) % 3000);
  const buf = Buffer.alloc(len);
  buf[0] = 0x42; // 'B'
  buf.writeUInt16BE(c, 1);
  buf.writeUInt16BE(s, 3);
  let seed = crypto.createHash('sha256').update(`${c}/${s}`).digest();
  for (let off = 5; off < len; off += seed.length) {
    seed.copy(buf, off, 0, Math.min(seed.length, len - off));
    seed = crypto.createHash('sha256').update(seed).digest();
  }
  return buf;
}

const bigPayload = opts.big > 0 ? crypto.randomBytes(opts.big) : null;
const bigSha = bigPayload ? crypto.createHash('sha256').update(bigPayload).digest('hex') : '';

// The expected message set: id -> {sender, seq, binary}. Binary seqs follow the text seqs so that each
// sender's messages have one FIFO sequence number space.
const expected = new Map();
for (let c = 0; c < opts.clients; c++) {
  for (let s = 0; s < opts.text; s++) expected.set(`${c}:${s}`, { c, s, binary: false });
  for (let s = opts.text; s < opts.text + opts.binary; s++) expected.set(`${c}:${s}`, { c, s, binary: true });
}
const BIG_ID = 'big';
if (bigPayload) expected.set(BIG_ID, { c: 0, s: opts.text + opts.binary, binary: true });

const clients = [];
const errors = [];

function classify(data, isBinary) {
  // Returns {id, payloadOk, opcodeMismatch, sha} or {id: null, why} when the message is unrecognisable.
  // The id is parsed the same way whatever the opcode, so a message that arrives with the wrong opcode is
  // reported as an opcode mismatch rather than as noise.
  if (bigPayload && data.length === bigPayload.length) {
    const sha = crypto.createHash('sha256').update(data).digest('hex');
    return { id: BIG_ID, payloadOk: sha === bigSha, opcodeMismatch: !isBinary, sha };
  }
  let c;
  let s;
  const m = /^T:(\d+):(\d+):/.exec(data.subarray(0, 32).toString('latin1'));
  if (m) {
    c = Number(m[1]);
    s = Number(m[2]);
  } else if (data.length >= 5 && data[0] === 0x42) {
    c = data.readUInt16BE(1);
    s = data.readUInt16BE(3);
  } else {
    return { id: null, why: `unrecognised ${isBinary ? 'binary' : 'text'} message of ${data.length} bytes` };
  }
  const id = `${c}:${s}`;
  const exp = expected.get(id);
  if (!exp) return { id: null, why: `unexpected id ${id}` };
  const want = exp.binary ? binaryPayload(c, s) : Buffer.from(textPayload(c, s), 'utf8');
  return { id, payloadOk: Buffer.compare(data, want) === 0, opcodeMismatch: exp.binary !== isBinary };
}

function makeClient(index) {
  const url = opts.urls[index % opts.urls.length]; // round-robin over the gateways
  const st = {
    index, url, ws: null, opened: false, order: [], counts: new Map(), payloadMismatch: 0, opcodeMismatch: 0,
    unrecognised: 0, closed: null, bigSha: '', firstProblem: '',
  };
  st.openPromise = new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: opts.openTimeout });
    st.ws = ws;
    ws.on('open', () => { st.opened = true; resolve(); });
    ws.on('message', (data, isBinary) => {
      const r = classify(data, isBinary);
      if (r.id === null || r.why) {
        st.unrecognised++;
        if (!st.firstProblem) st.firstProblem = r.why || 'unrecognised';
        return;
      }
      if (r.opcodeMismatch) {
        st.opcodeMismatch++;
        if (!st.firstProblem) st.firstProblem = `opcode mismatch for ${r.id}`;
      } else if (!r.payloadOk) {
        st.payloadMismatch++;
        if (!st.firstProblem) st.firstProblem = `payload mismatch for ${r.id}`;
      }
      if (r.id === BIG_ID) st.bigSha = r.sha;
      st.order.push(r.id);
      st.counts.set(r.id, (st.counts.get(r.id) || 0) + 1);
    });
    ws.on('close', (code, reason) => {
      st.closed = { code, reason: reason.toString() };
      resolve();
    });
    ws.on('error', (err) => {
      errors.push(`client ${index} (${url}): ${err.message}`);
      resolve();
    });
  });
  return st;
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise.then(() => true),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function main() {
  for (let i = 0; i < opts.clients; i++) clients.push(makeClient(i));
  const allOpen = await withTimeout(Promise.all(clients.map((c) => c.openPromise)), opts.openTimeout);
  const opened = clients.filter((c) => c.opened).length;
  const openMs = Date.now() - started;

  if (opened === opts.clients) {
    // Interleave the senders: round-robin, one message per client per tick, so the gateway sees many
    // concurrent publishers and has to impose one order on them.
    const perClient = opts.text + opts.binary;
    for (let s = 0; s < perClient; s++) {
      for (const st of clients) {
        if (st.ws.readyState !== WebSocket.OPEN) continue;
        if (s < opts.text) st.ws.send(textPayload(st.index, s), { binary: false });
        else st.ws.send(binaryPayload(st.index, s), { binary: true });
      }
      await new Promise((r) => setImmediate(r));
    }
    if (bigPayload && clients[0].ws.readyState === WebSocket.OPEN) {
      clients[0].ws.send(bigPayload, { binary: true });
    }
    const total = expected.size;
    const deadline = Date.now() + opts.timeout;
    while (Date.now() < deadline) {
      if (clients.every((c) => c.order.length >= total || c.closed)) break;
      await sleep(20);
    }
    // Wait a little longer so that duplicates arriving after the last expected message are counted too.
    await sleep(opts.grace);
  }

  const total = expected.size;
  const ref = clients[0] ? clients[0].order : [];
  const refKey = ref.join(',');
  const perClient = clients.map((st) => {
    let missing = 0;
    let duplicates = 0;
    for (const id of expected.keys()) {
      const n = st.counts.get(id) || 0;
      if (n === 0) missing++;
      if (n > 1) duplicates += n - 1;
    }
    // Per-sender FIFO: each sender's messages must arrive in the order it sent them.
    let fifoViolations = 0;
    const lastSeq = new Map();
    for (const id of st.order) {
      const e = expected.get(id);
      const prev = lastSeq.get(e.c);
      if (prev !== undefined && e.s <= prev) fifoViolations++;
      lastSeq.set(e.c, e.s);
    }
    let firstOrderDiff = -1;
    if (st.order.join(',') !== refKey) {
      const n = Math.max(st.order.length, ref.length);
      for (let i = 0; i < n; i++) {
        if (st.order[i] !== ref[i]) { firstOrderDiff = i; break; }
      }
    }
    return {
      index: st.index,
      url: st.url,
      opened: st.opened,
      received: st.order.length,
      missing,
      duplicates,
      payloadMismatch: st.payloadMismatch,
      opcodeMismatch: st.opcodeMismatch,
      unrecognised: st.unrecognised,
      fifoViolations,
      sameOrderAsClient0: firstOrderDiff === -1,
      firstOrderDiff,
      bigSha: st.bigSha,
      closed: st.closed,
      firstProblem: st.firstProblem,
    };
  });

  const summary = {
    url: opts.url,
    urls: opts.urls,
    clients: opts.clients,
    opened,
    allOpenInTime: allOpen && opened === opts.clients,
    expectedPerClient: total,
    bigSha,
    totals: {
      received: perClient.reduce((a, p) => a + p.received, 0),
      missing: perClient.reduce((a, p) => a + p.missing, 0),
      duplicates: perClient.reduce((a, p) => a + p.duplicates, 0),
      payloadMismatch: perClient.reduce((a, p) => a + p.payloadMismatch, 0),
      opcodeMismatch: perClient.reduce((a, p) => a + p.opcodeMismatch, 0),
      unrecognised: perClient.reduce((a, p) => a + p.unrecognised, 0),
      fifoViolations: perClient.reduce((a, p) => a + p.fifoViolations, 0),
      clientsWithOtherOrder: perClient.filter((p) => !p.sameOrderAsClient0).length,
      closedEarly: perClient.filter((p) => p.closed !== null).length,
    },
    // A fingerprint of client 0's order, so that two runs can be told apart in logs.
    orderSha: crypto.createHash('sha256').update(refKey).digest('hex').slice(0, 16),
    errors: errors.slice(0, 20),
    openMs,
    elapsedMs: Date.now() - started,
    perClient,
  };

  for (const st of clients) {
    if (st.ws && st.ws.readyState === WebSocket.OPEN) st.ws.close(1000, 'done');
  }
  process.stdout.write(JSON.stringify(summary) + '\n', () => {
    // Give the close frames a moment to go out, but never hang on a peer that does not answer them.
    setTimeout(() => process.exit(0), 300);
  });
}

// A hard stop in case something above waits forever: the Go test also has its own deadline.
setTimeout(() => {
  process.stderr.write('broadcast-clients.js: hard timeout\n');
  process.exit(3);
}, opts.openTimeout + opts.timeout + opts.grace + 10000).unref();

main().catch((err) => {
  process.stderr.write(`broadcast-clients.js: ${err.stack || err}\n`);
  process.exit(2);
});
