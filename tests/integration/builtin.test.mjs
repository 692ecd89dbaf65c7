// The builtin model through the language server: with no model configured,
// chorus/complete answers from the repository itself, says where the text
// comes from, never returns what follows the cursor, and follows files
// changed on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startServer, initializeParams } from './lib/client.mjs';
import { TEST_TIMEOUT, WAIT_MS, runChorusCli } from './lib/common.mjs';

// Index caches go to a private folder, never the user's.
const cacheHome = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-cache-'));
process.env.XDG_CACHE_HOME = cacheHome;
process.on('exit', () => rmSync(cacheHome, { recursive: true, force: true }));

const opts = { timeout: TEST_TIMEOUT };

const repoFiles = {
  'lib/results.py': 'result = compute(alpha, delta)\nz = 1\nresult = compute(alpha, delta)\n',
  'lib/other.py': 'value = compute(alpha, beta)\n',
  'app/secret.py': 'def launch():\n    result = compute(alpha, zebra_kumquat_77)\n    return result\n',
};

function makeRepo(files) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-repo-'));
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return root;
}

const uriOf = (root, rel) => pathToFileURL(path.join(root, rel)).href;

async function serverOn(t, root) {
  const s = await startServer(t);
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  await s.notify('initialized', {});
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const st = await s.request('chorus/indexStatus', {});
    if (st.ready) break;
    if (Date.now() > deadline) throw new Error(`index never ready: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return s;
}

// Asks until the answer satisfies done (the model is built and updated on
// its own thread after the index changes); returns the last answer.
async function completeUntil(s, uri, position, done) {
  const deadline = Date.now() + WAIT_MS;
  let r;
  for (;;) {
    r = await s.request('chorus/complete', { textDocument: { uri }, position });
    if (done(r) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 30));
  }
}

test('builtin: completes from repeated code, with provenance and confidence', opts, async (t) => {
  const root = makeRepo(repoFiles);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await serverOn(t, root);
  const uri = uriOf(root, 'app/main.py');
  await s.open(uri, 'import os\nresult = compute(alpha, ', { languageId: 'python' });
  // The model catches up with the index on its own thread: ask until it has.
  const r = await completeUntil(s, uri, { line: 1, character: 24 }, (x) => x.text === 'delta)');
  assert.equal(r.provider, 'builtin');
  assert.equal(r.model, 'builtin');
  assert.equal(r.text, 'delta)');
  assert.match(r.provenance, /^lib\/results\.py:[13]$/);
  assert.ok(r.confidence > 0 && r.confidence <= 1, `confidence ${r.confidence}`);
});

test('builtin: the text after the cursor never comes back', opts, async (t) => {
  const root = makeRepo(repoFiles);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await serverOn(t, root);
  // Warm the model up on another document first.
  const main = uriOf(root, 'app/main.py');
  await s.open(main, 'import os\nresult = compute(alpha, ', { languageId: 'python' });
  await completeUntil(s, main, { line: 1, character: 24 }, (x) => x.text === 'delta)');
  const uri = uriOf(root, 'app/secret.py');
  await s.open(uri, repoFiles['app/secret.py'], { languageId: 'python' });
  // Right before the unique argument: the index holds it, the answer must
  // come from elsewhere.
  const r = await s.request('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 28 } });
  assert.ok(!r.text.includes('zebra_kumquat_77'), `leaked: ${JSON.stringify(r.text)}`);
  assert.equal(r.text, 'delta)');
});

test('builtin: a file changed on disk changes the answer', opts, async (t) => {
  const root = makeRepo(repoFiles);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await serverOn(t, root);
  const uri = uriOf(root, 'app/main.py');
  await s.open(uri, 'import os\nfinal = finish(', { languageId: 'python' });
  const pos = { line: 1, character: 15 };
  let r = await s.request('chorus/complete', { textDocument: { uri }, position: pos });
  assert.equal(r.text, '');
  const added = path.join(root, 'lib/finish.py');
  writeFileSync(added, 'final = finish(report, strict=True)\nfinal = finish(report, strict=True)\n');
  await s.notify('workspace/didChangeWatchedFiles', { changes: [{ uri: pathToFileURL(added).href, type: 1 }] });
  r = await completeUntil(s, uri, pos, (x) => x.text === 'report, strict=True)');
  assert.equal(r.text, 'report, strict=True)');
  assert.match(r.provenance, /^lib\/finish\.py:[12]$/);
});

// `chorus complete` indexes the file's folder itself and builds the model
// before answering: the first and only request already has it.
test('builtin: chorus complete answers from the command line', opts, async (t) => {
  const root = makeRepo({ ...repoFiles, 'app/main.py': 'import os\nresult = compute(alpha, ' });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const r = await runChorusCli(['complete', `${path.join(root, 'app/main.py')}:2:25`, '--root', root, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.model, 'builtin');
  assert.equal(out.text, 'delta)');
  assert.match(out.provenance, /^lib\/results\.py:[13]$/);
});
