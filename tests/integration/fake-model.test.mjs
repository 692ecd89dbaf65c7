// The fake model server itself (lib/fake-model.mjs): every route in its
// API's shape, streamed and not, every behaviour knob, once vs behave,
// auth, request recording. Byte-level knobs (chunking, cuts, aborts) are
// checked through raw sockets, since fetch would hide them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { once as onceEvent } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeModel, splitText } from './lib/fake-model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const opts = { timeout: 10000 };
const TEXT = 'return a + b;';
const ANTHROPIC_HEADERS = { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' };

async function fakeFor(t, options = { text: TEXT }) {
  const fake = await startFakeModel(options);
  t.after(() => fake.close());
  return fake;
}

async function post(fake, route, body, headers = {}) {
  const res = await fetch(fake.url + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function get(fake, route, headers = {}) {
  const res = await fetch(fake.url + route, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// A server-sent events parser after the WHATWG rules: lines end in CRLF, LF
// or CR, comments start with ':', an empty line dispatches the event.
function parseSse(text) {
  const events = [];
  let data = [];
  let event = '';
  let comments = 0;
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (line === '') {
      if (data.length) events.push({ event: event || 'message', data: data.join('\n') });
      data = [];
      event = '';
    } else if (line.startsWith(':')) {
      comments++;
    } else {
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
  }
  return Object.assign(events, { comments });
}

const parseNdjson = (text) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

// One request over a raw socket with `Connection: close`; collects every
// byte until the server closes. Returns the status, lower-case headers,
// the decoded body, the individual chunks of a chunked body, and whether
// the chunked body was properly terminated.
// abortWhen(bytesSoFar) -> true closes the socket from the client side.
function rawRequest(fake, { method = 'POST', route, body = '', headers = {}, abortWhen, timeoutMs = 5000 }) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(fake.port, '127.0.0.1');
    const parts = [];
    let total = 0;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`raw request to ${route} timed out`)); }, timeoutMs);
    sock.on('connect', () => {
      const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      const head = [`${method} ${route} HTTP/1.1`, `Host: 127.0.0.1:${fake.port}`, 'Connection: close',
        'Content-Type: application/json', `Content-Length: ${b.length}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
      sock.write(Buffer.concat([Buffer.from(head), b]));
    });
    sock.on('data', (d) => {
      parts.push(d);
      total += d.length;
      if (abortWhen && abortWhen(Buffer.concat(parts), total)) sock.destroy();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      try { resolve(parseRaw(Buffer.concat(parts))); } catch (err) { reject(err); }
    });
  });
}

function parseRaw(buf) {
  const end = buf.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no header end in ${JSON.stringify(buf.toString())}`);
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  let rest = buf.subarray(end + 4);
  const out = { status, headers, chunks: [], terminated: false, raw: rest };
  if (headers['transfer-encoding'] === 'chunked') {
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) break;
      const size = parseInt(rest.subarray(0, nl).toString(), 16);
      if (size === 0) { out.terminated = true; break; }
      if (rest.length < nl + 2 + size) {
        out.chunks.push(rest.subarray(nl + 2)); // a chunk cut short
        break;
      }
      out.chunks.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    out.body = Buffer.concat(out.chunks);
  } else {
    out.body = rest;
  }
  out.text = out.body.toString('utf8');
  return out;
}

const sseTexts = (events, pick) => events.filter((e) => e.data !== '[DONE]').map((e) => pick(JSON.parse(e.data))).join('');

// ---------------------------------------------------------------------------
// Routes

test('openai completions: whole reply and SSE stream with [DONE]', opts, async (t) => {
  const fake = await fakeFor(t);
  for (const route of ['/v1/completions', '/beta/completions']) {
    const whole = await post(fake, route, { model: 'gpt-x', prompt: 'a', suffix: 'b' });
    assert.equal(whole.status, 200);
    assert.match(whole.headers.get('content-type'), /application\/json/);
    const j = JSON.parse(whole.text);
    assert.equal(j.object, 'text_completion');
    assert.equal(j.model, 'gpt-x');
    assert.equal(j.choices[0].text, TEXT);
    assert.equal(j.choices[0].finish_reason, 'stop');
    assert.equal(j.usage.completion_tokens, splitText(TEXT).length);
    assert.equal(j.usage.total_tokens, j.usage.prompt_tokens + j.usage.completion_tokens);

    const s = await post(fake, route, { model: 'gpt-x', prompt: 'a', stream: true });
    assert.equal(s.status, 200);
    assert.match(s.headers.get('content-type'), /text\/event-stream/);
    const events = parseSse(s.text);
    assert.equal(events.at(-1).data, '[DONE]');
    assert.equal(sseTexts(events, (d) => d.choices[0].text), TEXT);
    assert.ok(events.length >= 4, 'the text comes in several chunks');
    const finishes = events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0].finish_reason);
    assert.deepEqual(finishes.filter((f) => f !== null), ['stop']);
    assert.equal(finishes.at(-1), 'stop');
  }
});

