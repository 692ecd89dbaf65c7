// Lifecycle: initialize, capabilities and position encoding negotiation,
// requests before initialize and after shutdown, exit codes, command line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, initializeParams } from './lib/client.mjs';
import { TEST_TIMEOUT, sanitizerReport } from './lib/common.mjs';

const opts = { timeout: TEST_TIMEOUT };
const EXIT_PROMPTLY_MS = 15000;

test('initialize returns serverInfo and the advertised capabilities', opts, async (t) => {
  const s = await startServer(t);
  const result = await s.request('initialize', initializeParams(['utf-16']));
  assert.equal(typeof result, 'object');
  assert.ok(result !== null, 'initialize result is null');
  assert.equal(result.serverInfo?.name, 'chorus');
  assert.equal(typeof result.serverInfo?.version, 'string');
  assert.ok(result.serverInfo.version.length > 0, 'serverInfo.version is empty');
  const caps = result.capabilities;
  assert.equal(typeof caps, 'object');
  assert.deepEqual(caps.textDocumentSync, { openClose: true, change: 2, save: { includeText: false } });
  // Advertise only what works.
  for (const absent of ['completionProvider', 'inlineCompletionProvider', 'codeActionProvider']) {
    assert.equal(caps[absent], undefined, `capabilities.${absent} must not be advertised yet: ${JSON.stringify(caps[absent])}`);
  }
});

const negotiation = [
  { offered: ['utf-8'], expected: 'utf-8' },
  { offered: ['utf-8', 'utf-16'], expected: 'utf-8' },
  { offered: ['utf-32', 'utf-8', 'utf-16'], expected: 'utf-8' }, // eglot 1.12+, lsp-mode 9+
  { offered: ['utf-16', 'utf-8'], expected: 'utf-8' },           // contract: contains "utf-8"
  { offered: ['utf-16'], expected: 'utf-16' },
  { offered: ['utf-32', 'utf-16'], expected: 'utf-16' },
  { offered: [], expected: 'utf-16' },
  { offered: undefined, expected: 'utf-16' },                    // no general capability at all
];
for (const { offered, expected } of negotiation) {
  test(`positionEncoding: offered ${JSON.stringify(offered) ?? 'nothing'} -> ${expected}`, opts, async (t) => {
    const s = await startServer(t);
    const result = await s.request('initialize', initializeParams(offered));
    assert.equal(result.capabilities.positionEncoding, expected);
  });
}

test('positionEncoding: general present without positionEncodings -> utf-16', opts, async (t) => {
  const s = await startServer(t);
  const params = initializeParams(undefined);
  params.capabilities = { general: {} };
  const result = await s.request('initialize', params);
  assert.equal(result.capabilities.positionEncoding, 'utf-16');
});

test('the negotiated encoding is the one used for positions', opts, async (t) => {
  // "é中😀x": é is 1 utf-16 unit / 2 bytes, 中 1 / 3, 😀 2 / 4.
  for (const [enc, after] of [['utf-16', 4], ['utf-8', 9]]) {
    const s = await startServer(t, { init: [enc] });
    assert.equal(s.encoding, enc);
    const uri = `file:///enc-${enc}.txt`;
    await s.open(uri, 'é中😀x');
    await s.change(uri, 2, [{ range: { start: { line: 0, character: after }, end: { line: 0, character: after } }, text: '|' }]);
    const doc = await s.documentText(uri);
    assert.equal(doc.text, 'é中😀|x', `insert at character ${after} with ${enc}`);
  }
});

test('a request before initialize gets -32002', opts, async (t) => {
  const s = await startServer(t);
  const e1 = await s.requestError('chorus/documentText', { textDocument: { uri: 'file:///a' } });
  assert.equal(e1.code, -32002);
  const e2 = await s.requestError('shutdown');
  assert.equal(e2.code, -32002);
  // And initialize still works afterwards.
  const result = await s.request('initialize', initializeParams(undefined));
  assert.equal(result.serverInfo.name, 'chorus');
});

test('a second initialize gets -32600', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const e = await s.requestError('initialize', initializeParams(undefined));
  assert.equal(e.code, -32600);
  // The server keeps going.
  await s.open('file:///still.txt', 'ok');
  assert.equal((await s.documentText('file:///still.txt')).text, 'ok');
});

test('shutdown -> null, later requests -32600, exit -> code 0', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.open('file:///x.txt', 'x');
  assert.equal(await s.request('shutdown'), null);
  const e = await s.requestError('chorus/documentText', { textDocument: { uri: 'file:///x.txt' } });
  assert.equal(e.code, -32600);
  const e2 = await s.requestError('shutdown');
  assert.equal(e2.code, -32600);
  await s.notify('exit');
  const { code, signal } = await s.waitExit(EXIT_PROMPTLY_MS);
  assert.equal(signal, null);
  assert.equal(code, 0);
});

test('exit without shutdown -> code 1', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.notify('exit');
  const { code, signal } = await s.waitExit(EXIT_PROMPTLY_MS);
  assert.equal(signal, null);
  assert.equal(code, 1);
});

test('exit before initialize -> code 1', opts, async (t) => {
  const s = await startServer(t);
  await s.notify('exit');
  const { code, signal } = await s.waitExit(EXIT_PROMPTLY_MS);
  assert.equal(signal, null);
  assert.equal(code, 1);
});

