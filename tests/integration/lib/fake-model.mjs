// A fake model server on loopback for the integration tests and benchmarks.
// It answers the routes of the model APIs chorus talks to (OpenAI, DeepSeek
// FIM, Mistral FIM, Anthropic, Ollama, llama.cpp) in their own shapes,
// streamed or not, records every request it receives, and misbehaves on
// demand: errors, delays, hangs, byte-at-a-time streams, cut connections,
// invalid JSON, endless streams, in-stream errors.
//
//   const fake = await startFakeModel({ text: 'return a + b;' });
//   fake.once('POST /v1/completions', { status: 429, retryAfter: 2 });
//   ... point chorus at fake.url ...
//   await fake.waitForRequests(2, 5000);
//   assert.equal(fake.requests[1].json.model, 'x');
//   await fake.close();
//
// Behaviour of one request: the start-up options, then behave('*'), then
// behave(route), then the first queued once() entry whose route matches,
// each overriding the fields it sets. A route is 'METHOD /path' (the query
// string is not part of it) or '*'.
//
// Also runs on its own for manual use and benchmarks:
//   node tests/integration/lib/fake-model.mjs [--port N] [--text T]
//        [--delay-ms N] [--chunk-delay-ms N] [--chunk-size N] [--api-key K]
//        [--max-requests N]
// prints `listening on http://127.0.0.1:PORT` and serves until killed.

import http from 'node:http';
import { realpathSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const DEFAULT_TEXT = 'fake completion';
export const DEFAULT_MODEL = 'fake-model';

// Every route the fake answers, with the API family that shapes it.
export const ROUTES = Object.freeze({
  'POST /v1/completions': 'openai-completion',
  'POST /beta/completions': 'openai-completion',
  'POST /v1/chat/completions': 'openai-chat',
  'GET /v1/models': 'openai-models',
  'POST /v1/fim/completions': 'mistral-fim',
  'POST /v1/messages': 'anthropic',
  'POST /api/generate': 'ollama-generate',
  'POST /api/chat': 'ollama-chat',
  'GET /api/tags': 'ollama-tags',
  'POST /completion': 'llama-completion',
  'POST /infill': 'llama-completion',
  'GET /health': 'llama-health',
});

// Families that check `Authorization: Bearer <apiKey>` when an apiKey is
// set. llama.cpp's server does the same with --api-key, except on /health.
const BEARER_FAMILIES = new Set([
  'openai-completion', 'openai-chat', 'openai-models', 'mistral-fim', 'llama-completion',
]);

const REDACTED_HEADERS = new Set(['authorization', 'x-api-key', 'api-key']);

// ---------------------------------------------------------------------------
// Behaviour validation: a typo in a test must fail loudly, not silently
// fall back to the default behaviour.

const isInt = (v) => Number.isInteger(v);
const isNonNegNumber = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isStringArray = (v) => Array.isArray(v) && v.every((s) => typeof s === 'string');

function validHeaders(v) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  try {
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string' && typeof x !== 'number') return false;
      http.validateHeaderName(k);
      http.validateHeaderValue(k, String(x));
    }
  } catch {
    return false;
  }
  return true;
}

const BEHAVIOUR_FIELDS = {
  text: [(v) => typeof v === 'string' || typeof v === 'function', 'a string or a function (request) => string'],
  status: [(v) => isInt(v) && v >= 100 && v <= 599, 'an integer HTTP status from 100 to 599'],
  errorBody: [(v) => typeof v === 'string' || (typeof v === 'object' && v !== null), 'an object or a string'],
  headers: [validHeaders, 'an object of valid header names to string or number values'],
  retryAfter: [(v) => isNonNegNumber(v) || typeof v === 'string', 'seconds (a number >= 0) or an HTTP date string'],
  delayMs: [isNonNegNumber, 'a number >= 0'],
  hang: [(v) => typeof v === 'boolean', 'a boolean'],
  chunkDelayMs: [isNonNegNumber, 'a number >= 0'],
  chunkSize: [(v) => isInt(v) && v >= 1, 'an integer >= 1'],
  cutAfterBytes: [(v) => isInt(v) && v >= 0, 'an integer >= 0'],
  invalidJson: [(v) => typeof v === 'boolean' || (isInt(v) && v >= 0), 'a boolean or the index of the text event to break'],
  endless: [(v) => typeof v === 'boolean', 'a boolean'],
  midStreamError: [(v) => typeof v === 'boolean' || typeof v === 'string', 'a boolean or an error message'],
  finishReason: [(v) => v === 'stop' || v === 'length', "'stop' or 'length'"],
  usage: [(v) => typeof v === 'object' && v !== null
    && Object.keys(v).every((k) => (k === 'in' || k === 'out') && isInt(v[k]) && v[k] >= 0), '{in, out} with integers >= 0'],
  comments: [(v) => typeof v === 'boolean', 'a boolean'],
  crlf: [(v) => typeof v === 'boolean', 'a boolean'],
  unknownModels: [isStringArray, 'an array of model names'],
  models: [isStringArray, 'an array of model names'],
  rejectFields: [isStringArray, 'an array of request body field names'],
  loading: [(v) => typeof v === 'boolean', 'a boolean'],
};

