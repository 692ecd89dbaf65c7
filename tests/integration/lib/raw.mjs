// A chorus server driven with raw bytes: the test writes exactly what it
// wants on stdin (malformed framing included), and reads stdout through a
// strict Content-Length parser of its own. Used for malformed-input tests.
//
//   const r = startRaw(t, ['--max-message-bytes', '1048576']);
//   await r.initialize();
//   r.write(frame({jsonrpc: '2.0', id: 1, method: 'x'}));
//   const m = await r.response(1);

import {
  spawnChorus, kill, withTimeout, WAIT_MS, sanitizerReport, tail,
} from './common.mjs';
import { initializeParams } from './client.mjs';

// Frames a body (object -> JSON, or string/Buffer as is) with a correct
// Content-Length header; extra headers go before or after it.
export function frame(body, { before = '', after = '' } = {}) {
  const bytes = Buffer.isBuffer(body) ? body
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  return Buffer.concat([
    Buffer.from(`${before}Content-Length: ${bytes.length}\r\n${after}\r\n`, 'latin1'),
    bytes,
  ]);
}

export const request = (id, method, params) =>
  params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
export const notification = (method, params) =>
  params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };

// Incremental parser of the server's output. Anything that is not
// `headers \r\n\r\n body` with a valid Content-Length and a JSON body is
// recorded as a framing error (the test then fails).
class FrameParser {
  constructor(onMessage, onError) {
    this.buf = Buffer.alloc(0);
    this.onMessage = onMessage;
    this.onError = onError;
    this.broken = false;
  }

  push(chunk) {
    if (this.broken) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > 64 * 1024) this.fail(`no header terminator in ${this.buf.length} bytes`);
        return;
      }
      const head = this.buf.subarray(0, end).toString('latin1');
      let length = null;
      for (const line of head.split('\r\n')) {
        const m = /^([^:]+):[ \t]*(.*?)[ \t]*$/.exec(line);
        if (!m) return this.fail(`malformed header line ${JSON.stringify(line)}`);
        if (m[1].toLowerCase() === 'content-length') {
          if (!/^\d{1,18}$/.test(m[2])) return this.fail(`bad Content-Length ${JSON.stringify(m[2])}`);
          length = Number(m[2]);
        }
      }
      if (length === null) return this.fail(`no Content-Length in ${JSON.stringify(head)}`);
      if (this.buf.length < end + 4 + length) return;
      const body = this.buf.subarray(end + 4, end + 4 + length).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + length);
      let msg;
      try {
        msg = JSON.parse(body);
      } catch (e) {
        return this.fail(`body is not JSON: ${JSON.stringify(body.slice(0, 300))}`);
      }
      this.onMessage(msg);
    }
  }

  fail(why) {
    this.broken = true;
    this.onError(why);
  }
}

export class RawServer {
  constructor(args, spawnOptions) {
    this.args = args;
    const { child, exited, stderr } = spawnChorus(args, spawnOptions);
    this.child = child;
    this.exited = exited;
    this.stderr = stderr;
    this.messages = [];       // every message read, in order
    this.framingErrors = [];  // the server's own output was malformed
    this._cursor = 0;         // next message not yet consumed by next()/waitFor()
    this._waiters = [];
    this.parser = new FrameParser(
      (m) => { this.messages.push(m); this._wake(); },
      (why) => { this.framingErrors.push(why); this._wake(); },
    );
    child.stdout.on('data', (d) => this.parser.push(d));
    child.stdout.on('end', () => { this.stdoutEnded = true; this._wake(); });
  }

  describe() {
    return `chorus ${this.args.join(' ')}; exit=${this.child.exitCode} signal=${this.child.signalCode}; `
      + `messages: ${JSON.stringify(this.messages.slice(-10)).slice(0, 3000)}; `
      + `framing errors: ${JSON.stringify(this.framingErrors)}; stderr:\n${tail(this.stderr())}`;
  }

  _wake() {
    for (const w of [...this._waiters]) w();
  }

  // Writes bytes (Buffer or string) in a single write() call; resolves once
  // flushed to the pipe.
  write(data) {
    return new Promise((resolve) => {
      this.child.stdin.write(data, () => resolve());
    });
  }

  // Writes a large buffer in chunks, honouring backpressure.
  async writeChunked(data, chunk = 1 << 20) {
    for (let i = 0; i < data.length; i += chunk) {
      await this.write(data.subarray(i, Math.min(data.length, i + chunk)));
    }
  }

  send(msg) {
    return this.write(frame(msg));
  }

  closeStdin() {
    this.child.stdin.end();
  }

  // Waits for the next message (after the last one consumed) for which
  // pred(msg) is true; the messages skipped on the way are returned too:
  // { msg, skipped }.
  waitFor(pred, what = 'a matching message') {
    const skipped = [];
    const p = new Promise((resolve, reject) => {
      const check = () => {
        if (this.framingErrors.length) {
          this._waiters.splice(this._waiters.indexOf(check), 1);
          reject(new Error(`the server's output is not valid LSP framing: ${this.framingErrors.join('; ')}`));
          return true;
        }
        while (this._cursor < this.messages.length) {
          const m = this.messages[this._cursor++];
          if (pred(m)) {
            this._waiters.splice(this._waiters.indexOf(check), 1);
            resolve({ msg: m, skipped });
            return true;
          }
          skipped.push(m);
        }
        if (this.stdoutEnded) {
          this._waiters.splice(this._waiters.indexOf(check), 1);
          reject(new Error(`stdout closed while waiting for ${what}; ${this.describe()}`));
          return true;
        }
        return false;
      };
      this._waiters.push(check);
      check();
    });
    return withTimeout(p, WAIT_MS, () => `waiting for ${what}; ${this.describe()}`);
  }

  // The next response (a message without "method"), skipping only
  // notifications from the server; fails if another response came first.
  async nextResponse(what = 'a response') {
    const { msg, skipped } = await this.waitFor((m) => !('method' in m), what);
    void skipped; // only notifications can be skipped here, by construction
    return msg;
  }

  // The response with this id; fails if any other response arrives first
  // (the server answers in order, and a stray response is a bug).
  async response(id) {
    const msg = await this.nextResponse(`the response to id ${JSON.stringify(id)}`);
    if (msg.id !== id) {
      throw new Error(`expected the response to id ${JSON.stringify(id)}, got ${JSON.stringify(msg).slice(0, 500)}`);
    }
    return msg;
  }

  async initialize(encodings) {
    await this.send(request('init', 'initialize', initializeParams(encodings)));
    const r = await this.response('init');
    if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r)}`);
    await this.send(notification('initialized', {}));
    return r.result;
  }

  waitExit(ms = WAIT_MS) {
    return withTimeout(this.exited, ms, () => `process did not exit; ${this.describe()}`);
  }

  // Current peak resident set size of the server in KiB (Linux).
  async peakRssKiB() {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
    return m ? Number(m[1]) : null;
  }

  dispose() {
    kill(this.child);
  }
}

export function startRaw(t, args = [], spawnOptions = {}) {
  const r = new RawServer(['lsp', ...args], spawnOptions);
  t.after(() => {
    r.dispose();
    const report = sanitizerReport(r.stderr());
    if (report) throw new Error(`sanitizer/crash report on stderr (${report}):\n${tail(r.stderr(), 6000)}`);
    if (r.framingErrors.length) throw new Error(`the server's output is not valid LSP framing: ${r.framingErrors.join('; ')}`);
  });
  return r;
}