test('stdin EOF without exit -> code 1, promptly', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.open('file:///eof.txt', 'some text');
  s.closeStdin();
  const { code, signal } = await s.waitExit(EXIT_PROMPTLY_MS);
  assert.equal(signal, null);
  assert.equal(code, 1);
  assert.equal(sanitizerReport(s.stderr()), null, s.stderr());
});

test('stdin EOF before anything -> code 1', opts, async (t) => {
  const s = await startServer(t);
  s.closeStdin();
  const { code, signal } = await s.waitExit(EXIT_PROMPTLY_MS);
  assert.equal(signal, null);
  assert.equal(code, 1);
});

test('`chorus --stdio` is an alias of `chorus lsp`', opts, async (t) => {
  const s = await startServer(t, { argv: ['--stdio'] });
  const result = await s.initialize(['utf-8']);
  assert.equal(result.serverInfo.name, 'chorus');
  assert.equal(result.capabilities.positionEncoding, 'utf-8');
  assert.equal(await s.request('shutdown'), null);
  await s.notify('exit');
  assert.deepEqual(await s.waitExit(EXIT_PROMPTLY_MS), { code: 0, signal: null });
});

for (const level of ['error', 'warn', 'info', 'debug', 'trace']) {
  test(`--log-level ${level} is accepted`, opts, async (t) => {
    const s = await startServer(t, { args: ['--log-level', level] });
    const result = await s.initialize(undefined);
    assert.equal(result.serverInfo.name, 'chorus');
  });
}

test('--max-message-bytes N is accepted', opts, async (t) => {
  const s = await startServer(t, { args: ['--max-message-bytes', '1048576'] });
  const result = await s.initialize(undefined);
  assert.equal(result.serverInfo.name, 'chorus');
  await s.open('file:///small.txt', 'a'.repeat(1000));
  assert.equal((await s.documentText('file:///small.txt')).text, 'a'.repeat(1000));
});

test('--log-level debug sends window/logMessage notifications', opts, async (t) => {
  const s = await startServer(t, { args: ['--log-level', 'debug'], init: true });
  await s.open('file:///debug.txt', 'hello');
  await s.documentText('file:///debug.txt');
  await s.waitForLog((p) => typeof p.message === 'string' && p.message.length > 0
    && Number.isInteger(p.type) && p.type >= 1 && p.type <= 5, 'any window/logMessage at debug level');
});

test('document text never appears in logs at info level', opts, async (t) => {
  const marker = 'SECRET_MARKER_7f3a9c1e_' + process.pid;
  const s = await startServer(t, { args: ['--log-level', 'info'], init: true });
  const uri = 'file:///secret.txt';
  await s.open(uri, `line one\n${marker}\nline three\n`);
  await s.change(uri, 2, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: `${marker}-again ` }]);
  await s.notify('textDocument/didSave', { textDocument: { uri } });
  const doc = await s.documentText(uri);
  assert.ok(doc.text.includes(marker));
  await s.notify('textDocument/didClose', { textDocument: { uri } });
  // Flush: a request after everything, then shut down cleanly so that
  // all logs and stderr are written.
  assert.equal(await s.request('shutdown'), null);
  await s.notify('exit');
  assert.deepEqual(await s.waitExit(EXIT_PROMPTLY_MS), { code: 0, signal: null });
  for (const log of s.logs) {
    assert.ok(!String(log.message).includes(marker), `logMessage contains document text: ${log.message}`);
  }
  assert.ok(!s.stderr().includes(marker), `stderr contains document text:\n${s.stderr()}`);
});

test('document text never appears in logs at info level, also when a message is rejected', opts, async (t) => {
  const marker = 'SECRET_MARKER_b41d07e2_' + process.pid;
  const s = await startServer(t, { args: ['--log-level', 'info'], init: true });
  const uri = 'file:///secret2.txt';
  // Invalid params that carry document text: the warnings must not echo it.
  await s.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'plaintext', version: 'one', text: marker } });
  await s.notify('textDocument/didOpen', { textDocument: { uri: 5, languageId: 'plaintext', version: 1, text: marker } });
  await s.open(uri, 'ok');
  await s.change(uri, 2, [{ range: { start: { line: -1, character: 0 }, end: { line: 0, character: 0 } }, text: marker }]);
  await s.change(uri, 3, [{ text: 17, extra: marker }]);
  await s.notify('textDocument/didChange', { textDocument: { uri: 9, version: 4 }, contentChanges: [{ text: marker }] });
  await s.notify('chorus/unknownNotification', { text: marker });
  const e = await s.requestError('chorus/unknownRequest', { text: marker });
  assert.equal(e.code, -32601);
  assert.ok(!e.message.includes(marker), `error message echoes params: ${e.message}`);
  const e2 = await s.requestError('chorus/documentText', { textDocument: { uri: 42, text: marker } });
  assert.equal(e2.code, -32602);
  assert.equal((await s.documentText(uri)).text, 'ok');
  // Each rejected notification was reported.
  await s.waitForLog((p) => (p.type === 1 || p.type === 2) && /textDocument\.version/.test(p.message), 'the didOpen version warning');
  assert.equal(await s.request('shutdown'), null);
  await s.notify('exit');
  assert.deepEqual(await s.waitExit(EXIT_PROMPTLY_MS), { code: 0, signal: null });
  for (const log of s.logs) {
    assert.ok(!String(log.message).includes(marker), `logMessage contains document text: ${log.message}`);
  }
  assert.ok(!s.stderr().includes(marker), `stderr contains document text:\n${s.stderr()}`);
});