function checkBehaviour(b, where) {
  if (b === null || b === undefined) return {};
  if (typeof b !== 'object' || Array.isArray(b)) {
    throw new TypeError(`fake model: ${where}: behaviour must be an object, got ${JSON.stringify(b)}`);
  }
  for (const [k, v] of Object.entries(b)) {
    const rule = BEHAVIOUR_FIELDS[k];
    if (!rule) {
      const extra = where === 'options' ? 'option or ' : '';
      throw new TypeError(`fake model: ${where}: unknown ${extra}behaviour field '${k}' (known: ${where === 'options' ? 'apiKey, port, maxRequests, ' : ''}${Object.keys(BEHAVIOUR_FIELDS).join(', ')})`);
    }
    if (v !== undefined && !rule[0](v)) {
      throw new TypeError(`fake model: ${where}: behaviour field '${k}' must be ${rule[1]}, got ${JSON.stringify(v)}`);
    }
  }
  return { ...b };
}

function checkRoute(route) {
  if (route === '*') return route;
  if (typeof route !== 'string' || !Object.hasOwn(ROUTES, route)) {
    throw new TypeError(`fake model: unknown route ${JSON.stringify(route)}: use '*' or one of ${Object.keys(ROUTES).map((r) => `'${r}'`).join(', ')}`);
  }
  return route;
}

// ---------------------------------------------------------------------------
// Small helpers.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

// Splits text into word-sized pieces that keep their leading whitespace,
// like tokens: 'return a + b;' -> ['return', ' a', ' +', ' b;'].
export function splitText(text) {
  return text.match(/\s*\S+|\s+/g) || [];
}

// A rough prompt size in tokens (4 bytes each), enough for usage fields.
function promptTokens(json) {
  if (!json || typeof json !== 'object') return 0;
  let s = '';
  for (const k of ['prompt', 'suffix', 'input_prefix', 'input_suffix', 'system']) {
    if (typeof json[k] === 'string') s += json[k];
  }
  if (Array.isArray(json.messages)) {
    for (const m of json.messages) {
      if (typeof m?.content === 'string') s += m.content;
      else if (Array.isArray(m?.content)) for (const p of m.content) if (typeof p?.text === 'string') s += p.text;
    }
  }
  return Math.ceil(Buffer.byteLength(s) / 4);
}

function statusText(status) {
  return http.STATUS_CODES[status] ? http.STATUS_CODES[status].toLowerCase() : `status ${status}`;
}

function openaiErrorType(status) {
  if (status === 401) return ['invalid_request_error', 'invalid_api_key'];
  if (status === 429) return ['requests', 'rate_limit_exceeded'];
  if (status === 404) return ['invalid_request_error', 'model_not_found'];
  if (status >= 500) return ['server_error', null];
  return ['invalid_request_error', null];
}

const ANTHROPIC_TYPES = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error',
  404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error',
  500: 'api_error', 529: 'overloaded_error',
};

// The error body each family sends for a failed request.
function errorBodyFor(family, status, message) {
  message = message || statusText(status);
  if (family.startsWith('openai')) {
    const [type, code] = openaiErrorType(status);
    return { error: { message, type, param: null, code } };
  }
  if (family === 'mistral-fim') {
    return { object: 'error', message, type: status >= 500 ? 'internal_server_error' : 'invalid_request_error', param: null, code: String(status) };
  }
  if (family === 'anthropic') {
    const type = ANTHROPIC_TYPES[status] || (status >= 500 ? 'api_error' : 'invalid_request_error');
    return { type: 'error', error: { type, message } };
  }
  if (family.startsWith('ollama')) return { error: message };
  if (family.startsWith('llama')) {
    const type = status === 503 ? 'unavailable_error' : status >= 500 ? 'server_error'
      : status === 401 ? 'authentication_error' : status === 404 ? 'not_found_error' : 'invalid_request_error';
    return { error: { code: status, message, type } };
  }
  // Unknown routes: the OpenAI shape, which most clients understand.
  return { error: { message, type: 'invalid_request_error', param: null, code: null } };
}

