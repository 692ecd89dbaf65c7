// JSON-RPC errors: unknown methods, invalid params (requests get -32602,
// notifications a logged warning/error), parse errors, invalid requests,
// cancellation. vscode-jsonrpc where it can send the input, raw bytes
// otherwise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/client.mjs';
import { startRaw, frame, request, notification } from './lib/raw.mjs';
import { TEST_TIMEOUT } from './lib/common.mjs';

const opts = { timeout: TEST_TIMEOUT };
const DOC = 'file:///errors.txt';

// The server still answers: documentText of a document opened beforehand.
async function stillServes(s) {
  const doc = await s.documentText(DOC);
  assert.equal(doc.text, 'still here');
}

// --- unknown methods ---------------------------------------------------------

for (const method of ['chorus/noSuchMethod', 'textDocument/noSuchThing', '$/noSuchRequest', '$/progress/x']) {
  test(`unknown request ${method} -> -32601`, opts, async (t) => {
    const s = await startServer(t, { init: true });
    await s.open(DOC, 'still here');
    const e = await s.requestError(method, {});
    assert.equal(e.code, -32601);
    await stillServes(s);
  });
}

// The contract does not say which code; it only requires that a request
// (it has an id) is answered, with an error.
for (const method of ['$/cancelRequest', 'textDocument/didSave']) {
  test(`the notification ${method} sent as a request gets an error response`, opts, async (t) => {
    const s = await startServer(t, { init: true });
    await s.open(DOC, 'still here');
    const e = await s.requestError(method, method === '$/cancelRequest' ? { id: 12345 } : { textDocument: { uri: DOC } });
    assert.ok(e.code === -32601 || e.code === -32600, `code ${e.code}: ${e.message}`);
    await stillServes(s);
  });
}

test('unknown notifications are ignored: no response, the server keeps going', opts, async (t) => {
  const r = startRaw(t);
  await r.initialize();
  await r.write(Buffer.concat([
    frame(notification('chorus/noSuchNotification', { a: 1 })),
    frame(notification('$/noSuchNotification', {})),
    frame(notification('$/setTrace', { value: 'off' })),
    frame(notification('workspace/didChangeConfiguration', { settings: {} })),
    frame(request(5, 'chorus/documentText', { textDocument: { uri: 'file:///nope' } })),
  ]));
  // The first response must be the one to id 5.
  const m = await r.response(5);
  assert.equal(m.error?.code, -32602);
});

// --- invalid params on requests ------------------------------------------------

const badRequests = [
  ['textDocument.uri is a number', { textDocument: { uri: 42 } }, 'textDocument.uri'],
  ['textDocument.uri is null', { textDocument: { uri: null } }, 'textDocument.uri'],
  ['textDocument.uri is missing', { textDocument: {} }, 'textDocument.uri'],
  ['textDocument is a string', { textDocument: 'file:///x' }, 'textDocument'],
  ['textDocument is missing', {}, 'textDocument'],
  ['params is an array', [1, 2], null],
];
for (const [name, params, field] of badRequests) {
  test(`chorus/documentText with ${name} -> -32602${field ? ` naming ${field}` : ''}`, opts, async (t) => {
    const s = await startServer(t, { init: true });
    await s.open(DOC, 'still here');
    const e = await s.requestError('chorus/documentText', params);
    assert.equal(e.code, -32602, `code for ${JSON.stringify(params)}: ${e.message}`);
    if (field) assert.ok(e.message.includes(field), `message ${JSON.stringify(e.message)} does not name ${field}`);
    await stillServes(s);
  });
}

test('chorus/documentText without params -> -32602', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.open(DOC, 'still here');
  const e = await s.requestError('chorus/documentText');
  assert.equal(e.code, -32602);
  await stillServes(s);
});

test('chorus/documentText for a document that is not open -> -32602 "not open"', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const e = await s.requestError('chorus/documentText', { textDocument: { uri: 'file:///not-opened.txt' } });
  assert.equal(e.code, -32602);
  assert.match(e.message, /not open/);
});

// --- invalid params on notifications: logged, no response ---------------------

