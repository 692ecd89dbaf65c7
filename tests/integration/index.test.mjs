// The repository index seen through the language server: workspace folders,
// progress during the first indexing, definitions across files, unsaved
// text, files changed on disk, watcher registration and the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startServer, initializeParams } from './lib/client.mjs';
import { TEST_TIMEOUT, WAIT_MS } from './lib/common.mjs';

// Index caches go to a private folder, never the user's.
const cacheHome = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-cache-'));
process.env.XDG_CACHE_HOME = cacheHome;
process.on('exit', () => rmSync(cacheHome, { recursive: true, force: true }));

const opts = { timeout: TEST_TIMEOUT };

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

const pyRepo = {
  'app/geometry.py': '"""Shapes."""\n\nclass Circle:\n    """A circle."""\n    def area(self):\n        return 3.14 * self.r ** 2\n\ndef make_circle(r):\n    return Circle()\n',
  'app/main.py': 'from app.geometry import make_circle\n\nprint(make_circle(2).area())\n',
  'lib/util.c': '#include "util.h"\nint clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }\n',
  'lib/util.h': 'int clamp(int v, int lo, int hi);\n',
  'web/index.ts': 'export function greet(name: string): string { return `hi ${name}`; }\n',
  'build/skip.py': 'def ignored_function():\n    pass\n',
  '.gitignore': 'build/\n',
};