// ---------------------------------------------------------------------------
// The API families: what a whole (non-stream) reply looks like, and the
// events of a stream. A stream is { format: 'sse'|'ndjson', head: [events],
// delta(text) -> event, tail: [events], error(message) -> event }, where an
// event is { event?: name, data: string }.

const sse = (data, event) => ({ event, data: JSON.stringify(data) });

function openaiFinish(ctx) { return ctx.finish === 'length' ? 'length' : 'stop'; }
function openaiUsage(ctx) {
  return { prompt_tokens: ctx.usage.in, completion_tokens: ctx.usage.out, total_tokens: ctx.usage.in + ctx.usage.out };
}

const FAMILIES = {
  'openai-completion': {
    whole(ctx) {
      return {
        id: ctx.id, object: 'text_completion', created: ctx.created, model: ctx.model,
        choices: [{ text: ctx.text, index: 0, logprobs: null, finish_reason: openaiFinish(ctx) }],
        usage: openaiUsage(ctx),
      };
    },
    stream(ctx) {
      const chunk = (text, finish) => sse({
        id: ctx.id, object: 'text_completion', created: ctx.created, model: ctx.model,
        choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      });
      const tail = [chunk('', openaiFinish(ctx))];
      if (ctx.streamUsage) {
        tail.push(sse({ id: ctx.id, object: 'text_completion', created: ctx.created, model: ctx.model, choices: [], usage: openaiUsage(ctx) }));
      }
      tail.push({ data: '[DONE]' });
      return { format: 'sse', head: [], delta: (t) => chunk(t, null), tail, error: (m) => sse({ error: { message: m, type: 'server_error', param: null, code: null } }) };
    },
  },
  'openai-chat': {
    whole(ctx) {
      return {
        id: ctx.id, object: 'chat.completion', created: ctx.created, model: ctx.model,
        choices: [{ index: 0, message: { role: 'assistant', content: ctx.text }, logprobs: null, finish_reason: openaiFinish(ctx) }],
        usage: openaiUsage(ctx),
      };
    },
    stream(ctx) {
      const chunk = (delta, finish) => sse({
        id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      const tail = [chunk({}, openaiFinish(ctx))];
      if (ctx.streamUsage) {
        tail.push(sse({ id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage: openaiUsage(ctx) }));
      }
      tail.push({ data: '[DONE]' });
      return {
        format: 'sse', head: [chunk({ role: 'assistant', content: '' }, null)],
        delta: (t) => chunk({ content: t }, null), tail,
        error: (m) => sse({ error: { message: m, type: 'server_error', param: null, code: null } }),
      };
    },
  },
  'mistral-fim': {
    whole(ctx) {
      return {
        id: ctx.id, object: 'chat.completion', model: ctx.model, created: ctx.created,
        usage: openaiUsage(ctx),
        choices: [{ index: 0, message: { role: 'assistant', content: ctx.text, tool_calls: null }, finish_reason: openaiFinish(ctx) }],
      };
    },
    stream(ctx) {
      const chunk = (delta, finish, usage) => sse({
        id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model,
        choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}),
      });
      // Mistral reports usage in the last chunk without being asked.
      return {
        format: 'sse', head: [chunk({ role: 'assistant', content: '' }, null)],
        delta: (t) => chunk({ content: t }, null),
        tail: [chunk({ content: '' }, openaiFinish(ctx), openaiUsage(ctx)), { data: '[DONE]' }],
        error: (m) => sse({ error: { message: m, type: 'internal_server_error', param: null, code: null } }),
      };
    },
  },
  anthropic: {
    whole(ctx) {
      return {
        id: ctx.id, type: 'message', role: 'assistant', model: ctx.model,
        content: [{ type: 'text', text: ctx.text }],
        stop_reason: ctx.finish === 'length' ? 'max_tokens' : 'end_turn', stop_sequence: null,
        usage: { input_tokens: ctx.usage.in, output_tokens: ctx.usage.out },
      };
    },
    stream(ctx) {
      return {
        format: 'sse',
        head: [
          sse({ type: 'message_start', message: { id: ctx.id, type: 'message', role: 'assistant', content: [], model: ctx.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: ctx.usage.in, output_tokens: 1 } } }, 'message_start'),
          sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'),
          sse({ type: 'ping' }, 'ping'),
        ],
        delta: (t) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }, 'content_block_delta'),
        tail: [
          sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
          sse({ type: 'message_delta', delta: { stop_reason: ctx.finish === 'length' ? 'max_tokens' : 'end_turn', stop_sequence: null }, usage: { output_tokens: ctx.usage.out } }, 'message_delta'),
          sse({ type: 'message_stop' }, 'message_stop'),
        ],
        error: (m) => sse({ type: 'error', error: { type: 'overloaded_error', message: m } }, 'error'),
      };
    },
  },
  'ollama-generate': ollamaFamily((ctx, text) => ({ response: text })),
  'ollama-chat': ollamaFamily((ctx, text) => ({ message: { role: 'assistant', content: text } })),
  'llama-completion': {
    whole(ctx) { return llamaFinal(ctx, ctx.text); },
    stream(ctx) {
      return {
        format: 'sse', head: [],
        delta: (t) => sse({ content: t, stop: false, id_slot: 0, multimodal: false, index: 0 }),
        tail: [sse(llamaFinal(ctx, ''))],
        error: (m) => sse({ error: { code: 500, message: m, type: 'server_error' } }),
      };
    },
  },
};