test('openai streams carry usage only when asked (stream_options.include_usage)', opts, async (t) => {
  const fake = await fakeFor(t);
  const plain = parseSse((await post(fake, '/v1/completions', { model: 'm', prompt: 'abcdefgh', stream: true })).text);
  assert.ok(plain.every((e) => e.data === '[DONE]' || !('usage' in JSON.parse(e.data))));
  const asked = parseSse((await post(fake, '/v1/chat/completions', {
    model: 'm', messages: [{ role: 'user', content: 'abcdefgh' }], stream: true, stream_options: { include_usage: true },
  })).text);
  const u = JSON.parse(asked.at(-2).data);
  assert.deepEqual(u.choices, []);
  assert.deepEqual(u.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
});

test('openai chat: message.content whole, delta.content streamed', opts, async (t) => {
  const fake = await fakeFor(t);
  const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  const j = JSON.parse((await post(fake, '/v1/chat/completions', body)).text);
  assert.equal(j.object, 'chat.completion');
  assert.deepEqual(j.choices[0].message, { role: 'assistant', content: TEXT });
  const events = parseSse((await post(fake, '/v1/chat/completions', { ...body, stream: true })).text);
  assert.equal(events.at(-1).data, '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), TEXT);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('openai models list', opts, async (t) => {
  const fake = await fakeFor(t);
  const r = await get(fake, '/v1/models');
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text).data.map((m) => m.id), ['fake-model']);
  fake.behave('GET /v1/models', { models: ['a', 'b'] });
  assert.deepEqual(JSON.parse((await get(fake, '/v1/models')).text).data.map((m) => m.id), ['a', 'b']);
});

test('mistral fim: chat-shaped choices, usage in the last stream chunk', opts, async (t) => {
  const fake = await fakeFor(t);
  const body = { model: 'codestral-latest', prompt: 'def f(', suffix: ')' };
  const j = JSON.parse((await post(fake, '/v1/fim/completions', body)).text);
  assert.equal(j.choices[0].message.content, TEXT);
  assert.equal(j.choices[0].finish_reason, 'stop');
  const events = parseSse((await post(fake, '/v1/fim/completions', { ...body, stream: true })).text);
  assert.equal(events.at(-1).data, '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), TEXT);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  assert.equal(chunks.at(-1).usage.completion_tokens, 4);
});

test('anthropic messages: the full event sequence and the whole message', opts, async (t) => {
  const fake = await fakeFor(t);
  const body = { model: 'claude-x', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
  const j = JSON.parse((await post(fake, '/v1/messages', body, ANTHROPIC_HEADERS)).text);
  assert.equal(j.type, 'message');
  assert.deepEqual(j.content, [{ type: 'text', text: TEXT }]);
  assert.equal(j.stop_reason, 'end_turn');
  assert.equal(j.usage.output_tokens, 4);

  const events = parseSse((await post(fake, '/v1/messages', { ...body, stream: true }, ANTHROPIC_HEADERS)).text);
  const names = events.map((e) => e.event);
  assert.deepEqual(names, ['message_start', 'content_block_start', 'ping',
    'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_delta',
    'content_block_stop', 'message_delta', 'message_stop']);
  for (const e of events) assert.equal(JSON.parse(e.data).type, e.event);
  const deltas = events.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta);
  assert.ok(deltas.every((d) => d.type === 'text_delta'));
  assert.equal(deltas.map((d) => d.text).join(''), TEXT);
  const md = JSON.parse(events[8].data);
  assert.equal(md.delta.stop_reason, 'end_turn');
  assert.equal(md.usage.output_tokens, 4);
});

test('anthropic refuses what the real API refuses', opts, async (t) => {
  const fake = await fakeFor(t);
  const body = { model: 'c', max_tokens: 8, messages: [] };
  let r = await post(fake, '/v1/messages', body, { 'anthropic-version': '2023-06-01' });
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.text).type, 'error');
  assert.equal(JSON.parse(r.text).error.type, 'authentication_error');
  r = await post(fake, '/v1/messages', body, { 'x-api-key': 'k' });
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /anthropic-version/);
  r = await post(fake, '/v1/messages', { model: 'c', messages: [] }, ANTHROPIC_HEADERS);
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).error.type, 'invalid_request_error');
  assert.match(JSON.parse(r.text).error.message, /max_tokens/);
});