const goodOpen = () => ({ textDocument: { uri: 'file:///bad.txt', languageId: 'plaintext', version: 1, text: 'x' } });
const badNotifications = [
  ['didOpen: textDocument.uri is a number', 'textDocument/didOpen',
    () => { const p = goodOpen(); p.textDocument.uri = 7; return p; }, /textDocument\.uri/],
  ['didOpen: textDocument.text is a number', 'textDocument/didOpen',
    () => { const p = goodOpen(); p.textDocument.text = 7; return p; }, /textDocument\.text/],
  ['didOpen: textDocument.version is a string', 'textDocument/didOpen',
    () => { const p = goodOpen(); p.textDocument.version = '1'; return p; }, /textDocument\.version/],
  ['didOpen: textDocument.languageId is a number', 'textDocument/didOpen',
    () => { const p = goodOpen(); p.textDocument.languageId = 3; return p; }, /textDocument\.languageId/],
  ['didOpen: textDocument is missing', 'textDocument/didOpen', () => ({}), /textDocument(?!\/)/],
  ['didChange: textDocument.uri is a number', 'textDocument/didChange',
    () => ({ textDocument: { uri: 1, version: 2 }, contentChanges: [{ text: 'y' }] }), /textDocument\.uri/],
  ['didChange: contentChanges is not an array', 'textDocument/didChange',
    () => ({ textDocument: { uri: DOC, version: 2 }, contentChanges: { text: 'y' } }), /contentChanges/],
  ['didChange: text of a change is a number', 'textDocument/didChange',
    () => ({ textDocument: { uri: DOC, version: 2 }, contentChanges: [{ text: 5 }] }), /\btext\b/],
  ['didChange: negative line', 'textDocument/didChange',
    () => ({ textDocument: { uri: DOC, version: 2 }, contentChanges: [{ range: { start: { line: -1, character: 0 }, end: { line: 0, character: 0 } }, text: 'y' }] }),
    /range|position/],
  ['didChange: non-integer line', 'textDocument/didChange',
    () => ({ textDocument: { uri: DOC, version: 2 }, contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 1.5, character: 0 } }, text: 'y' }] }),
    /range|position/],
  ['didChange: line is a string', 'textDocument/didChange',
    () => ({ textDocument: { uri: DOC, version: 2 }, contentChanges: [{ range: { start: { line: '0', character: 0 }, end: { line: 0, character: 0 } }, text: 'y' }] }),
    /range|position/],
  ['didChange: negative character', 'textDocument/didChange',
    () => ({ textDocument: { uri: DOC, version: 2 }, contentChanges: [{ range: { start: { line: 0, character: -3 }, end: { line: 0, character: 0 } }, text: 'y' }] }),
    /range|position/],
  ['didClose: textDocument.uri is a number', 'textDocument/didClose',
    () => ({ textDocument: { uri: false } }), /textDocument\.uri/],
  ['didSave: textDocument.uri is a number', 'textDocument/didSave',
    () => ({ textDocument: { uri: 9 } }), /textDocument\.uri/],
];
for (const [name, method, params, field] of badNotifications) {
  test(`${name}: logMessage type 1 or 2 naming the field, no response, server keeps going`, opts, async (t) => {
    const r = startRaw(t);
    await r.initialize();
    await r.send(notification('textDocument/didOpen', { textDocument: { uri: DOC, languageId: 'plaintext', version: 1, text: 'still here' } }));
    await r.send(notification(method, params()));
    // The notification gets no response: the next response is to id 1.
    await r.send(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }));
    const { msg: log } = await r.waitFor((m) => m.method === 'window/logMessage'
      && (m.params?.type === 1 || m.params?.type === 2) && field.test(String(m.params?.message)),
    `a window/logMessage of type 1 or 2 matching ${field}`);
    assert.ok(log);
    const m = await r.response(1);
    // A rejected change leaves the document as it was.
    assert.deepEqual(m.result, { uri: DOC, version: 1, languageId: 'plaintext', text: 'still here' });
  });
}

// --- parse errors and invalid requests (raw) ----------------------------------

function assertErrorResponse(msg, id, code) {
  assert.equal(msg.jsonrpc, '2.0', JSON.stringify(msg));
  assert.ok('id' in msg, `response without an id member: ${JSON.stringify(msg)}`);
  assert.equal(msg.id, id, JSON.stringify(msg));
  assert.equal(msg.result, undefined, JSON.stringify(msg));
  assert.equal(msg.error?.code, code, JSON.stringify(msg));
  assert.equal(typeof msg.error.message, 'string');
}

