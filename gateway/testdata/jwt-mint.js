#!/usr/bin/env node
// jwt-mint.js: tokens for wsgate's access-control tests, made by an implementation independent of the
// gateway (Node's jsonwebtoken for HS256/RS256/PS256/ES256, Node's crypto for EdDSA, which jsonwebtoken
// lacks, and for the hand-built bad tokens). It generates fresh keys, writes their public PEMs into --dir,
// and prints ONE JSON line: {"secret": BASE64, "tokens": {case: token}}. The Go tests hold the expected
// answer of each case.
//
// Usage: node jwt-mint.js --dir DIR [--iss ISS] [--aud AUD] [--sub SUB] [--topics a,b*] [--publish a]
//          [--ttl SECONDS]
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const jwt = require('jsonwebtoken');

const opts = { dir: '', iss: 'https://id.example', aud: 'wsgate', sub: 'alice', topics: 'news,room-*', publish: 'room-1', ttl: '3600' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts) || process.argv[i + 1] === undefined) {
    process.stderr.write(`jwt-mint.js: bad argument ${process.argv[i]}\n`);
    process.exit(2);
  }
  opts[k] = process.argv[i + 1];
}
const list = (s) => (s === '' ? [] : s.split(','));
const now = Math.floor(Date.now() / 1000);
const claims = { sub: opts.sub, iss: opts.iss, aud: opts.aud, topics: list(opts.topics), publish: list(opts.publish), exp: now + Number(opts.ttl) };

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const pem = (key) => key.export({ type: 'spki', format: 'pem' });

const secret = crypto.randomBytes(32);
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = crypto.generateKeyPairSync('ed25519');
const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
if (opts.dir) {
  fs.writeFileSync(path.join(opts.dir, 'rsa.pem'), pem(rsa.publicKey));
  fs.writeFileSync(path.join(opts.dir, 'ec.pem'), pem(ec.publicKey));
  fs.writeFileSync(path.join(opts.dir, 'ed.pem'), pem(ed.publicKey));
}

// raw signs header.payload as given (strings, so duplicates and non-JSON survive) with HMAC-SHA256.
const rawHS = (header, payload, key) => {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${b64u(crypto.createHmac('sha256', key).update(input).digest())}`;
};
const eddsa = (payload, key) => {
  const input = `${b64u(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' }))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${b64u(crypto.sign(null, Buffer.from(input), key))}`;
};
const hs = (c, o = {}) => jwt.sign(c, secret, { algorithm: 'HS256', ...o });
const without = (c, k) => { const d = { ...c }; delete d[k]; return d; };

const tokens = {
  hs256: hs(claims),
  rs256: jwt.sign(claims, rsa.privateKey, { algorithm: 'RS256' }),
  ps256: jwt.sign(claims, rsa.privateKey, { algorithm: 'PS256' }),
  es256: jwt.sign(claims, ec.privateKey, { algorithm: 'ES256' }),
  eddsa: eddsa(claims, ed.privateKey),
  leeway_expired: hs({ ...claims, exp: now - 10 }),
  // Bad ones.
  alg_none: `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}.`,
  confusion: rawHS(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), JSON.stringify(claims), pem(rsa.publicKey)),
  wrong_kid: jwt.sign(claims, stranger.privateKey, { algorithm: 'RS256', keyid: 'nope' }),
  bad_signature: hs(claims).slice(0, -4) + 'AAAA',
  other_secret: jwt.sign(claims, crypto.randomBytes(32), { algorithm: 'HS256' }),
  es256_as_rs256: (() => { const [, p, s] = jwt.sign(claims, ec.privateKey, { algorithm: 'ES256' }).split('.'); return `${b64u(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${p}.${s}`; })(),
  expired: hs({ ...claims, exp: now - 3600 }),
  not_yet_valid: hs({ ...claims, nbf: now + 3600 }),
  no_exp: hs(without(claims, 'exp')),
  wrong_iss: hs({ ...claims, iss: 'https://evil.example' }),
  wrong_aud: hs({ ...claims, aud: 'someone-else' }),
  big: hs({ ...claims, pad: 'x'.repeat(64 << 10) }),
  non_json_payload: rawHS(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'this is not JSON', secret),
  dup_claims: rawHS(JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
    `{"sub":"alice","exp":${claims.exp},"iss":"${claims.iss}","aud":"${claims.aud}","topics":["news"],"topics":["*"]}`, secret),
  // encoding/json matches names case-insensitively (Unicode folding) after decoding escapes.
  dup_claims_case: rawHS(JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
    `{"sub":"alice","exp":${claims.exp},"iss":"${claims.iss}","aud":"${claims.aud}","topics":["news"],"Topics":["*"]}`, secret),
  dup_claims_escaped: rawHS(JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
    `{"sub":"alice","exp":${claims.exp},"iss":"${claims.iss}","aud":"${claims.aud}","topics":["news"],"\\u0074opics":["*"]}`, secret),
  dup_claims_fold: rawHS(JSON.stringify({ alg: 'HS256', typ: 'JWT' }),
    `{"sub":"alice","exp":${claims.exp},"iss":"${claims.iss}","aud":"${claims.aud}","topics":["news"],"\u017fub":"admin"}`, secret),
  nested_ok: hs({ ...claims, ctx: { sub: 'x', topics: ['y'], list: [{ a: '}' }, ','] } }),
  dup_header: rawHS('{"alg":"HS256","typ":"JWT","alg":"none"}', JSON.stringify(claims), secret),
  garbage: 'not.a.jwt',
};
process.stdout.write(JSON.stringify({ secret: secret.toString('base64'), tokens }) + '\n');
