#!/usr/bin/env node
// auth-backend.js: an express auth service for wsgate's auth=request routes (nginx auth_request style).
//
//   GET /auth        → 204 with `Wsgate-Topics: news,room-*` when the Cookie header carries sid=good;
//                      otherwise 401 with `WWW-Authenticate: Cookie realm=x`
//   GET /auth-slow   → /auth after 40 ms (so that a burst overlaps and the peak shows the concurrency)
//   GET /slow        → never answers (the gateway's -auth-timeout must end it)
//   GET /stats       → JSON { count, peak, active, last } : auth requests answered or pending (count),
//                      the most in progress at once (peak), in progress now (active), the headers of
//                      the last auth request (last). /stats itself is not counted.
//   GET /reset       → zeroes count and peak
//
// Prints one JSON line {"ready":true,"port":P,"name":NAME} once listening; runs until killed.
// Usage: node auth-backend.js --port 3001 --name auth1
'use strict';

const express = require('express');

const opts = { port: 0, name: 'auth' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`auth-backend.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = k === 'port' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

let count = 0;
let active = 0;
let peak = 0;
let last = {};

// Counts every auth request while it is in progress (the gateway must never exceed maxconn).
function track(req, res, next) {
  count++;
  active++;
  peak = Math.max(peak, active);
  last = req.headers;
  let done = false;
  const end = () => { if (!done) { done = true; active--; } };
  res.on('finish', end);
  res.on('close', end);
  next();
}

function hasGoodSession(req) {
  return (req.headers.cookie || '').split(';').some((c) => c.trim() === 'sid=good');
}

function decide(req, res) {
  if (hasGoodSession(req)) {
    res.set('Wsgate-Topics', 'news,room-*');
    res.status(204).end();
    return;
  }
  res.set('WWW-Authenticate', 'Cookie realm=x');
  res.status(401).send('no session\n');
}

const app = express();
app.get('/auth', track, decide);
app.get('/auth-slow', track, (req, res) => setTimeout(() => decide(req, res), 40));
app.get('/slow', track, () => { /* never answers */ });
app.get('/stats', (req, res) => res.json({ count, peak, active, last }));
app.get('/reset', (req, res) => { count = 0; peak = 0; res.json({ ok: true }); });

const server = app.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, name: opts.name }) + '\n');
});
server.keepAliveTimeout = 1000;