test('ollama generate and chat: NDJSON by default, one object with stream:false', opts, async (t) => {
  const fake = await fakeFor(t);
  const s = await post(fake, '/api/generate', { model: 'qwen', prompt: 'a', suffix: 'b' });
  assert.equal(s.status, 200);
  assert.match(s.headers.get('content-type'), /application\/x-ndjson/);
  const lines = parseNdjson(s.text);
  assert.equal(lines.map((l) => l.response).join(''), TEXT);
  assert.ok(lines.slice(0, -1).every((l) => l.done === false));
  const last = lines.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'stop');
  assert.equal(last.eval_count, 4);
  for (const k of ['prompt_eval_count', 'total_duration', 'eval_duration', 'load_duration']) {
    assert.equal(typeof last[k], 'number', k);
  }
  const whole = JSON.parse((await post(fake, '/api/generate', { model: 'qwen', prompt: 'a', stream: false })).text);
  assert.equal(whole.response, TEXT);
  assert.equal(whole.done, true);

  const chat = parseNdjson((await post(fake, '/api/chat', { model: 'qwen', messages: [{ role: 'user', content: 'x' }] })).text);
  assert.equal(chat.map((l) => l.message.content).join(''), TEXT);
  assert.equal(chat.at(-1).done, true);
  const chatWhole = JSON.parse((await post(fake, '/api/chat', { model: 'qwen', messages: [], stream: false })).text);
  assert.deepEqual(chatWhole.message, { role: 'assistant', content: TEXT });
});

test('ollama tags and unknown models', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('*', { models: ['qwen:latest'], unknownModels: ['nope'] });
  assert.deepEqual(JSON.parse((await get(fake, '/api/tags')).text).models.map((m) => m.name), ['qwen:latest']);
  const r = await post(fake, '/api/generate', { model: 'nope', prompt: 'a' });
  assert.equal(r.status, 404);
  assert.deepEqual(JSON.parse(r.text), { error: "model 'nope' not found" });
  const o = await post(fake, '/v1/completions', { model: 'nope', prompt: 'a' });
  assert.equal(o.status, 404);
  assert.equal(JSON.parse(o.text).error.code, 'model_not_found');
});

test('llama.cpp completion and infill, streamed and not; health while loading', opts, async (t) => {
  const fake = await fakeFor(t);
  for (const route of ['/completion', '/infill']) {
    const j = JSON.parse((await post(fake, route, { prompt: 'a', input_prefix: 'p', input_suffix: 's', n_predict: 8 })).text);
    assert.equal(j.content, TEXT);
    assert.equal(j.stop, true);
    assert.equal(j.stop_type, 'eos');
    assert.equal(j.timings.predicted_n, 4);
    assert.equal(typeof j.tokens_cached, 'number');
    const events = parseSse((await post(fake, route, { prompt: 'a', stream: true })).text);
    const chunks = events.map((e) => JSON.parse(e.data));
    assert.equal(chunks.map((c) => c.content).join(''), TEXT);
    assert.ok(chunks.slice(0, -1).every((c) => c.stop === false));
    assert.equal(chunks.at(-1).stop, true);
    assert.equal(typeof chunks.at(-1).timings.predicted_ms, 'number');
  }
  let h = await get(fake, '/health');
  assert.equal(h.status, 200);
  assert.deepEqual(JSON.parse(h.text), { status: 'ok' });
  fake.once('*', { invalidJson: true });
  h = await get(fake, '/health');
  assert.equal(h.status, 200);
  assert.throws(() => JSON.parse(h.text), 'listings and health can be broken too');
  fake.behave('*', { loading: true });
  h = await get(fake, '/health');
  assert.equal(h.status, 503);
  assert.equal(JSON.parse(h.text).error.code, 503);
  assert.equal((await post(fake, '/completion', { prompt: 'a' })).status, 503);
});

test('unknown routes, wrong methods and bad bodies get JSON errors', opts, async (t) => {
  const fake = await fakeFor(t);
  let r = await get(fake, '/v2/nothing');
  assert.equal(r.status, 404);
  assert.match(JSON.parse(r.text).error.message, /no route for GET \/v2\/nothing/);
  r = await get(fake, '/v1/completions');
  assert.equal(r.status, 404);
  r = await post(fake, '/v1/completions', '{"model": ');
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /not a json object/);
  r = await post(fake, '/v1/chat/completions', { model: 'm', messages: [], stream: 'true' });
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /stream: must be a boolean/);
  r = await post(fake, '/api/generate', { prompt: 'no model' });
  assert.equal(r.status, 400);
  assert.deepEqual(JSON.parse(r.text), { error: 'model is required' });
  assert.equal(fake.requests.length, 5, 'failed requests are recorded too');
});

// ---------------------------------------------------------------------------
// Knobs