async function waitReady(s) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const st = await s.request('chorus/indexStatus', {});
    if (st.ready) return st;
    if (Date.now() > deadline) throw new Error(`index never ready: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Polls until the definitions of name satisfy done (the index catches up
// with edits and disk changes in the background); returns the last answer.
async function findUntil(s, name, done) {
  const deadline = Date.now() + WAIT_MS;
  let defs;
  do {
    await waitReady(s);
    defs = await find(s, name);
  } while (!done(defs) && Date.now() < deadline);
  return defs;
}
const found = (defs) => defs.length > 0;
const absent = (defs) => defs.length === 0;

async function find(s, name, uri) {
  const params = { name };
  if (uri) params.textDocument = { uri };
  return s.request('chorus/findDefinitions', params);
}

test('progress during the first indexing: create, begin, report, end', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  const created = [];
  s.connection.onRequest('window/workDoneProgress/create', (p) => { created.push(p); return null; });
  const progress = [];
  let ended;
  const done = new Promise((resolve) => { ended = resolve; });
  s.connection.onNotification('$/progress', (p) => {
    progress.push(p);
    if (p.value.kind === 'end') ended();
  });
  await s.request('initialize', {
    ...initializeParams(['utf-16']),
    rootUri: pathToFileURL(root).href,
    capabilities: { window: { workDoneProgress: true } },
  });
  await s.notify('initialized', {});
  await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(
    `no progress end; got ${JSON.stringify(progress)}`)), WAIT_MS))]);
  assert.equal(created.length, 1);
  const token = created[0].token;
  assert.ok(progress.length >= 2);
  assert.ok(progress.every((p) => p.token === token), 'every $/progress uses the created token');
  assert.equal(progress[0].value.kind, 'begin');
  assert.equal(progress[0].value.title, 'Indexing');
  assert.equal(progress.at(-1).value.kind, 'end');
  const pcts = progress.filter((p) => p.value.kind === 'report' && p.value.percentage !== undefined)
    .map((p) => p.value.percentage);
  for (let i = 1; i < pcts.length; i++) assert.ok(pcts[i] >= pcts[i - 1], `percentages rise: ${pcts}`);
  assert.ok(pcts.every((p) => p >= 0 && p <= 100));
  assert.match(progress.at(-1).value.message, /^5\/5 files$/);
});

test('no progress when the client does not support it', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  const requests = [];
  s.connection.onRequest((method) => { requests.push(method); return null; });
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  await s.notify('initialized', {});
  await waitReady(s);
  assert.equal(s.notifications.filter((n) => n.method === '$/progress').length, 0);
  assert.deepEqual(requests, []);
});

test('definitions across files, nearest first; ignored files stay out', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  await s.request('initialize', {
    ...initializeParams(['utf-16']),
    workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'repo' }],
  });
  await s.notify('initialized', {});
  const st = await waitReady(s);
  assert.equal(st.files, 5);
  const defs = await find(s, 'make_circle', uriOf(root, 'app/main.py'));
  assert.equal(defs.length, 1);
  assert.equal(defs[0].uri, uriOf(root, 'app/geometry.py'));
  assert.equal(defs[0].line, 7);
  assert.equal(defs[0].kind, 'function');
  assert.equal(defs[0].proximity, 1, 'main.py imports geometry.py');
  assert.match(defs[0].signature, /^def make_circle\(r\)/);
  const clamp = await find(s, 'clamp', uriOf(root, 'lib/util.c'));
  assert.deepEqual(clamp.map((d) => [path.basename(new URL(d.uri).pathname), d.proximity]),
    [['util.c', 0], ['util.h', 1]]);
  assert.equal((await find(s, 'greet')).length, 1);
  assert.deepEqual(await find(s, 'ignored_function'), []);
});

test('requests during indexing answer with what is there', opts, async (t) => {
  const files = {};
  for (let i = 0; i < 400; i++) files[`pkg/m${i}.py`] = `def f${i}(x):\n    return x + ${i}\n`;
  const root = makeRepo(files);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  // At once, before the index is ready: an answer, not an error.
  const early = await find(s, 'f399');
  assert.ok(Array.isArray(early));
  const text = await s.request('chorus/indexStatus', {});
  assert.equal(typeof text.ready, 'boolean');
  await waitReady(s);
  assert.equal((await find(s, 'f399')).length, 1);
});

test('unsaved text wins; closing brings the disk version back', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  await s.notify('initialized', {});
  await waitReady(s);
  const uri = uriOf(root, 'app/geometry.py');
  const text = pyRepo['app/geometry.py'];
  await s.open(uri, text, { languageId: 'python' });
  // Rename make_circle -> build_circle with an incremental edit.
  const line = 7;
  await s.change(uri, 2, [{ range: { start: { line, character: 4 }, end: { line, character: 8 } }, text: 'build' }]);
  let defs = await findUntil(s, 'build_circle', found);
  assert.equal(defs.length, 1);
  assert.deepEqual(await find(s, 'make_circle'), []);
  // Type a new function at the end, character by character.
  const lines = text.split('\n').length - 1;
  const add = '\ndef typed_later():\n    pass\n';
  let version = 3;
  let col = 0;
  let row = lines;
  for (const ch of add) {
    await s.change(uri, version++, [{ range: { start: { line: row, character: col }, end: { line: row, character: col } }, text: ch }]);
    if (ch === '\n') { row++; col = 0; } else col++;
  }
  const doc = await s.documentText(uri);
  assert.ok(doc.text.endsWith(add));
  defs = await findUntil(s, 'typed_later', found);
  assert.equal(defs.length, 1);
  assert.equal(defs[0].line, row - 2);
  await s.notify('textDocument/didClose', { textDocument: { uri } });
  defs = await findUntil(s, 'make_circle', found);
  assert.equal(defs.length, 1);
  assert.deepEqual(await find(s, 'build_circle'), []);
});

test('didChangeWatchedFiles and didSave re-index files from disk', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  await s.notify('initialized', {});
  await waitReady(s);
  writeFileSync(path.join(root, 'app/new_module.py'), 'def brand_new():\n    return 1\n');
  await s.notify('workspace/didChangeWatchedFiles', { changes: [{ uri: uriOf(root, 'app/new_module.py'), type: 1 }] });
  let defs = await findUntil(s, 'brand_new', found);
  assert.equal(defs.length, 1);
  rmSync(path.join(root, 'app/new_module.py'));
  await s.notify('workspace/didChangeWatchedFiles', { changes: [{ uri: uriOf(root, 'app/new_module.py'), type: 3 }] });
  defs = await findUntil(s, 'brand_new', absent);
  assert.deepEqual(defs, []);
  writeFileSync(path.join(root, 'web/index.ts'), 'export function welcome(): void {}\n');
  await s.notify('textDocument/didSave', { textDocument: { uri: uriOf(root, 'web/index.ts') } });
  defs = await findUntil(s, 'welcome', found);
  assert.equal(defs.length, 1);
});

test('a file watcher is registered when the client allows it', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  let registration;
  const got = new Promise((resolve) => {
    s.connection.onRequest('client/registerCapability', (p) => { registration = p; resolve(); return null; });
  });
  await s.request('initialize', {
    ...initializeParams(['utf-16']),
    rootUri: pathToFileURL(root).href,
    capabilities: { workspace: { didChangeWatchedFiles: { dynamicRegistration: true } } },
  });
  await s.notify('initialized', {});
  await got;
  const reg = registration.registrations[0];
  assert.equal(reg.method, 'workspace/didChangeWatchedFiles');
  const glob = reg.registerOptions.watchers[0].globPattern;
  for (const ext of ['py', 'c', 'h', 'ts', 'go', 'rs', 'java']) assert.ok(glob.includes(ext), glob);
});

test('workspace folders added later are indexed; removed ones leave', opts, async (t) => {
  const a = makeRepo({ 'a.py': 'def only_in_a():\n    pass\n' });
  const b = makeRepo({ 'b.py': 'def only_in_b():\n    pass\n' });
  t.after(() => { rmSync(a, { recursive: true, force: true }); rmSync(b, { recursive: true, force: true }); });
  const s = await startServer(t);
  await s.request('initialize', {
    ...initializeParams(['utf-16']),
    workspaceFolders: [{ uri: pathToFileURL(a).href, name: 'a' }],
  });
  await s.notify('initialized', {});
  await waitReady(s);
  assert.equal((await find(s, 'only_in_b')).length, 0);
  await s.notify('workspace/didChangeWorkspaceFolders', {
    event: { added: [{ uri: pathToFileURL(b).href, name: 'b' }], removed: [{ uri: pathToFileURL(a).href, name: 'a' }] },
  });
  const defs = await findUntil(s, 'only_in_b', found);
  assert.equal(defs.length, 1);
  assert.deepEqual(await find(s, 'only_in_a'), []);
});

test('a restart reuses the cache instead of parsing again', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const round of [1, 2]) {
    const s = await startServer(t);
    await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
    await s.notify('initialized', {});
    const st = await waitReady(s);
    if (round === 1) assert.equal(st.parsed, 5);
    else {
      assert.equal(st.cacheHits, 5);
      assert.equal(st.parsed, 0);
    }
    await s.request('shutdown');
    await s.notify('exit');
    assert.equal((await s.waitExit()).code, 0);
  }
});

test('without a client watcher, the server sees disk changes itself', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  // No workspace.didChangeWatchedFiles capability, as Neovim 0.7.
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  await s.notify('initialized', {});
  await waitReady(s);
  let defs;
  // The watch is set up in the background: keep writing until it is seen.
  const deadline = Date.now() + WAIT_MS;
  let n = 0;
  do {
    mkdirSync(path.join(root, 'fresh'), { recursive: true });
    writeFileSync(path.join(root, 'fresh/found.py'), `def seen_by_inotify():\n    return ${n++}\n`);
    await new Promise((r) => setTimeout(r, 50));
    await waitReady(s);
    defs = await find(s, 'seen_by_inotify');
  } while (!defs.length && Date.now() < deadline);
  assert.equal(defs.length, 1);
  // A deleted directory takes its files along.
  rmSync(path.join(root, 'fresh'), { recursive: true, force: true });
  const gone = Date.now() + WAIT_MS;
  do {
    await new Promise((r) => setTimeout(r, 20));
    await waitReady(s);
    defs = await find(s, 'seen_by_inotify');
  } while (defs.length && Date.now() < gone);
  assert.deepEqual(defs, []);
});

test('closing a document right after an edit, before the index saw it', opts, async (t) => {
  const root = makeRepo(pyRepo);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await startServer(t);
  await s.request('initialize', { ...initializeParams(['utf-16']), rootUri: pathToFileURL(root).href });
  await s.notify('initialized', {});
  const uri = uriOf(root, 'app/main.py');
  for (let i = 0; i < 20; i++) {
    await s.open(uri, pyRepo['app/main.py'], { languageId: 'python', version: 1 });
    await s.change(uri, 2, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '#' }]);
    await s.notify('textDocument/didClose', { textDocument: { uri } });
  }
  const st = await waitReady(s);
  assert.equal(st.files, 5);
  assert.equal((await find(s, 'make_circle')).length, 1);
});

