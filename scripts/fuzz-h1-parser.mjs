#!/usr/bin/env node
/**
 * Differential fuzz of the lean transport's response parser (src/upstreams/h1/parse.ts)
 * against node's llhttp, which undici's parser is a build of: generated answers, valid and
 * broken (status lines, framing fields, chunk lines, trailers, bare CR/LF, 1xx first), fed
 * to both. It fails when lean reads an answer llhttp refuses, or reads one differently
 * (status, fields, body): what a target could use to make Brisk pass on something undici
 * would have stopped. Lean refusing more is counted and shown, not failed.
 *
 *   npm run build && node --no-deprecation scripts/fuzz-h1-parser.mjs [SEED] [COUNT] [--split]
 *
 * llhttp is reached through process.binding('http_parser') (deprecated, DEP0111): fine for
 * a tool, which is why this is not a test. --split feeds lean the bytes in small pieces.
 * Run on 2026-12-07: 320,000 answers, none read by lean and refused by llhttp or read
 * differently after the fixes of that day; lean refused ~0.9% that llhttp read (an
 * HTTP/2.0 status line, controls in the reason, a 204 with a length, `chunked,chunked`).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const { HTTPParser } = process.binding('http_parser');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { ResponseParser } = await import(pathToFileURL(join(ROOT, 'dist/src/upstreams/h1/parse.js')).href);
const args = process.argv.slice(2).filter((a) => a !== '--split');
const split = process.argv.includes('--split');
let seed = Number(args[0] ?? 1);
/** mulberry32: a seeded generator, so a failing SEED can be run again. */
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
/** The first (valid) entry four times in five, else any: most answers stay near valid. */
const pick = (a) => (rnd() < 0.8 ? a[0] : a[Math.floor(rnd() * a.length)]);
const STATUS = ['HTTP/1.1 200 OK', 'HTTP/1.1 200', 'HTTP/1.1 200 ', 'HTTP/1.0 200 OK', 'HTTP/1.1 204 No Content', 'HTTP/1.1 304 NM', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 100 Continue', 'HTTP/1.1 103 EH', 'HTTP/1.1 101 SP', 'HTTP/1.1 999 X', 'HTTP/1.1 099 X', 'HTTP/1.2 200 OK', 'HTTP/2.0 200 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 200 O\x01K', 'HTTP/1.1 200 O\tK', 'http/1.1 200 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK'];
const NAMES = ['Content-Length', 'content-length', 'Transfer-Encoding', 'Connection', 'Keep-Alive', 'X-A', 'Content-Length ', ' Content-Length', 'X A', 'X\x01A', 'Trailer', 'Upgrade', ''];
const CL = ['0', '1', '2', '3', '5', '10', '+2', '-1', '2 ', ' 2', '2,2', '2, 2', '0x2', '02', '', '99999999999999999999', 'abc', '1 2'];
const TE = ['chunked', 'Chunked', 'CHUNKED', 'gzip, chunked', 'chunked, gzip', 'chunked,chunked', 'identity', 'chunked ', ' chunked', 'chunked;q=1', 'gzip', 'xchunked', 'chunked, ', ',chunked'];
const CONN = ['close', 'keep-alive', 'Close', 'upgrade', 'close, keep-alive', ''];
const VALUES = ['v', '', ' v ', 'a\x00b', 'a\rb', 'a\nb', 'caf\xe9', 'a\x7fb', 'a\tb'];
const EOLS = ['\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r'];
function field() {
  const n = pick(NAMES);
  const v = /content-length/i.test(n) ? pick(CL) : n === 'Transfer-Encoding' ? pick(TE) : n === 'Connection' ? pick(CONN) : pick(VALUES);
  const sep = pick([': ', ':', ':  ', ' : ', ':\t']);
  return rnd() < 0.05 ? `${n}${sep}${v}${pick(EOLS)} folded` : `${n}${sep}${v}`;
}
function body() {
  const parts = [];
  const n = Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const size = pick([1, 2, 3, 5]);
    const sizeText = pick([size.toString(16), size.toString(16), size.toString(16).toUpperCase(), `${size};e=1`, `${size} `, `${size} ;e`, ` ${size}`, `0${size}`, `${size}\t`]);
    const data = 'abcdefgh'.slice(0, size + (rnd() < 0.1 ? 1 : 0));
    parts.push(`${sizeText}${pick(EOLS)}${data}${pick(EOLS)}`);
  }
  const trailer = rnd() < 0.3 ? `${field()}\r\n` : '';
  parts.push(`0${pick(['', '', ';x'])}\r\n${trailer}${pick(['\r\n', '\r\n', '\n', ''])}`);
  return rnd() < 0.5 ? parts.join('') : pick(['', 'hi', 'hello', 'hello world', 'HTTP/1.1 200 OK\r\n\r\n']);
}
function message() {
  const fields = Array.from({ length: Math.floor(rnd() * 4) }, field);
  const eol = rnd() < 0.9 ? '\r\n' : pick(EOLS);
  let m = `${pick(STATUS)}${eol}${fields.map((f) => f + pick(EOLS)).join('')}${pick(['\r\n', '\r\n', '\r\n', '\n'])}${body()}`;
  if (rnd() < 0.1) m = `HTTP/1.1 100 Continue\r\n\r\n${m}`;
  return m;
}
function llhttp(buf) {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  const r = { heads: [], body: '', complete: false, error: null };
  let final = false;
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = (ma, mi, headers, method, url, status) => { if (r.complete) return 0; r.heads.push(status); r.fields = headers.join('|'); final = status >= 200; return 0; };
  p[HTTPParser.kOnBody] = (b) => { if (!r.complete) r.body += b.toString('latin1'); };
  p[HTTPParser.kOnMessageComplete] = () => { if (final && !r.complete) r.complete = true; };
  const e = p.execute(buf);
  if (e instanceof Error) { if (!r.complete) r.error = e.code; }
  else if (!r.complete) { const f = p.finish(); if (f instanceof Error) r.error = f.code; }
  return r;
}
function lean(buf) {
  const r = { heads: [], body: '', complete: false, error: null };
  const parser = new ResponseParser({
    onResponseHead(status, raw) { r.heads.push(status); r.fields = raw.map((x) => x.toString('latin1')).join('|'); },
    onResponseBody(c) { if (!r.complete) r.body += c.toString('latin1'); },
    onResponseComplete() { r.complete = true; parser.halt(); },
  }, 65536);
  parser.expect(false);
  try {
    if (split) {
      for (let o = 0; o < buf.length && !r.complete; ) {
        const n = 1 + Math.floor(rnd() * 12);
        parser.execute(buf.subarray(o, o + n));
        o += n;
      }
    } else parser.execute(buf);
    if (!r.complete && !parser.finish() && !r.complete) r.error = 'INCOMPLETE';
  } catch (e) {
    if (!r.complete) r.error = e.code ?? String(e);
  }
  return r;
}
const counts = { bothError: 0, leanStricter: 0, same: 0, interimClose: 0, danger: 0 };
const dangers = new Map(), stricter = new Map();
const N = Number(args[1] ?? 50000);
for (let i = 0; i < N; i++) {
  const text = message();
  const buf = Buffer.from(text, 'latin1');
  const a = llhttp(buf), b = lean(buf);
  const aok = a.error === null && a.complete, bok = b.error === null && b.complete;
  if (!aok && !bok) counts.bothError++;
  else if (aok && !bok) { counts.leanStricter++; const k = b.error; if (!stricter.has(k)) stricter.set(k, text); }
  // llhttp ends the connection at an interim answer's `Connection: close`; lean reads the
  // final answer after it, whose body then runs until the close: different, not unsafe.
  else if (!aok && bok && a.error === 'HPE_CLOSED_CONNECTION' && b.heads[0] < 200) counts.interimClose++;
  else if (!aok && bok) danger(`lean reads it, llhttp refuses: ${a.error}`, JSON.stringify(text));
  else if (a.body !== b.body || a.heads.join() !== b.heads.join() || a.fields !== b.fields) danger('both read it, differently', `${JSON.stringify(text)} llhttp=${JSON.stringify(a)} lean=${JSON.stringify(b)}`);
  else counts.same++;
}

/** Counts an unsafe difference and keeps a few examples of each kind. */
function danger(kind, example) {
  counts.danger++;
  if (!dangers.has(kind)) dangers.set(kind, []);
  if (dangers.get(kind).length < 5) dangers.get(kind).push(example);
}
console.log(counts);
for (const [kind, examples] of dangers) console.log(`DANGER ${kind}\n${examples.map((t) => `    ${t}`).join('\n')}`);
console.log('lean refuses, llhttp reads (first example of each code):');
for (const [code, text] of stricter) console.log(`   ${code} ${JSON.stringify(text)}`);
process.exitCode = counts.danger > 0 ? 1 : 0;