test('status, errorBody, retryAfter and headers; default error shape per API', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('*', { status: 429, retryAfter: 7, headers: { 'x-ratelimit-remaining': 0 } });
  let r = await post(fake, '/v1/completions', { model: 'm', prompt: 'a' });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '7');
  assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
  const e = JSON.parse(r.text).error;
  assert.equal(typeof e.message, 'string');
  assert.equal(e.code, 'rate_limit_exceeded');

  fake.once('*', { status: 529 });
  r = await post(fake, '/v1/messages', { model: 'c', max_tokens: 1, messages: [] }, ANTHROPIC_HEADERS);
  assert.equal(r.status, 529);
  assert.deepEqual(Object.keys(JSON.parse(r.text)), ['type', 'error']);
  assert.equal(JSON.parse(r.text).error.type, 'overloaded_error');

  fake.once('*', { status: 500 });
  r = await post(fake, '/api/generate', { model: 'q', prompt: 'a' });
  assert.equal(r.status, 500);
  assert.equal(typeof JSON.parse(r.text).error, 'string');

  fake.once('*', { status: 503, errorBody: 'upstream down' });
  r = await post(fake, '/completion', { prompt: 'a' });
  assert.equal(r.status, 503);
  assert.equal(r.text, 'upstream down');

  fake.once('*', { status: 400, errorBody: { detail: 'x' } });
  r = await post(fake, '/v1/chat/completions', { model: 'm', messages: [] });
  assert.deepEqual(JSON.parse(r.text), { detail: 'x' });

  fake.once('*', { errorBody: { error: 'alone' } });
  r = await post(fake, '/api/generate', { model: 'q', prompt: 'a' });
  assert.equal(r.status, 500);
  assert.deepEqual(JSON.parse(r.text), { error: 'alone' });

  fake.once('*', { status: 200, errorBody: { error: { message: 'a proxy said no' } } });
  r = await post(fake, '/v1/completions', { model: 'm', prompt: 'a', stream: true });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /application\/json/);
  assert.equal(JSON.parse(r.text).error.message, 'a proxy said no');

  r = await post(fake, '/v1/completions', { model: 'm', prompt: 'a' });
  assert.equal(r.status, 200, 'once is spent');
  assert.equal(r.headers.get('retry-after'), null);
});

test('delayMs delays the headers; chunkDelayMs spaces the events', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('*', { delayMs: 300 });
  let t0 = performance.now();
  const res = await fetch(fake.url + '/v1/completions', { method: 'POST', body: JSON.stringify({ model: 'm', prompt: 'a' }) });
  assert.ok(performance.now() - t0 >= 290, 'headers came after the delay');
  await res.text();

  fake.once('*', { chunkDelayMs: 80 });
  t0 = performance.now();
  const s = await fetch(fake.url + '/api/generate', { method: 'POST', body: JSON.stringify({ model: 'q', prompt: 'a' }) });
  const reader = s.body.getReader();
  const arrivals = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    arrivals.push([performance.now() - t0, Buffer.from(value).toString()]);
  }
  // 5 lines, 4 pauses of 80 ms.
  assert.ok(arrivals.at(-1)[0] >= 300, `the stream took ${arrivals.at(-1)[0]} ms`);
  assert.ok(arrivals.length >= 4, `the lines arrived apart: ${arrivals.length} reads`);
});

test('hang never answers; closedEarly and closed see the client abort', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('POST /v1/completions', { hang: true });
  const ac = new AbortController();
  const p = fetch(fake.url + '/v1/completions', { method: 'POST', body: '{"model":"m","prompt":"a"}', signal: ac.signal });
  const [rec] = await fake.waitForRequests(1, 2000);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(rec.status, undefined, 'nothing was sent');
  assert.equal(rec.closedEarly, false);
  assert.equal(fake.openConnections(), 1);
  ac.abort();
  await assert.rejects(p);
  assert.deepEqual(await rec.closed, { early: true });
  assert.equal(rec.closedEarly, true);
  // A normal exchange closes late, not early.
  await post(fake, '/v1/completions', { model: 'm', prompt: 'a' });
  assert.deepEqual(await fake.requests[1].closed, { early: false });
  assert.equal(fake.requests[1].closedEarly, false);
});

test('chunkSize 1 writes every byte as its own chunk (raw socket)', opts, async (t) => {
  const fake = await fakeFor(t, { text: 'héllo wörld' });
  const body = { model: 'm', prompt: 'a', stream: true };
  const normal = await rawRequest(fake, { route: '/v1/completions', body });
  fake.once('*', { chunkSize: 1 });
  const r = await rawRequest(fake, { route: '/v1/completions', body });
  assert.equal(r.status, 200);
  assert.equal(r.terminated, true);
  assert.ok(r.chunks.length > 100);
  assert.ok(r.chunks.every((c) => c.length === 1), 'every chunk is one byte');
  // Multi-byte characters are split across writes, and the ids match.
  assert.equal(r.text.replace(/"created":\d+/g, ''), normal.text.replace(/"created":\d+/g, '').replace(/fake-0/g, 'fake-1'));
  assert.equal(sseTexts(parseSse(r.text), (d) => d.choices[0].text), 'héllo wörld');

  // Not streamed: the body is split too, with a Content-Length.
  fake.once('*', { chunkSize: 7 });
  const w = await rawRequest(fake, { route: '/api/generate', body: { model: 'q', prompt: 'a', stream: false } });
  assert.equal(Number(w.headers['content-length']), w.body.length);
  assert.equal(JSON.parse(w.text).response, 'héllo wörld');
});

