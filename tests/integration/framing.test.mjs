// Framing: Content-Length parsing, resynchronisation after bad headers,
// oversized messages skipped as they stream, truncated input at EOF,
// unknown and case-varied headers. All through raw bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRaw, frame, request, notification } from './lib/raw.mjs';
import { TEST_TIMEOUT, sanitizerReport } from './lib/common.mjs';

const opts = { timeout: TEST_TIMEOUT };
const DOC = 'file:///framing.txt';
const EXIT_PROMPTLY_MS = 15000;
const MAX = 1048576;

async function rawWithDoc(t, args = [], spawnOptions = {}) {
  const r = startRaw(t, args, spawnOptions);
  await r.initialize();
  await r.send(notification('textDocument/didOpen', { textDocument: { uri: DOC, languageId: 'plaintext', version: 1, text: 'framed' } }));
  return r;
}

const docRequest = (id) => frame(request(id, 'chorus/documentText', { textDocument: { uri: DOC } }));

async function expectDoc(r, id) {
  const m = await r.response(id);
  assert.equal(m.result?.text, 'framed', JSON.stringify(m));
}

function assertErrorNullId(msg, code) {
  assert.equal(msg.jsonrpc, '2.0', JSON.stringify(msg));
  assert.ok('id' in msg && msg.id === null, `expected id null: ${JSON.stringify(msg)}`);
  assert.equal(msg.error?.code, code, JSON.stringify(msg));
  assert.equal(typeof msg.error.message, 'string');
}

// A request whose body is exactly `size` bytes (padded with a string), so
// that if the server ever ran it, a response to `id` would show up.
function paddedRequest(id, size) {
  const head = `{"jsonrpc":"2.0","id":${id},"method":"chorus/documentText","params":{"textDocument":{"uri":"${DOC}"},"pad":"`;
  const tailStr = '"}}';
  const pad = size - head.length - tailStr.length;
  assert.ok(pad >= 0);
  const body = Buffer.alloc(size, 'x');
  body.write(head, 0, 'latin1');
  body.write(tailStr, size - tailStr.length, 'latin1');
  return body;
}

// Garbage that a bad header block leaves behind; ends with a line break so
// that the next "Content-Length:" starts a line.
const GARBAGE = '{"jsonrpc":"2.0","id":99,"method":"shutdown"}\r\n';