function ollamaFamily(piece) {
  const stats = (ctx) => ({
    done_reason: ctx.finish === 'length' ? 'length' : 'stop',
    total_duration: 5000000 + ctx.usage.out * 1000000, load_duration: 1000000,
    prompt_eval_count: ctx.usage.in, prompt_eval_duration: 2000000,
    eval_count: ctx.usage.out, eval_duration: ctx.usage.out * 1000000,
  });
  const line = (ctx, text, done) => ({ model: ctx.model, created_at: ctx.createdAt, ...piece(ctx, text), done });
  return {
    whole(ctx) { return { ...line(ctx, ctx.text, true), ...stats(ctx) }; },
    stream(ctx) {
      return {
        format: 'ndjson', head: [],
        delta: (t) => ({ data: JSON.stringify(line(ctx, t, false)) }),
        tail: [{ data: JSON.stringify({ ...line(ctx, '', true), ...stats(ctx) }) }],
        error: (m) => ({ data: JSON.stringify({ error: m }) }),
      };
    },
  };
}

function llamaFinal(ctx, content) {
  const n = ctx.usage.out;
  const p = ctx.usage.in;
  return {
    content, id_slot: 0, stop: true, model: ctx.model,
    tokens_predicted: n, tokens_evaluated: p,
    has_new_line: ctx.text.includes('\n'), truncated: false,
    stop_type: ctx.finish === 'length' ? 'limit' : 'eos', stopping_word: '',
    tokens_cached: p + n,
    timings: {
      prompt_n: p, prompt_ms: p * 0.5, prompt_per_token_ms: 0.5, prompt_per_second: 2000,
      predicted_n: n, predicted_ms: n * 10, predicted_per_token_ms: 10, predicted_per_second: 100,
    },
  };
}

// ---------------------------------------------------------------------------
// Writing a reply: every byte of a body goes through one Writer, which
// applies chunkSize, cutAfterBytes and backpressure, and stops as soon as
// the client is gone.

class Writer {
  constructor(res, b, rec) {
    this.res = res;
    this.b = b;
    this.rec = rec;
    this.sent = 0;
    this.stopped = false;
  }

  get gone() { return this.stopped || this.res.destroyed || this.res.socket === null || this.rec.closedEarly; }

  // Sends the status line and headers now, so a client sees them before
  // the first (maybe delayed) byte of the body.
  head(status, headers) {
    this.res.writeHead(status, headers);
    this.res.flushHeaders();
    this.rec.status = status;
  }

  // Ends the connection after what was written so far reached the socket.
  // Not a client abort: closedEarly stays false, `cut` becomes true.
  cut() {
    this.stopped = true;
    this.rec.cut = true;
    const sock = this.res.socket;
    if (!sock) return;
    sock.end();
    sock.once('finish', () => sock.destroy());
    setTimeout(() => sock.destroy(), 1000).unref();
  }

