#!/usr/bin/env node
// resume-client.js: wsgate.v1 clients (Node `ws`) that lose their TCP connection, miss messages
// published through the gateway's publish API, reconnect and resume from their last position.
// Prints one JSON summary line.
//
//   --mode resume  each of --clients clients: subscribe, get one message (its position), has its TCP
//                  connection destroyed, --n messages are published, reconnects with since → the
//                  reply, then every message after since in order, then --live more published live.
//   --mode gap     as resume, but expects recovered:false (the gap is beyond what the node holds).
//   --mode bad     bad input on one socket: the replies to each probe, by id.
//   --mode wsgatejs  the gateway's own browser client (GET /wsgate.js, run here with ws): a publisher
//                  sends s-0 … s-(n-1) without pause; the client's TCP connection is destroyed twice on
//                  the way; it must see every message exactly once, in order, and resume recovered.
//   --mode script  reads --first frames, then sends each command of --cmds (a JSON array) and prints
//                  the frame answering each.
//
// Usage: node resume-client.js --mode resume --url ws://H:P/ws --admin http://H:P --topic chat
//        [--n 500] [--clients 1] [--live 5] [--timeout 20000] [--url2 URL: reconnect there, or @FILE:
//        write FILE.gap after the gap, wait for FILE, reconnect to the URL it holds]
//        [--token T: publish API bearer] [--kcat PATH --broker H:P [--ktopic T]: the second half of
//        the --n messages is produced by kcat straight into Kafka, keyed by the topic]
'use strict';

const WebSocket = require('ws');

