// What a model is sent for chorus/complete: the context engine's snippets
// from the whole repository (a definition from another file), the guard's
// redaction for remote models, and nothing at all for a denied file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import rpc from 'vscode-jsonrpc/node.js';
import { startServer, initializeParams, ResponseError } from './lib/client.mjs';
import { TEST_TIMEOUT, WAIT_MS, runChorusCli } from './lib/common.mjs';
import { startFakeModel } from './lib/fake-model.mjs';

const cacheHome = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-cache-'));
process.env.XDG_CACHE_HOME = cacheHome;
process.on('exit', () => rmSync(cacheHome, { recursive: true, force: true }));

const opts = { timeout: TEST_TIMEOUT };
// A GitHub token shape (made up): ghp_ and 36 alphanumerics.
const SECRET = 'ghp_' + 'Zq8Rk2Lm5Nx7Pv1Tw4Yb6Hc9Jd3Fg0Se2Ua5';

let fake;
before(async () => { fake = await startFakeModel({ text: 'total' }); });
after(async () => { await fake.close(); });

function makeRepo() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-ctx-'));
  const files = {
    'billing/tax.py': 'def compute_vat(amount, rate):\n    """VAT owed on an amount."""\n    return amount * rate\n',
    'app/main.py': `from billing.tax import compute_vat\n\nTOKEN = "${SECRET}"\n\ndef invoice(amount):\n    vat = compute_vat(amount, 0.2)\n    return \n`,
    '.env': `GITHUB_TOKEN=${SECRET}\n`,
  };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return { root, files };
}

async function serverWith(t, root, models) {
  const s = await startServer(t);
  await s.request('initialize', {
    ...initializeParams(['utf-16']),
    rootUri: pathToFileURL(root).href,
    initializationOptions: { models },
  });
  await s.notify('initialized', {});
  const deadline = Date.now() + WAIT_MS;
  while (!(await s.request('chorus/indexStatus', {})).ready) {
    if (Date.now() > deadline) throw new Error('index never ready');
    await new Promise((r) => setTimeout(r, 20));
  }
  return s;
}

const openaiModel = (extra) => ({
  name: 'remote-fim', provider: 'openai', endpoint: fake.url, model: 'm', fim: 'qwen', suffixField: false, ...extra,
});

// A fresh repository and a server on it with these models, with `rel`
// opened; the fake's record is cleared. Returns what the tests need.
async function session(t, models, rel = 'app/main.py', languageId = 'python') {
  const { root, files } = makeRepo();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await serverWith(t, root, models);
  const uri = pathToFileURL(path.join(root, rel)).href;
  await s.open(uri, files[rel], { languageId });
  fake.reset();
  return { root, files, s, uri };
}
// Where the cursor is in app/main.py: after `return `.
const AT_RETURN = { line: 6, character: 11 };

test('a remote model gets the definition from another file and no secret', opts, async (t) => {
  const { root, s, uri } = await session(t, [openaiModel({ remote: true })]);
  const r = await s.request('chorus/complete', { textDocument: { uri }, position: AT_RETURN });
  assert.equal(r.text, 'total');
  const sent = fake.requests.at(-1).json.prompt;
  // The definition of compute_vat comes from billing/tax.py, in Qwen's
  // repo-level layout, before the document's own window.
  assert.match(sent, /<\|file_sep\|>billing\/tax\.py \n[^]*def compute_vat\(amount, rate\)/);
  assert.ok(sent.indexOf('compute_vat(amount, rate)') < sent.indexOf('<|fim_prefix|>'));
  assert.ok(!sent.includes(SECRET), 'the secret left for a remote model');
  assert.match(sent, /TOKEN = "<redacted:github-token>"/);
  // Paths inside the repository only: where it lives stays private.
  assert.ok(sent.includes('<|file_sep|>app/main.py \n') && !sent.includes(root));
});