test('cutAfterBytes ends the connection after exactly N body bytes', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('*', { cutAfterBytes: 50 });
  const r = await rawRequest(fake, { route: '/v1/completions', body: { model: 'm', prompt: 'a', stream: true } });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 50);
  assert.equal(r.terminated, false, 'no final chunk');
  const rec = fake.requests[0];
  assert.deepEqual(await rec.closed, { early: false });
  assert.equal(rec.cut, true);
  assert.equal(rec.closedEarly, false, 'the fake cut it, not the client');

  fake.once('*', { cutAfterBytes: 10 });
  const w = await rawRequest(fake, { route: '/v1/completions', body: { model: 'm', prompt: 'a' } });
  assert.ok(Number(w.headers['content-length']) > 10);
  assert.equal(w.body.length, 10);
  fake.once('*', { cutAfterBytes: 10 });
  await assert.rejects(post(fake, '/v1/completions', { model: 'm', prompt: 'a' }), 'fetch sees a truncated body');

  fake.once('*', { cutAfterBytes: 0 });
  const z = await rawRequest(fake, { route: '/api/generate', body: { model: 'q', prompt: 'a' } });
  assert.equal(z.status, 200);
  assert.equal(z.body.length, 0);
});

test('invalidJson breaks one stream event, or the whole body', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('*', { invalidJson: true });
  const events = parseSse((await post(fake, '/v1/chat/completions', { model: 'm', messages: [], stream: true })).text);
  const bad = events.filter((e) => { try { JSON.parse(e.data); return false; } catch { return e.data !== '[DONE]'; } });
  assert.equal(bad.length, 1);
  assert.equal(events.at(-1).data, '[DONE]', 'the rest of the stream follows');

  fake.once('*', { invalidJson: 2 });
  const lines = (await post(fake, '/api/generate', { model: 'q', prompt: 'a' })).text.split('\n').filter(Boolean);
  assert.throws(() => JSON.parse(lines[2]));
  assert.equal(lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } }).length, 1);

  fake.once('*', { invalidJson: 99 });
  const past = (await post(fake, '/api/generate', { model: 'q', prompt: 'a' })).text.split('\n').filter(Boolean);
  assert.throws(() => JSON.parse(past[3]), 'past the end: the last text event');
  fake.once('*', { invalidJson: true, text: '' });
  const empty = parseSse((await post(fake, '/v1/completions', { model: 'm', prompt: 'a', stream: true })).text);
  assert.throws(() => JSON.parse(empty[0].data), 'no text: the first event after it');
  assert.equal(empty.at(-1).data, '[DONE]');

  fake.once('*', { invalidJson: true });
  const r = await post(fake, '/v1/messages', { model: 'c', max_tokens: 4, messages: [] }, ANTHROPIC_HEADERS);
  assert.equal(r.status, 200);
  assert.throws(() => JSON.parse(r.text));
});