const badHeaderBlocks = [
  ['no Content-Length at all', 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n'],
  ['only an unknown header', 'X-Whatever: 1\r\n\r\n'],
  ['a non-numeric Content-Length', 'Content-Length: abc\r\n\r\n'],
  ['a Content-Length with trailing letters', 'Content-Length: 12abc\r\n\r\n'],
  ['a negative Content-Length', 'Content-Length: -5\r\n\r\n'],
  ['an empty Content-Length', 'Content-Length: \r\n\r\n'],
  ['an exponent Content-Length', 'Content-Length: 1e3\r\n\r\n'],
  ['a 19 digit Content-Length', 'Content-Length: 1234567890123456789\r\n\r\n'],
  ['a 25 digit Content-Length', 'Content-Length: 9999999999999999999999999\r\n\r\n'],
  ['a header line without a colon', 'Content-Length 12\r\n\r\n'],
];
for (const [name, head] of badHeaderBlocks) {
  test(`${name} -> -32700 id null, resync at the next Content-Length (one write)`, opts, async (t) => {
    const r = await rawWithDoc(t);
    await r.write(Buffer.concat([Buffer.from(head + GARBAGE, 'latin1'), docRequest(1)]));
    const err = await r.nextResponse('the framing error');
    assertErrorNullId(err, -32700);
    // The next response is to id 1: the garbage "shutdown" never ran.
    await expectDoc(r, 1);
    await r.send(request(2, 'chorus/documentText', { textDocument: { uri: DOC } }));
    await expectDoc(r, 2);
  });
}

test('bad header block, error, then the next message in a later write', opts, async (t) => {
  const r = await rawWithDoc(t);
  await r.write('Content-Length: nope\r\n\r\n' + GARBAGE);
  assertErrorNullId(await r.nextResponse('the framing error'), -32700);
  await r.write(docRequest(1));
  await expectDoc(r, 1);
});

test('two bad header blocks in a row each get an error, then resync', opts, async (t) => {
  const r = await rawWithDoc(t);
  await r.write(Buffer.concat([
    Buffer.from('Content-Type: text/plain\r\n\r\n' + GARBAGE + 'Content-Length: x\r\n\r\n' + GARBAGE, 'latin1'),
    docRequest(1),
  ]));
  assertErrorNullId(await r.nextResponse('the first framing error'), -32700);
  assertErrorNullId(await r.nextResponse('the second framing error'), -32700);
  await expectDoc(r, 1);
});

// --- size limits ------------------------------------------------------------

test('a 2 MB message over --max-message-bytes 1048576 -> -32600 id null naming the size, then the next request is answered', opts, async (t) => {
  const r = await rawWithDoc(t, ['--max-message-bytes', String(MAX)]);
  const big = frame(paddedRequest(999, 2 * MAX));
  await r.writeChunked(Buffer.concat([big, docRequest(1)]), 256 * 1024);
  const err = await r.nextResponse('the size error');
  assertErrorNullId(err, -32600);
  assert.match(err.error.message, /2097152|1048576|size/i, `message should mention the size: ${err.error.message}`);
  // No response to id 999: the next response is to id 1.
  await expectDoc(r, 1);
});

test('a message of exactly --max-message-bytes is accepted; one byte more is not', opts, async (t) => {
  const r = await rawWithDoc(t, ['--max-message-bytes', String(MAX)]);
  await r.writeChunked(frame(paddedRequest(7, MAX)), 256 * 1024);
  const ok = await r.response(7);
  assert.equal(ok.result?.text, 'framed', JSON.stringify(ok).slice(0, 300));
  await r.writeChunked(Buffer.concat([frame(paddedRequest(8, MAX + 1)), docRequest(9)]), 256 * 1024);
  assertErrorNullId(await r.nextResponse('the size error'), -32600);
  await expectDoc(r, 9);
});

test('an oversized body is skipped as it streams, not buffered (peak RSS)', opts, async (t) => {
  // Without the sanitizer's quarantine, freed read buffers are reused, so
  // the peak RSS measures what the server holds at once.
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=0'].filter(Boolean).join(':');
  const r = await rawWithDoc(t, ['--max-message-bytes', String(MAX)], { env: { ASAN_OPTIONS: asan } });
  await r.send(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }));
  await expectDoc(r, 1);
  const before = await r.peakRssKiB();
  assert.ok(before > 0, 'could not read VmHWM');
  const size = 64 * 1024 * 1024;
  const big = frame(paddedRequest(999, size));
  await r.writeChunked(Buffer.concat([big, docRequest(2)]));
  assertErrorNullId(await r.nextResponse('the size error'), -32600);
  await expectDoc(r, 2);
  const after = await r.peakRssKiB();
  const grewMiB = (after - before) / 1024;
  assert.ok(grewMiB < 24, `peak RSS grew by ${grewMiB.toFixed(1)} MiB while skipping a 64 MiB body (before ${before} KiB, after ${after} KiB)`);
});

test('the default maximum is 67108864 bytes: one byte more -> -32600, then the next request is answered', opts, async (t) => {
  const r = await rawWithDoc(t);
  const big = frame(paddedRequest(999, 67108864 + 1));
  await r.writeChunked(Buffer.concat([big, docRequest(1)]));
  const err = await r.nextResponse('the size error');
  assertErrorNullId(err, -32600);
  assert.match(err.error.message, /67108865|67108864|size/i, `message should mention the size: ${err.error.message}`);
  await expectDoc(r, 1);
});

// --- truncated input at EOF --------------------------------------------------

