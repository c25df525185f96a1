#!/usr/bin/env node
// jwt-jwks-server.js: a JWK set server that rotates its keys, for wsgate's JWKS tests. It holds one
// signing key at a time (RS256, or ES256 with --alg ES256) and serves:
//   GET  /jwks.json          the public keys (current and, after a rotation, the previous one unless --drop 1)
//   GET  /mint?sub=&topics=a,b&publish=&ttl=   a token signed (jsonwebtoken) with the current key and kid
//   POST /rotate             a new key with a new kid; the old one stays published (or not, --drop 1)
//   POST /fail?on=1          make /jwks.json answer 500 (on=0 back to normal)
// Prints "listening PORT" on stdout once ready.
//
// Usage: node jwt-jwks-server.js [--port 0] [--alg RS256|ES256] [--drop 0|1]
'use strict';

const crypto = require('crypto');
const http = require('http');
const jwt = require('jsonwebtoken');

const opts = { port: '0', alg: 'RS256', drop: '0' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`jwt-jwks-server.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = process.argv[i + 1];
}

let serial = 0;
const newKey = () => {
  const pair = opts.alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `k${++serial}`;
  return { kid, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg: opts.alg, use: 'sig' } };
};
let keys = [newKey()];
let failing = false;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const send = (status, body, type = 'application/json') => { res.writeHead(status, { 'Content-Type': type }); res.end(body); };
  if (url.pathname === '/jwks.json') {
    if (failing) return send(500, '{"error":"down"}');
    // An encryption key and a symmetric key in the set must be skipped, not trusted.
    const extra = [{ kty: 'oct', kid: 'sym', k: 'c2VjcmV0' }, { ...keys[0].jwk, kid: 'enc', use: 'enc' }];
    return send(200, JSON.stringify({ keys: [...keys.map((k) => k.jwk), ...extra] }));
  }
  if (url.pathname === '/mint') {
    const q = url.searchParams;
    const list = (s) => (s ? s.split(',') : []);
    const claims = { sub: q.get('sub') || 'alice', topics: list(q.get('topics')), publish: list(q.get('publish')) };
    const token = jwt.sign(claims, keys[0].privateKey, { algorithm: opts.alg, keyid: keys[0].kid, expiresIn: Number(q.get('ttl') || 3600) });
    return send(200, token, 'text/plain');
  }
  if (url.pathname === '/rotate' && req.method === 'POST') {
    const k = newKey();
    keys = opts.drop === '1' ? [k] : [k, keys[0]];
    return send(200, JSON.stringify({ kid: k.kid }));
  }
  if (url.pathname === '/fail' && req.method === 'POST') {
    failing = url.searchParams.get('on') === '1';
    return send(200, '{}');
  }
  send(404, '{}');
});
server.listen(Number(opts.port), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