test('endless streams until the client goes away', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('POST /api/generate', { endless: true });
  const res = await fetch(fake.url + '/api/generate', { method: 'POST', body: '{"model":"q","prompt":"a"}' });
  const reader = res.body.getReader();
  let got = 0;
  while (got < 50000) got += (await reader.read()).value.length;
  await reader.cancel();
  assert.deepEqual(await fake.requests[0].closed, { early: true });

  // Not streamed: one JSON object that never closes. A fresh fake, so that
  // no connection fetch keeps around counts.
  const fake2 = await fakeFor(t);
  fake2.behave('POST /v1/completions', { endless: true, chunkSize: 4096 });
  const r = await rawRequest(fake2, { route: '/v1/completions', body: { model: 'm', prompt: 'a' }, abortWhen: (_, n) => n >= 50000 });
  assert.match(r.text, /^\{"id":"fake-0","object":"text_completion".*"choices":\[\{"text":"(return a \+ b;)+/);
  assert.equal(r.terminated, false);
  assert.deepEqual(await fake2.requests[0].closed, { early: true });
  for (let i = 0; i < 100 && fake2.openConnections() > 0; i++) await new Promise((ok) => setTimeout(ok, 20));
  assert.equal(fake2.openConnections(), 0, 'the aborted socket is gone');
});

test('midStreamError: each API\'s own in-stream error after some text', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('*', { midStreamError: 'boom' });
  let events = parseSse((await post(fake, '/v1/completions', { model: 'm', prompt: 'a', stream: true })).text);
  assert.ok(events.length >= 2);
  assert.ok(JSON.parse(events[0].data).choices[0].text.length > 0, 'text comes first');
  assert.deepEqual(JSON.parse(events.at(-1).data).error.message, 'boom');
  assert.ok(events.every((e) => e.data !== '[DONE]'));

  events = parseSse((await post(fake, '/v1/messages', { model: 'c', max_tokens: 4, messages: [], stream: true }, ANTHROPIC_HEADERS)).text);
  assert.ok(events.some((e) => e.event === 'content_block_delta'));
  assert.equal(events.at(-1).event, 'error');
  assert.deepEqual(JSON.parse(events.at(-1).data), { type: 'error', error: { type: 'overloaded_error', message: 'boom' } });

  const r = await post(fake, '/api/generate', { model: 'q', prompt: 'a' });
  assert.equal(r.status, 200);
  const lines = parseNdjson(r.text);
  assert.equal(lines[0].response, 'return');
  assert.deepEqual(lines.at(-1), { error: 'boom' });

  events = parseSse((await post(fake, '/completion', { prompt: 'a', stream: true })).text);
  assert.equal(JSON.parse(events.at(-1).data).error.message, 'boom');

  for (const route of ['/v1/fim/completions', '/v1/chat/completions']) {
    events = parseSse((await post(fake, route, { model: 'm', prompt: 'a', messages: [], stream: true })).text);
    assert.ok(events.some((e) => JSON.parse(e.data).choices?.[0]?.delta?.content === 'return'), route);
    assert.equal(JSON.parse(events.at(-1).data).error.message, 'boom', route);
    assert.ok(events.every((e) => e.data !== '[DONE]'), route);
  }
});

test('finishReason and usage in each API\'s fields', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('*', { finishReason: 'length', usage: { in: 11, out: 22 } });
  const o = JSON.parse((await post(fake, '/v1/completions', { model: 'm', prompt: 'a' })).text);
  assert.equal(o.choices[0].finish_reason, 'length');
  assert.deepEqual(o.usage, { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33 });
  const os = parseSse((await post(fake, '/v1/completions', { model: 'm', prompt: 'a', stream: true })).text);
  assert.equal(JSON.parse(os.at(-2).data).usage.completion_tokens, 22, 'usage set by the test is streamed');
  const a = parseSse((await post(fake, '/v1/messages', { model: 'c', max_tokens: 4, messages: [], stream: true }, ANTHROPIC_HEADERS)).text);
  assert.equal(JSON.parse(a[0].data).message.usage.input_tokens, 11);
  const md = JSON.parse(a.find((e) => e.event === 'message_delta').data);
  assert.equal(md.delta.stop_reason, 'max_tokens');
  assert.equal(md.usage.output_tokens, 22);
  const l = parseNdjson((await post(fake, '/api/generate', { model: 'q', prompt: 'a' })).text).at(-1);
  assert.equal(l.done_reason, 'length');
  assert.equal(l.prompt_eval_count, 11);
  assert.equal(l.eval_count, 22);
  const c = JSON.parse((await post(fake, '/infill', { input_prefix: 'a' })).text);
  assert.equal(c.stop_type, 'limit');
  assert.equal(c.timings.prompt_n, 11);
  assert.equal(c.timings.predicted_n, 22);
});

test('comments and crlf: keep-alives between events, CRLF line ends', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('*', { comments: true, crlf: true });
  const text = (await post(fake, '/v1/messages', { model: 'c', max_tokens: 4, messages: [], stream: true }, ANTHROPIC_HEADERS)).text;
  assert.equal(text.replace(/\r\n/g, '').includes('\n'), false, 'no bare LF');
  assert.match(text, /^: keep-alive\r\n\r\nevent: message_start\r\n/);
  const events = parseSse(text);
  assert.ok(events.comments >= events.length);
  assert.equal(events.length, 10);
  assert.equal(events.at(-1).event, 'message_stop');
  fake.once('*', { crlf: true });
  const nd = (await post(fake, '/api/chat', { model: 'q', messages: [] })).text;
  assert.ok(nd.endsWith('}\r\n'));
  assert.equal(nd.split('\r\n').filter(Boolean).map((x) => JSON.parse(x)).at(-1).done, true);
});

test('rejectFields answers 400 like vLLM does to a suffix', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('POST /v1/completions', { rejectFields: ['suffix'] });
  const r = await post(fake, '/v1/completions', { model: 'm', prompt: 'a', suffix: 'b' });
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).error.message, 'suffix: this field is not supported');
  assert.equal((await post(fake, '/v1/completions', { model: 'm', prompt: '<fim>a' })).status, 200);
});

test('text may depend on the request', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('*', { text: (req) => `echo:${req.json.prompt}` });
  const j = JSON.parse((await post(fake, '/v1/completions', { model: 'm', prompt: 'xyz' })).text);
  assert.equal(j.choices[0].text, 'echo:xyz');
});

// ---------------------------------------------------------------------------
// Behaviour selection