const truncations = [
  ['mid-body', 'Content-Length: 100\r\n\r\n{"jsonrpc":"2.0","id":5,'],
  ['mid-body of a large declared message', 'Content-Length: 60000000\r\n\r\n{"jsonrpc":"2.0",'],
  ['right after the header block', 'Content-Length: 50\r\n\r\n'],
  ['mid-header', 'Content-Len'],
  ['after a header line, before the blank line', 'Content-Length: 50\r\n'],
  ['after a lone CR in the header', 'Content-Length: 50\r'],
];
for (const [name, bytes] of truncations) {
  test(`stdin closing ${name} -> exit code 1, no crash`, opts, async (t) => {
    const r = await rawWithDoc(t);
    await r.send(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }));
    await expectDoc(r, 1);
    await r.write(bytes);
    r.closeStdin();
    const { code, signal } = await r.waitExit(EXIT_PROMPTLY_MS);
    assert.equal(signal, null, `killed by ${signal}; stderr:\n${r.stderr()}`);
    assert.equal(code, 1, `stderr:\n${r.stderr()}`);
    assert.equal(sanitizerReport(r.stderr()), null, r.stderr());
    assert.ok(!r.stderr().includes('AddressSanitizer') && !r.stderr().includes('runtime error'), r.stderr());
  });
}

test('stdin closing while an oversized body is being skipped -> exit code 1, no crash', opts, async (t) => {
  const r = await rawWithDoc(t, ['--max-message-bytes', String(MAX)]);
  const big = frame(paddedRequest(999, 2 * MAX));
  await r.writeChunked(big.subarray(0, MAX / 2));
  r.closeStdin();
  const { code, signal } = await r.waitExit(EXIT_PROMPTLY_MS);
  assert.equal(signal, null, `killed by ${signal}; stderr:\n${r.stderr()}`);
  assert.equal(code, 1, `stderr:\n${r.stderr()}`);
  assert.equal(sanitizerReport(r.stderr()), null, r.stderr());
});

// --- headers that must be accepted -------------------------------------------

const goodHeaders = [
  ['Content-Type before Content-Length', { before: 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n' }],
  ['Content-Type after Content-Length', { after: 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n' }],
  ['unknown headers on both sides', { before: 'X-Foo: bar\r\n', after: 'X-Trace-Id: 123\r\nX-Empty:\r\n' }],
];
for (const [name, framing] of goodHeaders) {
  test(`accepted: ${name}`, opts, async (t) => {
    const r = await rawWithDoc(t);
    await r.write(frame(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }), framing));
    await expectDoc(r, 1);
  });
}

for (const name of ['content-length', 'CONTENT-LENGTH', 'Content-length', 'cOnTeNt-LeNgTh']) {
  test(`header names are case-insensitive: ${name}`, opts, async (t) => {
    const r = await rawWithDoc(t);
    const body = Buffer.from(JSON.stringify(request(1, 'chorus/documentText', { textDocument: { uri: DOC } })));
    await r.write(Buffer.concat([Buffer.from(`${name}: ${body.length}\r\n\r\n`), body]));
    await expectDoc(r, 1);
  });
}

// --- message boundaries ------------------------------------------------------

test('a message split across many small writes', opts, async (t) => {
  const r = await rawWithDoc(t);
  const bytes = frame(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }), { before: 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n' });
  for (let i = 0; i < bytes.length; i += 3) await r.write(bytes.subarray(i, i + 3));
  await expectDoc(r, 1);
});

test('a multi-byte UTF-8 body split inside a character', opts, async (t) => {
  const r = startRaw(t);
  await r.initialize();
  const text = 'é中😀𝄞';
  const open = frame(notification('textDocument/didOpen', { textDocument: { uri: DOC, languageId: 'plaintext', version: 1, text } }));
  const cut = open.indexOf(Buffer.from('😀')) + 2;
  await r.write(open.subarray(0, cut));
  await r.write(open.subarray(cut));
  await r.send(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }));
  const m = await r.response(1);
  assert.equal(m.result?.text, text);
});

test('many messages in a single write are all answered, in order', opts, async (t) => {
  const r = await rawWithDoc(t);
  const n = 200;
  const frames = [];
  for (let i = 1; i <= n; i++) frames.push(docRequest(i));
  await r.write(Buffer.concat(frames));
  for (let i = 1; i <= n; i++) await expectDoc(r, i);
});
