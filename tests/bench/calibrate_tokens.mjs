#!/usr/bin/env node
// Calibrates chorus' token estimator (core/src/tokcount.c) against real
// BPE tokenizers (cl100k_base and o200k_base from the gpt-tokenizer npm
// package, a devDependency of tests/integration).
//
// The estimator counts, per byte class, a weight in thousandths of a token:
// word bytes [A-Za-z_], digits, the start of each word run, inner spaces,
// indentation (spaces and tabs at the start of a line), newlines, other
// ASCII (punctuation) and non-ASCII bytes. This script cuts real code into
// chunks of 40 lines, counts the features and the real tokens (the larger of
// the two tokenizers, so the estimate is conservative for both), fits the
// weights per language by least squares (non-negative), and reports the
// spread of real/estimate, from which the safety margin is chosen.
//
// usage: node tests/bench/calibrate_tokens.mjs [--fixtures-only]
//   prints the weight table for tokcount.c and writes
//   tests/fixtures/context/tokens.tsv (real counts of the fixture files, read
//   by tests/unit/core/test_context.c).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.resolve(here, '..', '..');
const tk = path.join(source, 'tests/integration/node_modules/gpt-tokenizer/esm/encoding');
const cl100k = await import(path.join(tk, 'cl100k_base.js'));
const o200k = await import(path.join(tk, 'o200k_base.js'));

function realCount(text) {
  const opts = { disallowedSpecial: new Set() };
  return Math.max(cl100k.encode(text, opts).length, o200k.encode(text, opts).length);
}

// Feature vector, in the order of the C table.
const FEATURES = ['word', 'digit', 'wordrun', 'space', 'indent', 'newline', 'punct', 'nonascii'];
function features(buf) {
  const f = new Array(FEATURES.length).fill(0);
  let lineStart = true;
  let inWord = false;
  for (const b of buf) {
    const isDigit = b >= 48 && b <= 57;
    const isWord = isDigit || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b === 95;
    if (isWord) {
      f[isDigit ? 1 : 0]++;
      if (!inWord) f[2]++;
      inWord = true;
      lineStart = false;
      continue;
    }
    inWord = false;
    if (b === 10) { f[5]++; lineStart = true; }
    else if (b === 32 || b === 9 || b === 13) { f[lineStart ? 4 : 3]++; }
    else if (b >= 128) { f[7]++; lineStart = false; }
    else { f[6]++; lineStart = false; }
  }
  return f;
}

function walk(dir, exts, out, limit) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (out.length >= limit) return;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules' && !dir.includes('node_modules') && !dir.startsWith('/usr/lib/node_modules')) continue;
      if (e.name.startsWith('.') || e.name === 'test' || e.name === 'tests') continue;
      walk(p, exts, out, limit);
    } else if (e.isFile() && exts.some((x) => e.name.endsWith(x))) {
      out.push(p);
    }
  }
}

// Every k-th file so the sample spreads over the tree, deterministically.
function sample(files, n) {
  if (files.length <= n) return files;
  const step = files.length / n;
  const out = [];
  for (let i = 0; i < n; i++) out.push(files[Math.floor(i * step)]);
  return out;
}

const fixtures = path.join(source, 'tests/fixtures/context');
const corpora = {
  python: { exts: ['.py'], dirs: ['/usr/lib/python3.11'] },
  // Headers are mostly declarations and comments; chorus' own sources add
  // function bodies.
  c: { exts: ['.h', '.c'], dirs: ['/usr/include', path.join(source, 'core'), path.join(source, 'lsp'), path.join(source, 'tests/unit')] },
  javascript: { exts: ['.js', '.mjs'], dirs: ['/usr/lib/node_modules/npm', '/usr/share/nodejs'] },
};

function chunks(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i += 40) {
    const part = lines.slice(i, i + 40).join('\n') + (i + 40 < lines.length ? '\n' : '');
    if (part.trim().length > 0) out.push(part);
  }
  return out;
}

// Solves the normal equations for the non-negative least-squares weights by
// dropping negative coefficients and refitting.
function fit(rows) {
  const k = FEATURES.length;
  let active = [...Array(k).keys()];
  for (;;) {
    const m = active.length;
    const A = Array.from({ length: m }, () => new Array(m + 1).fill(0));
    // Each chunk weighs by 1/y^2, so the fit minimises relative error and
    // a few huge chunks do not decide the weights.
    for (const { f, y } of rows) {
      const q = 1 / Math.max(1, y * y);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) A[i][j] += q * f[active[i]] * f[active[j]];
        A[i][m] += q * f[active[i]] * y;
      }
    }
    for (let i = 0; i < m; i++) A[i][i] += 1e-6;
    for (let c = 0; c < m; c++) {
      let p = c;
      for (let r = c + 1; r < m; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
      [A[c], A[p]] = [A[p], A[c]];
      for (let r = 0; r < m; r++) {
        if (r === c || A[c][c] === 0) continue;
        const t = A[r][c] / A[c][c];
        for (let j = c; j <= m; j++) A[r][j] -= t * A[c][j];
      }
    }
    const w = new Array(k).fill(0);
    let negative = false;
    for (let i = 0; i < m; i++) {
      w[active[i]] = A[i][i] === 0 ? 0 : A[i][m] / A[i][i];
      if (w[active[i]] < 0) negative = true;
    }
    if (!negative) return w;
    active = active.filter((i) => w[i] > 0);
  }
}