test('once queues for the next matching request; behave persists until changed', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.behave('POST /v1/completions', { text: 'persist' });
  fake.once('POST /v1/completions', { text: 'first' });
  fake.once('POST /v1/completions', { status: 500 });
  fake.once('POST /api/generate', { text: 'other route' });
  const text = async () => {
    const r = await post(fake, '/v1/completions', { model: 'm', prompt: 'a' });
    return r.status === 200 ? JSON.parse(r.text).choices[0].text : r.status;
  };
  assert.equal(await text(), 'first');
  assert.equal(await text(), 500);
  assert.equal(await text(), 'persist');
  assert.equal(await text(), 'persist');
  assert.equal(JSON.parse((await post(fake, '/api/generate', { model: 'q', prompt: 'a', stream: false })).text).response, 'other route');

  // once overrides only the fields it sets, on top of behave.
  fake.behave('*', { finishReason: 'length' });
  fake.once('*', { text: 'x' });
  const j = JSON.parse((await post(fake, '/v1/completions', { model: 'm', prompt: 'a' })).text);
  assert.equal(j.choices[0].text, 'x');
  assert.equal(j.choices[0].finish_reason, 'length');
  fake.behave('*', null);
  fake.behave('POST /v1/completions', null);
  assert.equal(await text(), TEXT, 'back to the start-up text');

  fake.behave('*', { text: 'star' });
  fake.once('*', { status: 503 });
  fake.reset();
  assert.equal(fake.requests.length, 0);
  assert.equal(await text(), TEXT, 'reset drops behave and once');
  assert.equal(fake.requests.length, 1);
});

test('bad behaviours and routes are refused with a clear error', opts, async (t) => {
  const fake = await fakeFor(t);
  assert.throws(() => fake.behave('POST /v1/complete', {}), /unknown route "POST \/v1\/complete"/);
  assert.throws(() => fake.once('/v1/completions', {}), /unknown route/);
  assert.throws(() => fake.behave('*', { stauts: 500 }), /unknown behaviour field 'stauts'/);
  assert.throws(() => fake.behave('*', { chunkSize: 0 }), /'chunkSize' must be an integer >= 1/);
  assert.throws(() => fake.behave('*', { finishReason: 'eos' }), /'finishReason' must be 'stop' or 'length'/);
  assert.throws(() => fake.once('*', 'hang'), /behaviour must be an object/);
  assert.throws(() => fake.behave('*', { usage: { in: -1 } }), /'usage'/);
  await assert.rejects(startFakeModel({ apiKey: '' }), /apiKey must be a non-empty string/);
  await assert.rejects(startFakeModel({ port: 'x' }), /port must be an integer/);
  await assert.rejects(fake.waitForRequests(-1), /n must be an integer/);
  // Nothing was queued by the refused calls.
  assert.equal((await post(fake, '/v1/completions', { model: 'm', prompt: 'a' })).status, 200);
});

// ---------------------------------------------------------------------------
// Auth

test('apiKey: bearer on OpenAI-style and llama.cpp routes, x-api-key on Anthropic', opts, async (t) => {
  const fake = await fakeFor(t, { text: TEXT, apiKey: 'sekret' });
  const body = { model: 'm', prompt: 'a' };
  let r = await post(fake, '/v1/completions', body);
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.text).error.code, 'invalid_api_key');
  r = await post(fake, '/v1/chat/completions', { model: 'm', messages: [] }, { authorization: 'Bearer wrong' });
  assert.equal(r.status, 401);
  assert.equal((await get(fake, '/v1/models', { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await post(fake, '/v1/fim/completions', body)).status, 401);
  assert.equal((await post(fake, '/completion', body)).status, 401);
  r = await post(fake, '/v1/completions', body, { authorization: 'Bearer sekret' });
  assert.equal(r.status, 200);
  assert.equal((await get(fake, '/health')).status, 200, 'health needs no key');
  assert.equal((await post(fake, '/api/generate', { ...body, stream: false })).status, 200, 'ollama needs no key');

  const msg = { model: 'c', max_tokens: 4, messages: [] };
  r = await post(fake, '/v1/messages', msg, { ...ANTHROPIC_HEADERS, 'x-api-key': 'wrong' });
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.text).error.type, 'authentication_error');
  r = await post(fake, '/v1/messages', msg, { ...ANTHROPIC_HEADERS, 'x-api-key': 'sekret' });
  assert.equal(r.status, 200);
});

// ---------------------------------------------------------------------------
// Recording

test('requests are recorded in order with everything a test needs', opts, async (t) => {
  const fake = await fakeFor(t, { text: TEXT, apiKey: 'sekret' });
  const waiting = fake.waitForRequests(2, 3000);
  await post(fake, '/v1/completions?api-version=2&x=1', { model: 'm', prompt: 'p' }, { Authorization: 'Bearer sekret', 'X-Trace': 'abc' });
  await fetch(fake.url + '/api/generate', { method: 'POST', body: 'not json' });
  const got = await waiting;
  assert.equal(got.length, 2);
  const [a, b] = fake.requests;
  assert.equal(a.method, 'POST');
  assert.equal(a.path, '/v1/completions');
  assert.deepEqual(a.query, { 'api-version': '2', x: '1' });
  assert.equal(a.headers['x-trace'], 'abc');
  assert.equal(a.headers.authorization, 'Bearer sekret');
  assert.equal(a.body, '{"model":"m","prompt":"p"}');
  assert.deepEqual(a.json, { model: 'm', prompt: 'p' });
  assert.equal(b.body, 'not json');
  assert.equal(b.json, undefined);
  assert.equal(b.status, 400);
  assert.ok(typeof a.at === 'number' && a.at >= 0 && b.at >= a.at);
  assert.ok(a.closed instanceof Promise);
  const red = fake.redactedHeaders({ headers: { authorization: 'Bearer sekret', 'x-api-key': 'k', 'api-key': 'z', accept: '*/*' } });
  assert.deepEqual(red, { authorization: '<redacted>', 'x-api-key': '<redacted>', 'api-key': '<redacted>', accept: '*/*' });
  assert.equal(fake.redactedHeaders(a).authorization, '<redacted>');
  assert.equal(a.headers.authorization, 'Bearer sekret', 'the record itself is untouched');
  await assert.rejects(fake.waitForRequests(3, 100), /waited 100 ms for 3 requests, got 2 \(POST \/v1\/completions, POST \/api\/generate\)/);
});