const opts = { mode: 'resume', url: '', admin: '', topic: 'chat', n: 500, clients: 1, live: 5, timeout: 20000, subs: 10000, cmds: '[]',
  url2: '', token: '', kcat: '', broker: '', ktopic: 'wsgate.broadcast', first: 0 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`resume-client.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = typeof opts[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

function done(obj) { process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(0)); }
setTimeout(() => done({ error: 'timeout' }), opts.timeout).unref();

async function publish(topic, body) {
  const headers = opts.token ? { Authorization: 'Bearer ' + opts.token } : {};
  const res = await fetch(`${opts.admin}/v1/publish/${encodeURIComponent(topic)}`, { method: 'POST', body, headers });
  if (res.status !== 202) throw new Error(`publish: ${res.status} ${await res.text()}`);
}

// A wsgate.v1 socket whose frames are queued for next().
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wsgate.v1'], { perMessageDeflate: false });
    const q = [];
    let waiter = null;
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? { binaryFrame: true } : JSON.parse(data.toString());
      if (waiter) { const w = waiter; waiter = null; w(m); } else q.push(m);
    });
    ws.next = (ms = 5000) => new Promise((res, rej) => {
      if (q.length) return res(q.shift());
      const t = setTimeout(() => { waiter = null; rej(new Error('no frame within ' + ms + ' ms')); }, ms);
      waiter = (m) => { clearTimeout(t); res(m); };
    });
    ws.pending = () => q.length;
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

function send(ws, cmd) { ws.send(JSON.stringify(cmd)); }

// One client's connection: subscribe to learn the position, receive one message.
async function firstLife(i) {
  const ws = await open(opts.url);
  if (ws.protocol !== 'wsgate.v1') throw new Error('subprotocol ' + ws.protocol);
  send(ws, { id: 1, subscribe: { topic: opts.topic } });
  const rep = await ws.next();
  if (rep.id !== 1 || !rep.subscribe) throw new Error('subscribe reply ' + JSON.stringify(rep));
  return { ws, pos: { offset: rep.subscribe.offset, epoch: rep.subscribe.epoch } };
}

async function resumeMode() {
  const t0 = Date.now();
  const lives = [];
  for (let i = 0; i < opts.clients; i++) lives.push(await firstLife(i));
  await publish(opts.topic, 'before');
  for (const l of lives) {
    const m = await l.ws.next();
    if (m.data !== 'before') throw new Error('first message ' + JSON.stringify(m));
    l.pos = { offset: m.offset, epoch: m.epoch };
    l.ws._socket.destroy(); // the TCP connection dies; no close frame
  }
  const viaAPI = opts.kcat ? Math.floor(opts.n / 2) : opts.n;
  for (let k = 0; k < viaAPI; k++) await publish(opts.topic, 'm-' + k);
  if (opts.kcat) {
    let lines = '';
    for (let k = viaAPI; k < opts.n; k++) lines += 'm-' + k + '\n';
    require('child_process').execFileSync(opts.kcat, ['-P', '-b', opts.broker, '-t', opts.ktopic, '-k', opts.topic,
      '-X', 'topic.partitioner=murmur2_random'], { input: lines });
  }
  let url2 = opts.url2 || opts.url;
  if (url2.startsWith('@')) {
    // A file names the URL once it exists: the test starts that node after the gap (FILE.gap).
    const fs = require('fs');
    fs.writeFileSync(url2.slice(1) + '.gap', '');
    while (!fs.existsSync(url2.slice(1))) await new Promise((res) => setTimeout(res, 20));
    url2 = fs.readFileSync(url2.slice(1), 'utf8');
  }
  const tResume = Date.now();
  const socks = await Promise.all(lives.map(async (l) => {
    const ws = await open(url2);
    send(ws, { id: 7, subscribe: { topic: opts.topic, since: l.pos } });
    return { ws, since: l.pos };
  }));
  const results = [];
  for (const s of socks) {
    // The URL's topic (/ws is topic:chat) is live from the upgrade on: a node still reading the gap
    // from Kafka delivers part of it before the subscribe reply. The reply says how many recovered
    // messages follow it (those are older); the early ones come after them in the stream, as
    // wsgate.js orders them.
    const early = [];
    let rep = await s.ws.next();
    while (rep.id !== 7 && rep.id === undefined && rep.topic === opts.topic) {
      early.push(rep);
      rep = await s.ws.next();
    }
    const r = { reply: rep, early: early.length, got: 0, inOrder: true, dups: 0, missing: 0, wrongTopic: 0, first: null, last: null };
    const recovered = rep.subscribe && rep.subscribe.recovered;
    const expect = recovered ? opts.n : 0;
    let before = recovered ? (early.length ? rep.subscribe.messages : opts.n) : 0;
    const next = () => (before-- > 0 || !early.length ? s.ws.next() : Promise.resolve(early.shift()));
    let prev = s.since.offset;
    const seen = new Set();
    for (let k = 0; k < expect; k++) {
      const m = await next();
      if (m.topic !== opts.topic) r.wrongTopic++;
      if (seen.has(m.offset)) r.dups++;
      seen.add(m.offset);
      if (m.offset <= prev || m.data !== 'm-' + k) r.inOrder = false;
      prev = m.offset;
      if (k === 0) r.first = m.data;
      r.last = m.data;
      r.got++;
    }
    r.prev = prev;
    results.push(r);
  }
  const caughtUpMs = Date.now() - tResume;
  // Live after the catch-up: exactly the next messages, once each, in order.
  for (let k = 0; k < opts.live; k++) await publish(opts.topic, 'live-' + k);
  for (let i = 0; i < socks.length; i++) {
    const r = results[i];
    r.live = 0;
    for (let k = 0; k < opts.live; k++) {
      const m = await socks[i].ws.next();
      if (m.data !== 'live-' + k || m.offset <= r.prev) r.inOrder = false;
      r.prev = m.offset;
      r.live++;
    }
    // Nothing more is waiting (no duplicate came late).
    await new Promise((res) => setTimeout(res, opts.clients > 1 ? 0 : 100));
    r.extra = socks[i].ws.pending();
    socks[i].ws.close();
  }
  const all = results.every((r) => r.reply.subscribe && r.reply.subscribe.recovered);
  done({ clients: results.length, allRecovered: all, sample: results[0], results: opts.clients > 1 ? undefined : results,
    bad: results.filter((r) => r.got !== (r.reply.subscribe && r.reply.subscribe.recovered ? opts.n : 0) || !r.inOrder || r.dups || r.extra || r.live !== opts.live).length,
    caughtUpMs, totalMs: Date.now() - t0 });
}

async function badMode() {
  const ws = await open(opts.url);
  const out = {};
  async function probe(name, raw) {
    ws.send(raw);
    out[name] = await ws.next();
  }
  await probe('notJSON', '{"id":1,"subscribe":');
  await probe('notObject', '[1,2,3]');
  await probe('unknownCommand', JSON.stringify({ id: 2, frobnicate: { topic: 'x' } }));
  await probe('twoCommands', JSON.stringify({ id: 3, subscribe: { topic: 'a' }, unsubscribe: { topic: 'a' } }));
  await probe('noTopic', JSON.stringify({ id: 4, subscribe: {} }));
  await probe('badTopicName', JSON.stringify({ id: 5, subscribe: { topic: '' } }));
  await probe('badSince', JSON.stringify({ id: 6, subscribe: { topic: opts.topic, since: { offset: 'x' } } }));
  await probe('otherTopic', JSON.stringify({ id: 8, subscribe: { topic: 'not-' + opts.topic } }));
  await probe('position', JSON.stringify({ id: 9, subscribe: { topic: opts.topic } }));
  const pos = out.position.subscribe || { offset: 0, epoch: '' };
  await probe('future', JSON.stringify({ id: 10, subscribe: { topic: opts.topic, since: { offset: pos.offset + 1000, epoch: pos.epoch } } }));
  await probe('wrongEpoch', JSON.stringify({ id: 11, subscribe: { topic: opts.topic, since: { offset: pos.offset, epoch: 'nope' } } }));
  await probe('current', JSON.stringify({ id: 12, subscribe: { topic: opts.topic, since: pos } }));
  await probe('publishBad', JSON.stringify({ id: 13, publish: { topic: opts.topic } }));
  await probe('publishB64', JSON.stringify({ id: 14, publish: { topic: opts.topic, b64: '!!' } }));
  ws.send(Buffer.from([1, 2, 3]));
  out.binaryFrame = await ws.next();
  // Many subscribes on one socket: every one answered, the socket stays up.
  const codes = {};
  for (let k = 0; k < opts.subs; k++) send(ws, { id: 100 + k, subscribe: { topic: 'bulk-' + k } });
  for (let k = 0; k < opts.subs; k++) {
    const m = await ws.next(10000);
    const key = m.error ? String(m.error.code) : 'ok';
    codes[key] = (codes[key] || 0) + 1;
  }
  out.bulk = codes;
  await probe('stillUp', JSON.stringify({ id: 99, unsubscribe: { topic: opts.topic } }));
  ws.close();
  done(out);
}

async function scriptMode() {
  const ws = await open(opts.url);
  const out = [];
  for (let k = 0; k < opts.first; k++) out.push(await ws.next()); // frames that come unasked (?since=)
  for (const c of JSON.parse(opts.cmds)) {
    send(ws, c);
    out.push(await ws.next());
  }
  ws.close();
  done({ protocol: ws.protocol, replies: out });
}

async function wsgatejsMode() {
  const src = await (await fetch(opts.url.replace(/^ws/, 'http').replace(/\/[^/]*$/, '/wsgate.js'))).text();
  const mod = { exports: {} };
  new Function('module', 'exports', 'self', src)(mod, mod.exports, undefined);
  const wsgate = mod.exports;
  const seen = [];
  const recovers = [];
  let kills = 0;
  const c = wsgate.connect(opts.url, {
    WebSocket, minDelay: 100, maxDelay: 400,
    onRecover: (topic, recovered, reply) => recovers.push({ topic, recovered, messages: reply.messages }),
  });
  let gotAll;
  const all = new Promise((res) => { gotAll = res; });
  c.subscribe(opts.topic, (m) => {
    seen.push(m.data);
    if (seen.length === Math.floor(opts.n / 3) || seen.length === Math.floor(2 * opts.n / 3)) {
      kills++;
      c.ws._socket.destroy(); // the TCP connection dies, the page (the client object) lives on
    }
    if (seen.length >= opts.n) gotAll();
  });
  await new Promise((res) => { const t = setInterval(() => { if (c.status === 'open' && Object.keys(c.pending).length === 0) { clearInterval(t); res(); } }, 10); });
  for (let k = 0; k < opts.n; k++) await publish(opts.topic, 's-' + k);
  await Promise.race([all, new Promise((res) => setTimeout(res, 10000))]);
  await new Promise((res) => setTimeout(res, 200)); // a late duplicate would show up here
  let inOrder = true;
  for (let k = 0; k < seen.length; k++) if (seen[k] !== 's-' + k) { inOrder = false; break; }
  c.close();
  done({ seen: seen.length, inOrder, kills, recovers, recovered: c.recovered });
}

({ wsgatejs: wsgatejsMode, bad: badMode, script: scriptMode, resume: resumeMode })[opts.mode]().catch((err) => done({ error: String(err && err.stack || err) }));