test('a local model gets the text as it is', opts, async (t) => {
  const { s, uri } = await session(t, [openaiModel({ remote: false })]);
  await s.request('chorus/complete', { textDocument: { uri }, position: AT_RETURN });
  assert.ok(fake.requests.at(-1).json.prompt.includes(SECRET));
});

test('a denied file is sent to no model: a clear error, no request', opts, async (t) => {
  const { s, uri } = await session(t, [openaiModel({ remote: false })], '.env', 'plaintext');
  await assert.rejects(
    s.request('chorus/complete', { textDocument: { uri }, position: { line: 0, character: 13 } }),
    (e) => e.code === -32803 && /guard keeps .*\.env from every model/.test(e.message),
  );
  assert.equal(fake.requests.length, 0);
});

test('chorus complete sends the same guarded context from the command line', opts, async (t) => {
  const { root } = makeRepo();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, '.git')); // the repository is found by its .git
  const config = path.join(root, 'chorus.json');
  writeFileSync(config, JSON.stringify({ models: [openaiModel({ remote: true })] }));
  fake.reset();
  const r = await runChorusCli(['complete', `${path.join(root, 'app/main.py')}:7:12`, '--json', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).text, 'total');
  const sent = fake.requests.at(-1).json.prompt;
  assert.match(sent, /<\|file_sep\|>billing\/tax\.py \n[^]*def compute_vat\(amount, rate\)/);
  assert.ok(!sent.includes(SECRET), 'the secret left for a remote model');
  assert.ok(sent.endsWith('    return <|fim_suffix|>\n<|fim_middle|>'), JSON.stringify(sent.slice(-60)));
});

// Cancelled at any stage (context being built on its thread, or the model
// call under way), each request gets its one answer, and the next works.
test('completions cancelled while their context is built', opts, async (t) => {
  const { s, uri } = await session(t, [openaiModel({ remote: true })]);
  fake.behave('POST /v1/completions', { delayMs: 50 });
  t.after(() => fake.reset());
  const params = { textDocument: { uri }, position: AT_RETURN };
  const runs = [];
  for (let i = 0; i < 30; i++) {
    const source = new rpc.CancellationTokenSource();
    runs.push(s.connection.sendRequest('chorus/complete', params, source.token).then(
      () => 'answered', (e) => (e instanceof ResponseError && e.code === -32800 ? 'cancelled' : e)));
    if (i % 3 !== 2) source.cancel(); // every third runs to its end
  }
  const outcomes = await Promise.all(runs);
  for (const o of outcomes) assert.ok(o === 'answered' || o === 'cancelled', String(o));
  assert.ok(outcomes.filter((o) => o === 'answered').length >= 10);
  fake.reset();
  const r = await s.request('chorus/complete', params);
  assert.equal(r.text, 'total');
});

// Other open documents feed the context: unsaved edits in another file come
// as a diff hunk, open documents as similar code.
test('unsaved edits in another open document reach the context', opts, async (t) => {
  const { root, files, s, uri } = await session(t, [openaiModel({ remote: false })]);
  const tax = pathToFileURL(path.join(root, 'billing/tax.py')).href;
  await s.open(tax, files['billing/tax.py'], { languageId: 'python' });
  await s.notify('textDocument/didChange', {
    textDocument: { uri: tax, version: 2 },
    contentChanges: [{ range: { start: { line: 3, character: 0 }, end: { line: 3, character: 0 } },
      text: '\ndef compute_duty(amount, tariff_code):\n    return amount * lookup_tariff(tariff_code)\n' }],
  });
  fake.reset();
  await s.request('chorus/complete', { textDocument: { uri }, position: AT_RETURN });
  const sent = fake.requests.at(-1).json.prompt;
  // As a hunk against the file on disk: three lines added after line 4.
  assert.match(sent, /@@ -4,0 \+4,3 @@\n\+\n\+def compute_duty\(amount, tariff_code\):\n\+    return amount \* lookup_tariff/);
});