test('records say which connection they came on; maxRequests keeps the newest', opts, async (t) => {
  const fake = await fakeFor(t, { text: TEXT, maxRequests: 2 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const send = () => new Promise((resolve, reject) => {
    const req = http.request(`${fake.url}/v1/completions`, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end('{"model":"m","prompt":"a"}');
  });
  await send();
  await send();
  await send();
  assert.equal(fake.requests.length, 2);
  assert.deepEqual(fake.requests.map((r) => r.index), [1, 2]);
  assert.equal(fake.requests[0].connection, fake.requests[1].connection, 'one kept-alive connection');
  await rawRequest(fake, { route: '/v1/completions', body: { model: 'm', prompt: 'a' } });
  assert.notEqual(fake.requests[1].connection, fake.requests[0].connection);
  await assert.rejects(startFakeModel({ maxRequests: 0 }), /maxRequests must be an integer >= 1/);
});

test('a client that leaves while sending its body is recorded, and not answered', opts, async (t) => {
  const fake = await fakeFor(t);
  const sock = net.connect(fake.port, '127.0.0.1');
  await onceEvent(sock, 'connect');
  sock.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model":');
  await new Promise((r) => setTimeout(r, 50));
  sock.destroy();
  const [rec] = await fake.waitForRequests(1);
  assert.equal(rec.body, '{"model":');
  assert.deepEqual(await rec.closed, { early: true });
  assert.equal(rec.status, undefined);
});

test('a client abort in the middle of a stream is seen live (raw socket)', opts, async (t) => {
  const fake = await fakeFor(t);
  fake.once('*', { chunkDelayMs: 100 });
  const p = rawRequest(fake, {
    route: '/v1/chat/completions', body: { model: 'm', messages: [], stream: true },
    abortWhen: (buf) => buf.includes('"content":"return"'),
  });
  const [rec] = await fake.waitForRequests(1);
  assert.equal(rec.closedEarly, false);
  const r = await p;
  assert.equal(r.status, 200);
  assert.equal(r.terminated, false);
  assert.ok(r.text.includes('"content":"return"') && !r.text.includes('" a"'), 'aborted after the first text');
  assert.deepEqual(await rec.closed, { early: true });
  assert.equal(rec.closedEarly, true);
  assert.equal(rec.cut, false);
});

test('close() ends open connections, even hanging ones', opts, async () => {
  const fake = await startFakeModel();
  fake.behave('*', { hang: true });
  const sock = net.connect(fake.port, '127.0.0.1');
  await onceEvent(sock, 'connect');
  sock.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
  await fake.waitForRequests(1);
  assert.equal(fake.openConnections(), 1);
  const closedSock = onceEvent(sock, 'close');
  await fake.close();
  await closedSock;
  assert.equal(fake.openConnections(), 0);
  await fake.close(); // twice is fine
});

// ---------------------------------------------------------------------------
// Command line

test('command line: listens, serves the given text, refuses bad options', opts, async () => {
  const script = path.join(here, 'lib', 'fake-model.mjs');
  const child = spawn(process.execPath, [script, '--port', '0', '--text', 'cli text', '--chunk-delay-ms', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/^listening on (http:\/\/127\.0\.0\.1:\d+)\n/);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const r = await fetch(`${url}/api/generate`, { method: 'POST', body: '{"model":"q","prompt":"a","stream":false}' });
    assert.equal((await r.json()).response, 'cli text');
  } finally {
    child.kill('SIGTERM');
  }
  const bad = spawn(process.execPath, [script, '--port', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.on('data', (d) => { err += d; });
  const [code] = await onceEvent(bad, 'exit');
  assert.equal(code, 2);
  assert.match(err, /--port needs an integer >= 0/);
  const bad2 = spawn(process.execPath, [script, '--chunk-size', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  err = '';
  bad2.stderr.on('data', (d) => { err += d; });
  assert.equal((await onceEvent(bad2, 'exit'))[0], 2);
  assert.match(err, /^fake model: options: behaviour field 'chunkSize' must be an integer >= 1, got 0\n$/);
});
