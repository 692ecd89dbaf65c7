// Model providers end to end: the real binary and libcurl against the fake
// model server on loopback. For each provider the exact request chorus sent
// (method, path, headers with the key redacted, body) and the answer it
// parsed; then the faults: chunking, deadlines, retries, error statuses,
// cut and broken streams, endless streams, in-stream errors, cancellation
// with the server still answering, `chorus doctor`, and the API key never
// showing up in what chorus prints.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import rpc from 'vscode-jsonrpc/node.js';
import { startServer, ResponseError } from './lib/client.mjs';
import { chorusBin, TEST_TIMEOUT, sanitizerReport, tail, runChorusCli } from './lib/common.mjs';
import { startFakeModel } from './lib/fake-model.mjs';

const opts = { timeout: TEST_TIMEOUT };
const KEY = 'sk-test-0123456789abcdef';
const KEY_ENV = 'CHORUS_TEST_MODEL_KEY';
const TEXT = 'return a + b;';
const PREFIX = 'int add(int a, int b) {\n  ';
const SUFFIX = '\n}\n';

let dir;
let fake;
let srcFile;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'chorus-models-'));
  srcFile = path.join(dir, 'add.c');
  writeFileSync(srcFile, PREFIX + SUFFIX);
  fake = await startFakeModel({ text: TEXT, apiKey: KEY });
});

after(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

let configCounter = 0;
// Writes a config with the given models; returns its path.
function writeConfig(models) {
  const file = path.join(dir, `config-${configCounter++}.json`);
  writeFileSync(file, JSON.stringify({ models }));
  return file;
}

// A model entry pointing at the fake, with the key from KEY_ENV.
function model(provider, extra = {}) {
  return {
    name: extra.name || provider,
    provider,
    endpoint: fake.url,
    model: 'fake-model',
    apiKeyEnv: KEY_ENV,
    maxTokens: 64,
    ...extra,
  };
}

// Runs `chorus complete --json` and collects everything it printed; the API
// key must never be among it.
async function runChorus(args, env = {}) {
  const r = await runChorusCli(args, { env: { [KEY_ENV]: KEY, XDG_CONFIG_HOME: dir, ...env } });
  assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY), 'the API key was printed');
  let json;
  try { json = JSON.parse(r.stdout); } catch { json = undefined; }
  return { ...r, json };
}

async function complete(models, { where, name, env } = {}) {
  const config = writeConfig(models);
  const args = ['complete', where || `${srcFile}:2:3`, '--json', '--config', config];
  if (name) args.push('--model', name);
  return runChorus(args, env);
}

function lastRequest() {
  return fake.requests[fake.requests.length - 1];
}