async function rawWithDoc(t, args = []) {
  const r = startRaw(t, args);
  await r.initialize();
  await r.send(notification('textDocument/didOpen', { textDocument: { uri: DOC, languageId: 'plaintext', version: 1, text: 'still here' } }));
  return r;
}

async function rawStillServes(r, id) {
  await r.send(request(id, 'chorus/documentText', { textDocument: { uri: DOC } }));
  const m = await r.response(id);
  assert.equal(m.result?.text, 'still here', JSON.stringify(m));
}

const invalidJson = [
  ['truncated object', '{"jsonrpc":"2.0","id":1,"method":'],
  ['not JSON at all', 'hello world'],
  ['single quotes', "{'jsonrpc':'2.0','id':1,'method':'shutdown'}"],
  ['trailing garbage after the object', '{"jsonrpc":"2.0","id":1,"method":"shutdown"} xyz'],
  ['two objects in one body', '{"jsonrpc":"2.0","id":1,"method":"shutdown"}{"jsonrpc":"2.0","id":2,"method":"shutdown"}'],
  ['empty body', ''],
  ['unterminated string', '{"jsonrpc":"2.0","id":1,"method":"shut'],
];
for (const [name, body] of invalidJson) {
  test(`invalid JSON (${name}) -> -32700 with id null, the server keeps going`, opts, async (t) => {
    const r = await rawWithDoc(t);
    await r.write(frame(body));
    const m = await r.nextResponse('the parse error');
    assertErrorResponse(m, null, -32700);
    // shutdown inside the bad bodies must not have been run.
    await rawStillServes(r, 100);
  });
}

const invalidRequests = [
  ['an array', '[1,2]', null],
  ['an empty array', '[]', null],
  ['a batch of requests', '[{"jsonrpc":"2.0","id":1,"method":"shutdown"}]', null],
  ['a number', '42', null],
  ['a string', '"initialize"', null],
  ['null', 'null', null],
  ['true', 'true', null],
  ['an empty object', '{}', null],
  ['an object without method or id', '{"jsonrpc":"2.0","params":{}}', null],
  ['an object with an id but no method', '{"jsonrpc":"2.0","id":7,"params":{}}', 7],
  ['an object with a string id but no method', '{"jsonrpc":"2.0","id":"abc","params":{}}', 'abc'],
  ['a method that is a number', '{"jsonrpc":"2.0","id":8,"method":5}', 8],
  ['a method that is null', '{"jsonrpc":"2.0","id":"s9","method":null}', 's9'],
];
for (const [name, body, id] of invalidRequests) {
  test(`a JSON value that is ${name} -> -32600 with id ${JSON.stringify(id)}`, opts, async (t) => {
    const r = await rawWithDoc(t);
    await r.write(frame(body));
    const m = await r.nextResponse('the invalid request error');
    assertErrorResponse(m, id, -32600);
    await rawStillServes(r, 101);
  });
}

// Not valid LSP input, but the server must survive it and keep answering.
const oddBodies = [
  ['invalid UTF-8 inside a string', Buffer.concat([
    Buffer.from('{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///bad-utf8.txt","languageId":"plaintext","version":1,"text":"a'),
    Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82, 0xf0, 0x9f, 0x98]),
    Buffer.from('b\\nc"}}}'),
  ])],
  ['a lone surrogate escape', '{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///surrogate.txt","languageId":"plaintext","version":1,"text":"a\\ud800b\\udc00"}}}'],
  ['deeply nested arrays', `{"jsonrpc":"2.0","method":"chorus/x","params":${'['.repeat(100000)}${']'.repeat(100000)}}`],
  ['a huge number', '{"jsonrpc":"2.0","id":1e400,"method":"chorus/documentText"}'],
];
for (const [name, body] of oddBodies) {
  test(`${name}: no crash, the server keeps going`, opts, async (t) => {
    const r = await rawWithDoc(t, ['--log-level', 'debug']);
    await r.write(frame(body));
    // Edits on what was opened, if anything, must not crash either.
    for (const uri of ['file:///bad-utf8.txt', 'file:///surrogate.txt']) {
      await r.send(notification('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [
        { range: { start: { line: 0, character: 1 }, end: { line: 0, character: 3 } }, text: 'Z' },
        { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 9 } }, text: '' }] }));
    }
    await r.send(request('after', 'chorus/documentText', { textDocument: { uri: DOC } }));
    const { msg } = await r.waitFor((m) => m.id === 'after', 'the response to the request after');
    assert.equal(msg.result?.text, 'still here', JSON.stringify(msg));
  });
}