function estimate(w, f) {
  let s = 0;
  for (let i = 0; i < f.length; i++) s += Math.round(w[i] * 1000) * f[i];
  return s / 1000;
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const fixturesOnly = process.argv.includes('--fixtures-only');
const table = {};
if (!fixturesOnly) {
  for (const [lang, { exts, dirs }] of Object.entries(corpora)) {
    const files = [];
    for (const d of dirs) walk(d, exts, files, 20000);
    const picked = lang === 'c'
      ? [...sample(files.filter((f) => f.startsWith('/usr/')), 200),
         ...sample(files.filter((f) => !f.startsWith('/usr/')), 80)]
      : sample(files, 250);
    const rows = [];
    for (const file of picked) {
      let text;
      try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
      if (text.length > 400000) continue;
      for (const part of chunks(text)) {
        rows.push({ f: features(Buffer.from(part, 'utf8')), y: realCount(part) });
      }
    }
    if (rows.length === 0) { console.error(`${lang}: no code found`); continue; }
    // Fit on the even chunks, measure on the odd ones.
    const train = rows.filter((_, i) => i % 2 === 0);
    const test = rows.filter((_, i) => i % 2 === 1);
    const w = fit(train);
    // A multi-byte character is about one token; few chunks hold any, so
    // the fit alone may leave the weight at zero.
    w[7] = Math.max(w[7], 0.45);
    const ratios = test.map((r) => r.y / Math.max(1, estimate(w, r.f)));
    // Contexts hold several snippets: the spread over 5 chunks (about the
    // 1,500 tokens of a typical budget) is what the safety margin covers.
    const groups = [];
    for (let i = 0; i + 5 <= test.length; i += 5) {
      const g = test.slice(i, i + 5);
      groups.push(g.reduce((a, r) => a + r.y, 0) / Math.max(1, g.reduce((a, r) => a + estimate(w, r.f), 0)));
    }
    const totalReal = test.reduce((a, r) => a + r.y, 0);
    const totalEst = test.reduce((a, r) => a + estimate(w, r.f), 0);
    const bytes = rows.reduce((a, r) => a + r.f.reduce((x, y) => x + y, 0) - r.f[2], 0);
    const tokens = rows.reduce((a, r) => a + r.y, 0);
    table[lang] = w;
    console.log(`${lang}: ${picked.length} files, ${rows.length} chunks, ` +
      `${(bytes / tokens).toFixed(2)} bytes/token; held-out total est/real ` +
      `${(totalEst / totalReal).toFixed(3)}, real/est p50 ${quantile(ratios, 0.5).toFixed(3)} ` +
      `p99 ${quantile(ratios, 0.99).toFixed(3)} max ${Math.max(...ratios).toFixed(3)}; ` +
      `per 5 chunks p99 ${quantile(groups, 0.99).toFixed(3)} max ${Math.max(...groups).toFixed(3)}`);
  }
  console.log('\n/* word, digit, wordrun, space, indent, newline, punct, nonascii (thousandths) */');
  for (const [lang, w] of Object.entries(table)) {
    console.log(`  {"${lang}", {${w.map((x) => Math.round(x * 1000)).join(', ')}}},`);
  }
}

// Real counts of every fixture file, for the unit test.
const lines = ['# path\tcl100k\to200k\tmax (written by tests/bench/calibrate_tokens.mjs)'];
const fixtureFiles = [];
walk(fixtures, ['.py', '.c', '.h', '.js', '.go', '.ts'], fixtureFiles, 1000);
for (const file of fixtureFiles.sort()) {
  const text = fs.readFileSync(file, 'utf8');
  const opts = { disallowedSpecial: new Set() };
  const a = cl100k.encode(text, opts).length;
  const b = o200k.encode(text, opts).length;
  lines.push(`${path.relative(fixtures, file)}\t${a}\t${b}\t${Math.max(a, b)}`);
}
fs.writeFileSync(path.join(fixtures, 'tokens.tsv'), lines.join('\n') + '\n');
console.log(`\nwrote ${fixtureFiles.length} fixture counts to tests/fixtures/context/tokens.tsv`);