// Headers every JSON request carries; the key itself is never compared.
function assertJsonHeaders(req) {
  assert.equal(req.headers['content-type'], 'application/json');
  assert.match(req.headers['user-agent'], /^chorus\//);
}

test('openai: /v1/completions with suffix, bearer key, streamed answer', opts, async () => {
  fake.reset();
  const r = await complete([model('openai', { stop: ['\n\n'] })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  assert.equal(r.json.model, 'openai');
  assert.equal(r.json.provider, 'openai');
  assert.equal(r.json.finishReason, 'stop');
  assert.ok(r.json.timings.totalMs >= r.json.timings.firstByteMs);
  const req = lastRequest();
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/v1/completions');
  assert.equal(fake.redactedHeaders(req).authorization, '<redacted>');
  assert.equal(req.headers.authorization, `Bearer ${KEY}`);
  assertJsonHeaders(req);
  assert.deepEqual(req.json, {
    model: 'fake-model', prompt: PREFIX, suffix: SUFFIX, max_tokens: 64,
    temperature: 0.2, stream: true, stop: ['\n\n'],
  });
});

test('openai with a FIM template (vLLM): prompt rendered, no suffix field, stops cut', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { text: `${TEXT}<|endoftext|>garbage after`, chunkSize: 1 });
  const r = await complete([model('openai', { fim: 'qwen' })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  const req = lastRequest();
  assert.equal(req.json.prompt, `<|fim_prefix|>${PREFIX}<|fim_suffix|>${SUFFIX}<|fim_middle|>`);
  assert.equal(req.json.suffix, undefined);
  assert.ok(req.json.stop.length <= 4 && req.json.stop.includes('<|endoftext|>'));
});

test('DeepSeek FIM is the openai provider with a /beta endpoint', opts, async () => {
  fake.reset();
  const r = await complete([model('openai', { name: 'deepseek', endpoint: `${fake.url}/beta` })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  assert.equal(lastRequest().path, '/beta/completions');
  assert.equal(lastRequest().json.suffix, SUFFIX);
});

test('openai-chat: messages from the chat prompt, code extracted from a fenced reply', opts, async () => {
  fake.reset();
  fake.once('POST /v1/chat/completions', { text: `Here is the code:\n\`\`\`c\n${TEXT}\n\`\`\`\n` });
  const r = await complete([model('openai-chat')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text.trim(), TEXT);
  const req = lastRequest();
  assert.equal(req.path, '/v1/chat/completions');
  assert.equal(fake.redactedHeaders(req).authorization, '<redacted>');
  assertJsonHeaders(req);
  assert.equal(req.json.model, 'fake-model');
  assert.equal(req.json.stream, true);
  assert.equal(req.json.max_completion_tokens, 64);
  assert.equal(req.json.max_tokens, undefined);
  assert.deepEqual(req.json.messages.map((m) => m.role), ['system', 'user']);
  assert.ok(req.json.messages[1].content.includes(PREFIX.trim()));
  assert.ok(req.json.messages[1].content.includes('<CURSOR>'));
});

test('anthropic: x-api-key, anthropic-version, every event type parsed', opts, async () => {
  fake.reset();
  fake.once('POST /v1/messages', { usage: { in: 11, out: 5 }, comments: true, crlf: true });
  const r = await complete([model('anthropic')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text.trim(), TEXT);
  assert.equal(r.json.finishReason, 'stop');
  assert.deepEqual(r.json.usage, { inputTokens: 11, outputTokens: 5 });
  const req = lastRequest();
  assert.equal(req.path, '/v1/messages');
  assert.equal(fake.redactedHeaders(req)['x-api-key'], '<redacted>');
  assert.equal(req.headers['x-api-key'], KEY);
  assert.equal(req.headers.authorization, undefined);
  assert.equal(req.headers['anthropic-version'], '2023-06-01');
  assertJsonHeaders(req);
  assert.equal(req.json.model, 'fake-model');
  assert.equal(req.json.max_tokens, 64);
  assert.equal(req.json.stream, true);
  assert.equal(typeof req.json.system, 'string');
  assert.deepEqual(req.json.messages.map((m) => m.role), ['user']);
});

test('ollama: /api/generate with suffix and options, NDJSON answer with counts', opts, async () => {
  fake.reset();
  const r = await complete([model('ollama', { apiKeyEnv: undefined, stop: ['\n\n'], temperature: 0 })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  assert.equal(r.json.finishReason, 'stop');
  assert.equal(r.json.usage.outputTokens, 4);
  const req = lastRequest();
  assert.equal(req.path, '/api/generate');
  assert.equal(req.headers.authorization, undefined);
  assert.deepEqual(req.json, {
    model: 'fake-model', prompt: PREFIX, suffix: SUFFIX, stream: true,
    options: { num_predict: 64, temperature: 0, stop: ['\n\n'] },
  });
});

test('ollama: raw prompt with a FIM template, and /api/chat for chat', opts, async () => {
  fake.reset();
  let r = await complete([model('ollama', { apiKeyEnv: undefined, fim: 'codellama' })]);
  assert.equal(r.code, 0, r.stderr);
  let req = lastRequest();
  assert.equal(req.json.raw, true);
  assert.equal(req.json.suffix, undefined);
  assert.equal(req.json.prompt, `<PRE> ${PREFIX} <SUF>${SUFFIX} <MID>`);
  assert.deepEqual(req.json.options.stop, ['<EOT>']);

  fake.once('POST /api/chat', { text: `\`\`\`c\n${TEXT}\n\`\`\`` });
  r = await complete([model('ollama', { apiKeyEnv: undefined, chat: true })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text.trim(), TEXT);
  req = lastRequest();
  assert.equal(req.path, '/api/chat');
  assert.deepEqual(req.json.messages.map((m) => m.role), ['system', 'user']);
});

test('llamacpp: /infill with input_extra and cache_prompt; /completion at the end of a file', opts, async () => {
  fake.reset();
  let r = await complete([model('llamacpp', { model: undefined, timeouts: { totalMs: 8000 } })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  assert.equal(r.json.finishReason, 'stop');
  let req = lastRequest();
  assert.equal(req.path, '/infill');
  assert.equal(fake.redactedHeaders(req).authorization, '<redacted>');
  assert.deepEqual(req.json, {
    input_prefix: PREFIX, input_suffix: SUFFIX, input_extra: [], prompt: '',
    n_predict: 64, temperature: 0.2, cache_prompt: true, t_max_predict_ms: 4000,
    stream: true,
  });

  r = await complete([model('llamacpp', { model: undefined })], { where: `${srcFile}:4:1` });
  assert.equal(r.code, 0, r.stderr);
  req = lastRequest();
  assert.equal(req.path, '/completion');
  assert.equal(req.json.prompt, PREFIX + SUFFIX);
  assert.equal(req.json.cache_prompt, true);
});

test('mistral-fim: /v1/fim/completions with prompt and suffix', opts, async () => {
  fake.reset();
  const r = await complete([model('mistral-fim', { model: 'codestral-latest' })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  assert.ok(r.json.usage.outputTokens > 0);
  const req = lastRequest();
  assert.equal(req.path, '/v1/fim/completions');
  assert.equal(fake.redactedHeaders(req).authorization, '<redacted>');
  assert.deepEqual(req.json, {
    model: 'codestral-latest', prompt: PREFIX, suffix: SUFFIX, max_tokens: 64,
    temperature: 0.2, stream: true,
  });
});

test('one-byte chunks give the same answers (SSE, NDJSON, named events)', opts, async () => {
  fake.reset();
  fake.behave('*', { chunkSize: 1, crlf: true });
  for (const p of ['openai', 'ollama', 'anthropic', 'llamacpp']) {
    const r = await complete([model(p, p === 'ollama' ? { apiKeyEnv: undefined } : {})]);
    assert.equal(r.code, 0, `${p}: ${r.stderr}`);
    assert.equal(r.json.text.trim(), TEXT, p);
  }
  fake.reset();
});

test('slow first byte: timeout naming the deadline, and the connection is closed', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { delayMs: 5000 });
  const t0 = Date.now();
  const r = await complete([model('openai', { timeouts: { firstByteMs: 300, totalMs: 4000 } })]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'timeout');
  assert.equal(r.json.error.deadline, 'first byte');
  assert.match(r.stderr, /timeout \(first byte deadline\)/);
  assert.ok(Date.now() - t0 < 3000, 'the deadline was not honoured');
  const closed = await lastRequest().closed;
  assert.equal(closed.early, true);
});

test('429 with Retry-After is retried, then the answer comes', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { status: 429, retryAfter: 1 });
  const r = await complete([model('openai')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, TEXT);
  assert.equal(r.json.attempts, 2);
  assert.equal(fake.requests.length, 2);
  assert.ok(fake.requests[1].at - fake.requests[0].at >= 900, 'Retry-After not honoured');
});

test('429 whose Retry-After passes the total deadline is not retried', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { status: 429, retryAfter: 30 });
  const r = await complete([model('openai', { timeouts: { totalMs: 5000 } })]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'http');
  assert.equal(r.json.error.httpStatus, 429);
  assert.equal(fake.requests.length, 1);
});

test('500: classified error with the server message; not retried', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { status: 500, errorBody: { error: { message: 'the GPU caught fire' } } });
  const r = await complete([model('openai')]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'http');
  assert.equal(r.json.error.httpStatus, 500);
  assert.match(r.json.error.message, /HTTP 500: the GPU caught fire/);
  assert.equal(fake.requests.length, 1);
});

test('a server echoing the key in an error body: redacted', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { status: 401, errorBody: { error: { message: `invalid key ${KEY} given` } } });
  const r = await complete([model('openai')]);
  assert.equal(r.code, 1);
  assert.match(r.json.error.message, /invalid key \[redacted\] given/);
});

test('a missing key variable is a clear error naming it; nothing is sent', opts, async () => {
  fake.reset();
  const r = await complete([model('openai', { apiKeyEnv: 'CHORUS_TEST_NO_SUCH_KEY' })]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'config');
  assert.match(r.json.error.message, /CHORUS_TEST_NO_SUCH_KEY is not set/);
  assert.equal(fake.requests.length, 0);
});

test('a cut stream is a bad response', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { cutAfterBytes: 120 });
  const r = await complete([model('openai')]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'bad response');
});

test('invalid JSON in the stream is a bad response', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { invalidJson: 1 });
  const r = await complete([model('openai')]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'bad response');
  assert.match(r.json.error.message, /invalid JSON/);
});

test('an endless stream stops at maxResponseBytes with bounded memory', opts, async () => {
  fake.reset();
  fake.once('POST /v1/completions', { endless: true, text: 'x'.repeat(4000) });
  const config = writeConfig([model('openai', { maxResponseBytes: 1 << 20 })]);
  const r = await runChorus(['complete', `${srcFile}:2:3`, '--json', '--config', config]);
  assert.equal(r.code, 1);
  assert.equal(r.json.error.kind, 'too large');
  const closed = await lastRequest().closed;
  assert.equal(closed.early, true);
  // Peak memory of the whole process, measured by time(1).
  const timed = await new Promise((resolve) => {
    fake.once('POST /v1/completions', { endless: true, text: 'y'.repeat(4000) });
    const child = spawn('/usr/bin/time', ['-f', 'maxrss=%M', chorusBin, 'complete', `${srcFile}:2:3`, '--json', '--config', config],
      { env: { ...process.env, [KEY_ENV]: KEY }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', () => resolve(err));
  });
  const kb = Number(/maxrss=(\d+)/.exec(timed)?.[1]);
  assert.ok(kb > 0 && kb < 64 * 1024, `peak memory ${kb} KiB for a 1 MiB limit`);
});

test('errors inside the stream: SSE error event, Anthropic error event, NDJSON error line', opts, async () => {
  fake.reset();
  fake.behave('*', { midStreamError: 'overloaded, try later' });
  for (const p of ['openai', 'anthropic', 'ollama', 'llamacpp']) {
    const r = await complete([model(p, p === 'ollama' ? { apiKeyEnv: undefined } : {})]);
    assert.equal(r.code, 1, p);
    assert.equal(r.json.error.kind, 'server error', p);
    assert.match(r.json.error.message, /overloaded, try later/, p);
  }
  fake.reset();
});

test('a server that holds the response open after [DONE]: answered after a short grace', opts, async (t) => {
  // The fake always ends its responses; this one does what some proxies do.
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"text":"held","finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { srv.closeAllConnections(); srv.close(); });
  const t0 = Date.now();
  const r = await complete([model('openai', { endpoint: `http://127.0.0.1:${srv.address().port}` })]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.text, 'held');
  assert.equal(r.json.attempts, 1);
  assert.ok(Date.now() - t0 < 2000);
});

test('config: a bad model entry is reported with file and field, the others load', opts, async () => {
  fake.reset();
  const r = await complete([
    { name: 'broken', provider: 'foo', endpoint: fake.url },
    model('openai', { name: 'good' }),
    { name: 'bad-temp', provider: 'openai', endpoint: fake.url, temperature: 7 },
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.model, 'good');
  assert.match(r.stderr, /config-\d+\.json: models\[0\]\.provider: unknown provider 'foo' \(known: openai, /);
  assert.match(r.stderr, /models\[2\]\.temperature: expected a number from 0 to 2/);
});

test('usage errors exit 2', opts, async () => {
  let r = await runChorus(['complete', 'no-position']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /FILE:LINE:COL/);
  r = await runChorus(['complete', `${srcFile}:2:3`, '--model', 'nope', '--config', writeConfig([model('openai')])]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no model named 'nope'/);
});

// ---- the LSP request --------------------------------------------------------

async function lspWithModels(t, models) {
  const config = writeConfig(models);
  process.env[KEY_ENV] = KEY;
  const s = await startServer(t, { args: ['--config', config], init: true });
  t.after(() => {
    assert.ok(!s.stderr().includes(KEY), 'the API key reached stderr');
    assert.ok(!JSON.stringify(s.logs).includes(KEY), 'the API key reached the logs');
  });
  const uri = `file://${srcFile}`;
  await s.open(uri, PREFIX + SUFFIX, { languageId: 'c' });
  return { s, uri };
}

test('LSP chorus/complete answers with text, model, provider, timings, usage', opts, async (t) => {
  fake.reset();
  const { s, uri } = await lspWithModels(t, [model('openai'), model('ollama', { apiKeyEnv: undefined })]);
  const r = await s.request('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 } });
  assert.equal(r.text, TEXT);
  assert.equal(r.model, 'openai');
  assert.equal(r.provider, 'openai');
  assert.equal(r.finishReason, 'stop');
  assert.equal(typeof r.timings.firstByteMs, 'number');
  assert.equal(typeof r.timings.totalMs, 'number');
  assert.equal(lastRequest().json.prompt, PREFIX);
  const o = await s.request('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 }, model: 'ollama' });
  assert.equal(o.provider, 'ollama');
  // A stream that ended cleanly leaves its connection for the next request.
  const n = fake.requests.length;
  assert.equal(fake.requests[n - 1].connection, fake.requests[n - 2].connection);
  assert.equal(o.usage.outputTokens, 4);
  assert.ok(o.usage.inputTokens > 0);
});

test('LSP chorus/complete: a model error is a JSON-RPC error with the classified message', opts, async (t) => {
  fake.reset();
  const { s, uri } = await lspWithModels(t, [model('openai'),
    model('openai', { name: 'quick', timeouts: { firstByteMs: 200 } })]);
  fake.once('POST /v1/completions', { delayMs: 3000 });
  const slow = await s.requestError('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 }, model: 'quick' });
  assert.equal(slow.code, -32803);
  assert.match(slow.message, /^model 'quick': timeout \(first byte deadline\): /);
  assert.deepEqual(slow.data, { kind: 'timeout', deadline: 'first byte', model: 'quick', provider: 'openai' });
  assert.equal((await lastRequest().closed).early, true);
  fake.once('POST /v1/completions', { status: 500, errorBody: { error: { message: 'out of memory' } } });
  const e = await s.requestError('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 } });
  assert.equal(e.code, -32803);
  assert.match(e.message, /http: HTTP 500: out of memory/);
  assert.deepEqual(e.data, { kind: 'http', httpStatus: 500, model: 'openai', provider: 'openai' });
  const bad = await s.requestError('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 }, model: 'nope' });
  assert.equal(bad.code, -32602);
});

test('LSP $/cancelRequest aborts the transfer; the server keeps answering meanwhile', opts, async (t) => {
  fake.reset();
  const { s, uri } = await lspWithModels(t, [model('openai')]);
  fake.once('POST /v1/completions', { hang: true });
  const source = new rpc.CancellationTokenSource();
  const pending = s.connection.sendRequest('chorus/complete',
    { textDocument: { uri }, position: { line: 1, character: 2 } }, source.token);
  await fake.waitForRequests(1, 5000);
  // The loop is not blocked by the hanging model.
  const t0 = Date.now();
  const doc = await s.documentText(uri);
  assert.equal(doc.text, PREFIX + SUFFIX);
  assert.ok(Date.now() - t0 < 1000);
  source.cancel();
  await assert.rejects(pending, (e) => e instanceof ResponseError && e.code === -32800);
  const closed = await fake.requests[0].closed;
  assert.equal(closed.early, true, 'the fake did not see the connection close');
  // And a later completion still works.
  const r = await s.request('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 } });
  assert.equal(r.text, TEXT);
});

test('LSP models from initializationOptions, replaced by didChangeConfiguration', opts, async (t) => {
  fake.reset();
  process.env[KEY_ENV] = KEY;
  const s = await startServer(t, { args: [] });
  await s.initialize(undefined, { initializationOptions: { models: [model('ollama', { name: 'first', apiKeyEnv: undefined })] } });
  const uri = `file://${srcFile}`;
  await s.open(uri, PREFIX + SUFFIX, { languageId: 'c' });
  const at = { textDocument: { uri }, position: { line: 1, character: 2 } };
  assert.equal((await s.request('chorus/complete', at)).model, 'first');
  await s.notify('workspace/didChangeConfiguration', { settings: { chorus: { models: [model('mistral-fim', { name: 'second' })] } } });
  const r = await s.request('chorus/complete', at);
  assert.equal(r.model, 'second');
  assert.equal(lastRequest().path, '/v1/fim/completions');
  const e = await s.requestError('chorus/complete', { ...at, model: 'first' });
  assert.match(e.message, /no model named 'first' \(configured: second\)/);
});

test('LSP exit with a completion in flight closes its connection and frees it', opts, async (t) => {
  fake.reset();
  const { s, uri } = await lspWithModels(t, [model('openai')]);
  fake.once('POST /v1/completions', { hang: true });
  const pending = s.connection.sendRequest('chorus/complete', { textDocument: { uri }, position: { line: 1, character: 2 } });
  pending.catch(() => {});
  await fake.waitForRequests(1, 5000);
  await s.request('shutdown');
  await s.notify('exit');
  const { code } = await s.waitExit();
  assert.equal(code, 0);
  assert.equal((await fake.requests[0].closed).early, true);
  assert.equal(sanitizerReport(s.stderr()), null, tail(s.stderr(), 4000));
});

test('LSP with no models configured: the builtin model answers from the index', opts, async (t) => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/ngram/c');
  const s = await startServer(t, { args: ['--config', writeConfig([])] });
  await s.initialize(['utf-8'], { rootUri: `file://${root}` });
  for (let i = 0; i < 50 && !(await s.request('chorus/indexStatus', {})).ready; i++) {
    await new Promise((res) => setTimeout(res, 100));
  }
  const uri = `file://${root}/src/new.c`;
  await s.open(uri, 'int vec_init2(struct vec *v, size_t cap) {\n  v->items = malloc(', { languageId: 'c' });
  const at = { textDocument: { uri }, position: { line: 1, character: 20 } };
  let r;
  for (let i = 0; i < 50; i++) {
    r = await s.request('chorus/complete', at);
    assert.equal(r.model, 'builtin');
    assert.equal(r.provider, 'builtin');
    if (r.text) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  // What it continues with is the builtin model's business; here: that the
  // server wires the index to it and reports where the answer came from.
  assert.ok(r.text.length > 0);
  assert.match(r.provenance, /^src\/\w+\.c:\d+$/);
  assert.ok(r.confidence > 0 && r.confidence <= 1);
});

// ---- chorus doctor ----------------------------------------------------------

test('doctor: ok, refused, 401 naming the variable, unknown model', opts, async () => {
  fake.reset();
  const config = writeConfig([
    model('openai', { name: 'fine' }),
    model('ollama', { name: 'nobody-home', endpoint: 'http://127.0.0.1:1', apiKeyEnv: undefined }),
    model('openai', { name: 'wrong-key', apiKeyEnv: 'CHORUS_TEST_WRONG_KEY' }),
    model('ollama', { name: 'not-pulled', model: 'ghost-model', apiKeyEnv: undefined }),
    model('llamacpp', { name: 'not-tls', endpoint: fake.url.replace('http:', 'https:'), apiKeyEnv: undefined }),
  ]);
  const r = await runChorus(['doctor', '--config', config], { CHORUS_TEST_WRONG_KEY: 'sk-wrong-key-value' });
  assert.equal(r.code, 1);
  const block = (name) => {
    const i = r.stdout.indexOf(`  ${name} (`);
    assert.ok(i >= 0, `${name} missing from:\n${r.stdout}`);
    return r.stdout.slice(i).split('\n')[1];
  };
  assert.match(block('fine'), /^\s+ok \(\d+ ms\)/);
  assert.match(block('nobody-home'), /FAILED: connection refused/);
  assert.match(block('wrong-key'), /FAILED: HTTP 401: the API key is missing or wrong \(check CHORUS_TEST_WRONG_KEY\)/);
  assert.match(block('not-pulled'), /FAILED: unknown model: 'ghost-model' is not pulled/);
  assert.match(block('not-tls'), /FAILED: TLS failure: \S/);
  assert.ok(!r.stdout.includes('sk-wrong-key-value'));

  const ok = await runChorus(['doctor', '--config', writeConfig([model('openai')])]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /all models answer/);
});