test('responses echo string and numeric ids exactly', opts, async (t) => {
  const r = await rawWithDoc(t);
  for (const id of ['string-id', 0, 2147483647, 'é中😀']) {
    await r.send(request(id, 'chorus/documentText', { textDocument: { uri: DOC } }));
    const m = await r.response(id);
    assert.equal(m.result?.text, 'still here');
  }
});

// --- cancellation --------------------------------------------------------------

test('$/cancelRequest for a queued request -> that request gets -32800', opts, async (t) => {
  const r = await rawWithDoc(t);
  // One write: the server reads both messages together and cancels the
  // request before running it.
  await r.write(Buffer.concat([
    frame(request(42, 'chorus/documentText', { textDocument: { uri: DOC } })),
    frame(notification('$/cancelRequest', { id: 42 })),
  ]));
  const m = await r.response(42);
  assertErrorResponse(m, 42, -32800);
  await rawStillServes(r, 43);
});

test('$/cancelRequest with a string id', opts, async (t) => {
  const r = await rawWithDoc(t);
  await r.write(Buffer.concat([
    frame(request('req-1', 'chorus/documentText', { textDocument: { uri: DOC } })),
    frame(notification('$/cancelRequest', { id: 'req-1' })),
  ]));
  const m = await r.response('req-1');
  assertErrorResponse(m, 'req-1', -32800);
  await rawStillServes(r, 'req-2');
});

test('$/cancelRequest only cancels the request it names', opts, async (t) => {
  const r = await rawWithDoc(t);
  await r.write(Buffer.concat([
    frame(request(1, 'chorus/documentText', { textDocument: { uri: DOC } })),
    frame(request(2, 'chorus/documentText', { textDocument: { uri: DOC } })),
    frame(request(3, 'chorus/documentText', { textDocument: { uri: DOC } })),
    frame(notification('$/cancelRequest', { id: 2 })),
  ]));
  const m1 = await r.response(1);
  assert.equal(m1.result?.text, 'still here', JSON.stringify(m1));
  const m2 = await r.response(2);
  assertErrorResponse(m2, 2, -32800);
  const m3 = await r.response(3);
  assert.equal(m3.result?.text, 'still here', JSON.stringify(m3));
});

test('$/cancelRequest with malformed params gets no response', opts, async (t) => {
  const r = await rawWithDoc(t);
  await r.write(Buffer.concat([
    frame(notification('$/cancelRequest', {})),
    frame(notification('$/cancelRequest', { id: { nested: 1 } })),
    frame(notification('$/cancelRequest', { id: null })),
    frame(notification('$/cancelRequest')),
    frame(request(2, 'chorus/documentText', { textDocument: { uri: DOC } })),
  ]));
  const m = await r.response(2);
  assert.equal(m.result?.text, 'still here', JSON.stringify(m));
});

test('$/cancelRequest for an unknown or answered id is ignored', opts, async (t) => {
  const r = await rawWithDoc(t);
  await r.send(request(1, 'chorus/documentText', { textDocument: { uri: DOC } }));
  assert.equal((await r.response(1)).result?.text, 'still here');
  await r.write(Buffer.concat([
    frame(notification('$/cancelRequest', { id: 1 })),      // already answered
    frame(notification('$/cancelRequest', { id: 999 })),    // never sent
    frame(notification('$/cancelRequest', { id: 'nope' })),
    frame(request(2, 'chorus/documentText', { textDocument: { uri: DOC } })),
  ]));
  // No response to the cancels; the next response is to id 2, not cancelled.
  const m = await r.response(2);
  assert.equal(m.result?.text, 'still here', JSON.stringify(m));
});