  // Writes str (or a Buffer); false once the body may not continue.
  async write(str) {
    if (this.gone) return false;
    if (this.b.cutAfterBytes === 0 && this.sent === 0) { this.cut(); return false; }
    const buf = Buffer.isBuffer(str) ? str : Buffer.from(str, 'utf8');
    const size = this.b.chunkSize || buf.length || 1;
    for (let off = 0; off < buf.length; off += size) {
      if (this.gone) return false;
      let piece = buf.subarray(off, off + size);
      const cutAt = this.b.cutAfterBytes;
      const last = cutAt !== undefined && this.sent + piece.length >= cutAt;
      if (last) piece = piece.subarray(0, cutAt - this.sent);
      if (piece.length > 0) {
        const ok = await writeOut(this.res, piece);
        this.sent += piece.length;
        if (!ok) return false;
      }
      if (last) { this.cut(); return false; }
      // Separate pieces go out in separate writes.
      if (this.b.chunkSize) await tick();
    }
    return !this.gone;
  }

  end() {
    if (!this.gone) this.res.end();
  }
}

function writeOut(res, chunk) {
  return new Promise((resolve) => {
    if (res.destroyed) { resolve(false); return; }
    if (res.write(chunk)) { resolve(true); return; }
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve(!res.destroyed);
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

function frameEvent(ev, format, crlf) {
  let s;
  if (format === 'ndjson') s = `${ev.data}\n`;
  else s = `${ev.event ? `event: ${ev.event}\n` : ''}data: ${ev.data}\n\n`;
  return crlf ? s.replace(/\n/g, '\r\n') : s;
}

// Cuts an event's JSON in half so that no parser accepts it.
function breakJson(ev) {
  const half = Math.max(1, Math.floor(ev.data.length / 2));
  return { ...ev, data: ev.data.slice(0, half) };
}

// ---------------------------------------------------------------------------
// The server.

/**
 * Starts a fake model server on 127.0.0.1 (an ephemeral port unless
 * options.port is given). options: { apiKey, port, maxRequests (records
 * kept, the newest; default all), ...behaviour }: behaviour fields given
 * here (text, chunkDelayMs...) are the defaults that reset() returns to.
 */
export async function startFakeModel(options = {}) {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('fake model: options must be an object');
  }
  const { apiKey, port = 0, maxRequests = Infinity, ...defaultsIn } = options;
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '')) {
    throw new TypeError('fake model: apiKey must be a non-empty string');
  }
  if (maxRequests !== Infinity && (!isInt(maxRequests) || maxRequests < 1)) {
    throw new TypeError(`fake model: maxRequests must be an integer >= 1, got ${JSON.stringify(maxRequests)}`);
  }
  if (!isInt(port) || port < 0 || port > 65535) {
    throw new TypeError(`fake model: port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  const defaults = checkBehaviour(defaultsIn, 'options');

  const t0 = performance.now();
  const requests = [];
  const sockets = new Set();
  let routeBehaviour = new Map();
  let onceQueue = [];
  let waiters = [];
  let counter = 0;
  let closed = false;

  function effectiveBehaviour(route) {
    const b = { ...defaults, ...routeBehaviour.get('*'), ...routeBehaviour.get(route) };
    const i = onceQueue.findIndex((e) => e.route === '*' || e.route === route);
    if (i >= 0) Object.assign(b, onceQueue.splice(i, 1)[0].behaviour);
    return b;
  }

  function notifyWaiters() {
    waiters = waiters.filter((w) => {
      if (requests.length < w.n) return true;
      w.resolve(requests.slice());
      return false;
    });
  }

  const server = http.createServer({ noDelay: true }, (req, res) => {
    handle(req, res).catch((err) => {
      // A bug in the fake must be visible, not a silent hang.
      process.stderr.write(`fake model: internal error: ${err && err.stack}\n`);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `fake model internal error: ${err && err.message}` } }));
      } else {
        res.destroy();
      }
    });
  });
  // Hanging replies and slow streams are the point; no server timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.timeout = 0;
  server.keepAliveTimeout = 5000;

  let connectionCounter = 0;
  server.on('connection', (sock) => {
    sock.setNoDelay(true);
    sock.fakeConnection = connectionCounter++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });

  async function handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    const rec = {
      index: counter++,
      connection: req.socket.fakeConnection,
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      body: '',
      json: undefined,
      at: 0,
      closedEarly: false,
      cut: false,
      status: undefined,
      closed: null,
    };
    let resolveClosed;
    rec.closed = new Promise((r) => { resolveClosed = r; });
    res.on('close', () => {
      rec.closedEarly = !res.writableFinished && !rec.cut;
      resolveClosed({ early: rec.closedEarly });
    });

    // The body, whole (or what arrived before the client went away).
    const parts = [];
    const complete = await new Promise((resolve) => {
      req.on('data', (d) => parts.push(d));
      req.on('end', () => resolve(true));
      req.on('error', () => resolve(false));
      req.on('close', () => resolve(req.complete));
    });
    rec.body = Buffer.concat(parts).toString('utf8');
    rec.at = performance.now() - t0;
    if (rec.body.length > 0) {
      try { rec.json = JSON.parse(rec.body); } catch { rec.json = undefined; }
    }
    const route = `${req.method} ${url.pathname}`;
    const family = ROUTES[route];
    const b = effectiveBehaviour(route);
    requests.push(rec);
    // Long benchmark runs keep only the newest records.
    if (requests.length > maxRequests) requests.splice(0, requests.length - maxRequests);
    notifyWaiters();
    if (!complete || closed) return;

    await respond(res, rec, route, family, b);
  }

  async function respond(res, rec, route, family, b) {
    if (b.hang) return; // the socket stays open until the client or close() ends it
    if (b.delayMs) {
      await sleep(b.delayMs);
      if (res.destroyed || rec.closedEarly) return;
    }
    const w = new Writer(res, b, rec);
    const extra = { ...(b.headers || {}) };
    if (b.retryAfter !== undefined) extra['retry-after'] = String(b.retryAfter);

    const sendJson = async (status, body, breakable = false) => {
      let text = typeof body === 'string' ? body : JSON.stringify(body);
      if (breakable && b.invalidJson !== undefined && b.invalidJson !== false) text = breakJson({ data: text }).data;
      const bytes = Buffer.from(text, 'utf8');
      w.head(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...extra });
      if (await w.write(bytes)) w.end();
    };
    const fail = (status, message) => sendJson(status, errorBodyFor(family || 'unknown', status, message));

    if (!family) return fail(404, `no route for ${route}`);

    // Checks a real server makes before it looks at the behaviour.
    const h = rec.headers;
    if (family === 'anthropic') {
      if (!h['x-api-key']) return fail(401, 'x-api-key header is required');
      if (apiKey !== undefined && h['x-api-key'] !== apiKey) return fail(401, 'invalid x-api-key');
    } else if (apiKey !== undefined && BEARER_FAMILIES.has(family)) {
      const auth = h.authorization;
      if (!auth) return fail(401, "you didn't provide an api key: use an authorization header with bearer auth");
      if (auth !== `Bearer ${apiKey}`) return fail(401, 'incorrect api key provided');
    }
    if (family.startsWith('llama') && b.loading) return fail(503, 'Loading model');

    const isPost = rec.method === 'POST';
    const json = rec.json;
    if (isPost && (json === null || typeof json !== 'object' || Array.isArray(json))) {
      return fail(400, rec.body === '' ? 'request body is empty' : 'request body is not a json object');
    }
    if (family === 'anthropic') {
      if (!h['anthropic-version']) return fail(400, 'anthropic-version: header is required');
      if (json.max_tokens === undefined) return fail(400, 'max_tokens: Field required');
      if (!Array.isArray(json.messages)) return fail(400, 'messages: Field required');
    }
    if (isPost && json.stream !== undefined && typeof json.stream !== 'boolean') {
      return fail(400, `stream: must be a boolean, got ${JSON.stringify(json.stream)}`);
    }
    // vLLM, for one, answers 400 to a `suffix` on /v1/completions.
    const rejected = (b.rejectFields || []).find((f) => isPost && Object.hasOwn(json, f));
    if (rejected) return fail(400, `${rejected}: this field is not supported`);
    if (isPost && family !== 'llama-completion' && typeof json.model !== 'string') {
      return fail(400, family.startsWith('ollama') ? 'model is required' : 'model: field required');
    }
    if (isPost && b.unknownModels && b.unknownModels.includes(json.model)) {
      const m = json.model;
      const msg = family.startsWith('ollama') ? `model '${m}' not found`
        : family === 'anthropic' ? `model: ${m}`
          : `the model '${m}' does not exist or you do not have access to it`;
      return fail(404, msg);
    }

    // Behaviour-chosen errors.
    if (b.errorBody !== undefined || (b.status !== undefined && b.status >= 400)) {
      const status = b.status !== undefined ? b.status : 500;
      return sendJson(status, b.errorBody !== undefined ? b.errorBody : errorBodyFor(family, status));
    }
    const status = b.status || 200;

    // Listings.
    const models = b.models || [DEFAULT_MODEL];
    if (family === 'openai-models') {
      return sendJson(status, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' })) }, true);
    }
    if (family === 'ollama-tags') {
      return sendJson(status, {
        models: models.map((name) => ({
          name, model: name, modified_at: '2024-01-01T00:00:00Z', size: 1000000, digest: 'f'.repeat(64),
          details: { format: 'gguf', family: 'fake', parameter_size: '1B', quantization_level: 'Q4_0' },
        })),
      }, true);
    }
    if (family === 'llama-health') return sendJson(status, { status: 'ok' }, true);

    // Completions.
    let text = b.text !== undefined ? b.text : DEFAULT_TEXT;
    if (typeof text === 'function') text = String(await text(rec));
    const pieces = splitText(text);
    const ctx = {
      id: `fake-${rec.index}`,
      created: Math.floor(Date.now() / 1000),
      createdAt: new Date().toISOString(),
      model: typeof json.model === 'string' ? json.model : DEFAULT_MODEL,
      text,
      finish: b.finishReason || 'stop',
      usage: { in: b.usage?.in ?? promptTokens(json), out: b.usage?.out ?? pieces.length },
      streamUsage: b.usage !== undefined || json.stream_options?.include_usage === true,
    };
    const fam = FAMILIES[family];
    const streaming = family.startsWith('ollama') ? json.stream !== false : json.stream === true;

    if (!streaming) {
      if (b.endless) return endlessWhole(w, fam, ctx, status, extra);
      return sendJson(status, fam.whole(ctx), true);
    }
    return stream(w, fam.stream(ctx), pieces, b, status, extra);
  }

  // A non-stream reply that never ends: the JSON opens, then the text field
  // grows until the client gives up (or hits its size limit).
  async function endlessWhole(w, fam, ctx, status, extra) {
    const MARK = '\u0001endless\u0001';
    const full = JSON.stringify(fam.whole({ ...ctx, text: MARK }));
    const prefix = full.slice(0, full.indexOf(JSON.stringify(MARK).slice(1, -1)));
    const filler = JSON.stringify(ctx.text || 'x').slice(1, -1);
    w.head(status, { 'content-type': 'application/json', ...extra });
    if (!(await w.write(prefix))) return;
    for (;;) {
      if (!(await w.write(filler))) return;
      if (w.b.chunkDelayMs) await sleep(w.b.chunkDelayMs);
      else await tick();
    }
  }

  async function stream(w, s, pieces, b, status, extra) {
    const ctype = s.format === 'ndjson' ? 'application/x-ndjson' : 'text/event-stream';
    w.head(status, { 'content-type': ctype, 'cache-control': 'no-cache', ...extra });
    let first = true;
    const send = async (ev) => {
      if (!first && b.chunkDelayMs) await sleep(b.chunkDelayMs);
      first = false;
      let out = frameEvent(ev, s.format, b.crlf);
      if (b.comments && s.format === 'sse') out = (b.crlf ? ': keep-alive\r\n\r\n' : ': keep-alive\n\n') + out;
      return w.write(out);
    };
    // invalidJson: true breaks the first text event, N the Nth (counted
    // from 0; past the end, the last one; no text at all: the first event
    // after the text).
    let breakAt = b.invalidJson === true ? 0 : (isInt(b.invalidJson) ? b.invalidJson : -1);
    if (!b.endless && breakAt >= pieces.length) breakAt = pieces.length - 1;
    const breakTail = breakAt === -1 && b.invalidJson !== undefined && b.invalidJson !== false;

    for (const ev of s.head) if (!(await send(ev))) return;
    if (b.endless) {
      const cycle = pieces.length ? pieces : ['x'];
      for (let i = 0; ; i++) {
        const ev = s.delta(cycle[i % cycle.length]);
        if (!(await send(i === breakAt ? breakJson(ev) : ev))) return;
        if (!b.chunkDelayMs) await tick();
      }
    }
    const errorAfter = b.midStreamError ? Math.max(1, Math.ceil(pieces.length / 2)) : -1;
    for (let i = 0; i < pieces.length; i++) {
      let ev = s.delta(pieces[i]);
      if (i === breakAt) ev = breakJson(ev);
      if (!(await send(ev))) return;
      if (i + 1 === errorAfter) break;
    }
    if (b.midStreamError) {
      const msg = typeof b.midStreamError === 'string' ? b.midStreamError : 'fake model: error in the middle of the stream';
      if (await send(s.error(msg))) w.end();
      return;
    }
    for (let i = 0; i < s.tail.length; i++) {
      if (!(await send(i === 0 && breakTail ? breakJson(s.tail[i]) : s.tail[i]))) return;
    }
    if (b.comments && s.format === 'sse' && !(await w.write(b.crlf ? ': done\r\n\r\n' : ': done\n\n'))) return;
    w.end();
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const actualPort = server.address().port;

  const fake = {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    requests,

    redactedHeaders(req) {
      const out = {};
      for (const [k, v] of Object.entries(req?.headers || {})) {
        out[k] = REDACTED_HEADERS.has(k.toLowerCase()) ? '<redacted>' : v;
      }
      return out;
    },

    behave(route, behaviour) {
      checkRoute(route);
      const b = checkBehaviour(behaviour, `behave('${route}')`);
      if (behaviour === null || behaviour === undefined) routeBehaviour.delete(route);
      else routeBehaviour.set(route, b);
      return fake;
    },

    once(route, behaviour) {
      checkRoute(route);
      onceQueue.push({ route, behaviour: checkBehaviour(behaviour, `once('${route}')`) });
      return fake;
    },

    reset() {
      routeBehaviour = new Map();
      onceQueue = [];
      requests.length = 0;
      return fake;
    },

    waitForRequests(n, timeoutMs = 5000) {
      if (!isInt(n) || n < 0) return Promise.reject(new TypeError(`fake model: waitForRequests: n must be an integer >= 0, got ${JSON.stringify(n)}`));
      if (requests.length >= n) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const w = { n, resolve: (v) => { clearTimeout(timer); resolve(v); } };
        const timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          const seen = requests.map((r) => `${r.method} ${r.path}`).join(', ') || 'none';
          reject(new Error(`fake model: waited ${timeoutMs} ms for ${n} requests, got ${requests.length} (${seen})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },

    openConnections() { return sockets.size; },

    async close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

// ---------------------------------------------------------------------------
// Command line.

const USAGE = 'usage: node fake-model.mjs [--port N] [--text T] [--delay-ms N] [--chunk-delay-ms N]'
  + ' [--chunk-size N] [--api-key K] [--max-requests N (default 1000)]';

function parseArgs(argv) {
  const opts = { maxRequests: 1000 };
  const num = (name, v) => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isInteger(n) || n < 0) throw new Error(`${name} needs an integer >= 0, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--port': opts.port = num(a, v); i++; break;
      case '--text': if (v === undefined) throw new Error('--text needs a value'); opts.text = v; i++; break;
      case '--chunk-delay-ms': opts.chunkDelayMs = num(a, v); i++; break;
      case '--delay-ms': opts.delayMs = num(a, v); i++; break;
      case '--max-requests': opts.maxRequests = num(a, v); i++; break;
      case '--chunk-size': opts.chunkSize = num(a, v); i++; break;
      case '--api-key': if (!v) throw new Error('--api-key needs a value'); opts.apiKey = v; i++; break;
      case '-h': case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${JSON.stringify(a)}\n${USAGE}`);
    }
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fake model: ${err.message}\n`);
    process.exit(2);
  }
  let fake;
  try {
    fake = await startFakeModel(opts);
  } catch (err) {
    // Bad values (--chunk-size 0) and listen errors (port in use).
    process.stderr.write(`${err.message.startsWith('fake model:') ? '' : 'fake model: '}${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(`listening on ${fake.url}\n`);
  const stop = () => { fake.close().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const isMain = (() => {
  try { return realpathSync(process.argv[1] || '') === realpathSync(fileURLToPath(import.meta.url)); } catch { return false; }
})();
if (isMain) {
  main().catch((err) => {
    process.stderr.write(`fake model: ${err.message}\n`);
    process.exit(1);
  });
}
