// 100 concurrent streamed chorus/complete requests against the fake model
// server, with the loop's responsiveness measured meanwhile: how long a
// chorus/documentText request takes while the completions stream.
//
//   CHORUS_BIN=build/lsp/chorus node tests/bench/bench_models.mjs [N] [chunkDelayMs]
//
// Prints the total wall time, the median and p99 time per completion, and
// the median and p99 time to answer chorus/documentText during the run.

import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Server } from '../integration/lib/client.mjs';
import { startFakeModel } from '../integration/lib/fake-model.mjs';

const N = Number(process.argv[2] || 100);
const CHUNK_DELAY_MS = Number(process.argv[3] || 10);
const TEXT = 'for (int i = 0; i < n; i++) {\n    total += values[i] * weights[i];\n  }\n  return total;';

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
const ms = (v) => `${v.toFixed(1)} ms`;

const dir = mkdtempSync(path.join(tmpdir(), 'chorus-bench-models-'));
const fake = await startFakeModel({ text: TEXT, chunkDelayMs: CHUNK_DELAY_MS });
const config = path.join(dir, 'config.json');
writeFileSync(config, JSON.stringify({
  logLevel: 'warn',
  models: [{ name: 'fake', provider: 'openai', endpoint: fake.url, model: 'fake-model', maxTokens: 64,
    timeouts: { firstByteMs: 30000, totalMs: 60000 } }],
}));
const server = new Server(['lsp', '--config', config]);
let failures = 0;
try {
  await server.initialize(['utf-8']);
  const uri = `file://${dir}/dot.c`;
  const doc = 'double dot(const double *values, const double *weights, int n) {\n  double total = 0;\n  \n}\n';
  await server.open(uri, doc, { languageId: 'c' });
  // Warm up: one completion, so connection set-up is not all in the numbers.
  await server.request('chorus/complete', { textDocument: { uri }, position: { line: 2, character: 2 } });

  const pieces = (TEXT.match(/\s*\S+|\s+/g) || []).length;
  const perRequest = [];
  const docTimes = [];
  let running = true;
  const probe = (async () => {
    while (running) {
      const t0 = performance.now();
      await server.request('chorus/documentText', { textDocument: { uri } });
      docTimes.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: N }, async () => {
    const s = performance.now();
    try {
      const r = await server.request('chorus/complete', { textDocument: { uri }, position: { line: 2, character: 2 } });
      if (r.text !== TEXT) failures++;
    } catch {
      failures++;
    }
    perRequest.push(performance.now() - s);
  }));
  const total = performance.now() - t0;
  running = false;
  await probe;

  perRequest.sort((a, b) => a - b);
  docTimes.sort((a, b) => a - b);
  const floor = pieces * CHUNK_DELAY_MS;
  console.log(`models bench: ${N} concurrent streamed chorus/complete, ${pieces} events each, ${CHUNK_DELAY_MS} ms apart (stream floor ~${floor} ms)`);
  console.log(`  total wall time        ${ms(total)}`);
  console.log(`  per request  median    ${ms(quantile(perRequest, 0.5))}   p99 ${ms(quantile(perRequest, 0.99))}`);
  console.log(`  documentText median    ${ms(quantile(docTimes, 0.5))}   p99 ${ms(quantile(docTimes, 0.99))}   (${docTimes.length} probes during the run)`);
  console.log(`  failures               ${failures}`);
} finally {
  server.dispose();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
