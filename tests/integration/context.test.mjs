// `chorus context FILE:LINE:COL --json` and `chorus eval context` on the
// fixture repositories of tests/fixtures/context: the context as it would be
// sent, with reasons, token counts within the budget, and the redactions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chorusBin, testDir, TEST_TIMEOUT } from './lib/common.mjs';

const run = promisify(execFile);
const fixtures = path.join(testDir, '..', 'fixtures', 'context');
const opts = { timeout: TEST_TIMEOUT };

// Index caches go to a private folder, never the user's.
const cacheHome = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-cache-'));
process.on('exit', () => rmSync(cacheHome, { recursive: true, force: true }));
// No user config either: each test says which config it uses.
const env = { ...process.env, XDG_CACHE_HOME: cacheHome, XDG_CONFIG_HOME: cacheHome };

async function context(args) {
  const { stdout } = await run(chorusBin, ['context', ...args], { env });
  return JSON.parse(stdout);
}

test('the definition of a function called at the cursor, within the budget', opts, async () => {
  const root = path.join(fixtures, 'python');
  // app/main.py line 21: "        span = distance(first, last)"; col 25 is
  // right after "distance(".
  const out = await context([`${root}/app/main.py:21:25`, '--json', '--root', root,
    '--budget', '700']);
  assert.equal(out.budget, 700);
  assert.equal(out.language, 'python');
  assert.equal(out.target, 'remote');
  const sum = out.snippets.reduce((a, s) => a + s.tokens, 0);
  assert.equal(sum, out.tokens);
  assert.ok(sum <= 700, `${sum} tokens for a budget of 700`);
  const def = out.snippets.find((s) => s.kind === 'definition' &&
    s.path.endsWith('geometry/shapes.py') && s.text.includes('def distance(a, b)'));
  assert.ok(def, JSON.stringify(out.snippets.map((s) => [s.kind, s.path, s.reason])));
  assert.match(def.reason, /distance/);
  // other files first, the window last
  const kinds = out.snippets.map((s) => s.kind);
  assert.equal(kinds.at(-1), 'suffix');
  assert.equal(kinds.at(-2), 'prefix');
  assert.ok(out.snippets.at(-2).text.endsWith('span = distance('));
  // the denied file util/credentials.py never appears
  assert.ok(out.snippets.every((s) => !s.path.includes('credentials')));
  assert.ok(out.redactions.deniedSnippets >= 1);
});

test('secrets are redacted for a remote model, kept for a local one', opts, async () => {
  const root = path.join(fixtures, 'python');
  const file = `${root}/app/settings.py:9:1`;
  const remote = await context([file, '--json', '--root', root, '--budget', '400']);
  const text = remote.snippets.map((s) => s.text).join('\n');
  assert.ok(!text.includes('AKIAQX4ZT7WJ2MRN5B6E'));
  assert.ok(!text.includes('ghp_4kQ9zX2mB7nR5tW8yC1vL6pD3sF0hJ9aE2uG'));
  assert.ok(text.includes('SERVICE_URL = "https://reports.example.com/api"'));
  assert.equal(remote.redactions.total, 2);
  assert.deepEqual(Object.keys(remote.redactions.byKind).sort(),
    ['aws-access-key', 'github-token']);
  const local = await context([file, '--json', '--root', root, '--budget', '400', '--local']);
  assert.equal(local.target, 'local');
  assert.ok(local.snippets.map((s) => s.text).join('\n').includes('AKIAQX4ZT7WJ2MRN5B6E'));
  assert.equal(local.redactions.total, 0);
});

test('the fields of a struct for a member access in C', opts, async () => {
  const root = path.join(fixtures, 'c');
  // src/main.c line 20: '  printf("%d %s %zu\n", d, q->label, out.len);'
  // col 31 is right after "q->".
  const out = await context([`${root}/src/main.c:20:31`, '--json', '--root', root]);
  const def = out.snippets.find((s) => s.kind === 'definition' &&
    s.text.includes('struct point {'));
  assert.ok(def);
  assert.ok(def.text.includes('const char *label;'));
  assert.ok(out.tokens <= 1536);
});

test('bad locations and options get clear errors', opts, async () => {
  const root = path.join(fixtures, 'python');
  const cases = [
    [['nowhere.py:1:1'], /nowhere\.py: cannot read/],
    [[`${root}/app/main.py`], /expected FILE:LINE:COL/],
    [[`${root}/app/main.py:0:1`], /expected FILE:LINE:COL/],
    [[`${root}/app/main.py:999:1`, '--root', root], /line 999 is past the end/],
    [[`${root}/app/main.py:1:1`, '--budget', 'lots'], /--budget: expected a number/],
  ];
  for (const [args, pattern] of cases) {
    await assert.rejects(run(chorusBin, ['context', ...args], { env }), (err) => {
      assert.match(err.stderr, pattern);
      assert.ok(err.code === 1 || err.code === 2);
      return true;
    });
  }
});

test('chorus eval context reports recall next to both baselines', opts, async () => {
  const root = path.join(fixtures, 'python');
  const { stdout } = await run(chorusBin, ['eval', 'context', root, '--holes', '20',
    '--seed', '3', '--json'], { env });
  const out = JSON.parse(stdout);
  assert.ok(out.holes >= 1);
  const py = out.languages.python;
  assert.ok(py.identifiers >= 1);
  for (const k of ['engine', 'window', 'similar']) assert.ok(py[k] >= 0 && py[k] <= 1);
  assert.ok(py.engine >= py.window);
  assert.ok(out.latencyP99Ms >= out.latencyP50Ms);
});

test('the config file applies: its deny globs and budget', opts, async () => {
  const root = path.join(fixtures, 'python');
  const config = path.join(cacheHome, 'context-config.json');
  writeFileSync(config, JSON.stringify({ guard: { denyExtra: ['geometry/'] }, context: { budget: 640 } }));
  const out = await context([`${root}/app/main.py:21:25`, '--json', '--root', root, '--config', config]);
  assert.equal(out.budget, 640);
  assert.ok(out.snippets.every((s) => !s.path.includes('geometry/')),
    JSON.stringify(out.snippets.map((s) => s.path)));
});
