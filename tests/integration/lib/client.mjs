// A chorus server driven through vscode-jsonrpc, the JSON-RPC library of
// VS Code's language client. Collects window/logMessage notifications and
// stderr; kills the process when the test ends.
//
//   const s = await startServer(t, { args: ['--log-level', 'debug'] });
//   await s.initialize(['utf-8']);
//   await s.request('chorus/documentText', {...});

import rpc from 'vscode-jsonrpc/node.js';
import {
  spawnChorus, kill, withTimeout, WAIT_MS, sanitizerReport, tail,
} from './common.mjs';

const { StreamMessageReader, StreamMessageWriter, createMessageConnection, ResponseError } = rpc;
export { ResponseError };

// InitializeParams offering the given position encodings; undefined offers
// nothing at all (no `general` capability).
export function initializeParams(encodings) {
  const capabilities = encodings === undefined ? {} : { general: { positionEncodings: encodings } };
  return {
    processId: process.pid,
    clientInfo: { name: 'chorus-integration-tests', version: '1' },
    rootUri: null,
    capabilities,
  };
}

export class Server {
  constructor(args) {
    this.args = args;
    const { child, exited, stderr } = spawnChorus(args);
    this.child = child;
    this.exited = exited;
    this.stderr = stderr;
    this.logs = [];            // window/logMessage params, in order
    this.notifications = [];   // every notification: {method, params}
    this.protocolErrors = [];  // the server wrote something the client could not read
    this._logWaiters = [];

    // Rejects (after a grace period for messages still in flight) once the
    // process and its pipes are closed, so that a crash fails the waiting
    // request at once instead of at its timeout.
    this.gone = new Promise((_, reject) => {
      child.on('close', (code, signal) => setTimeout(() => reject(new Error(
        `the server exited (code ${code}, signal ${signal}) before answering; stderr:\n${tail(stderr())}`)), 200));
    });
    this.gone.catch(() => {});

    this.reader = new StreamMessageReader(child.stdout);
    this.writer = new StreamMessageWriter(child.stdin);
    this.reader.onError((e) => this.protocolErrors.push(String(e && e.message || e)));
    this.connection = createMessageConnection(this.reader, this.writer, {
      error: (m) => this.protocolErrors.push(String(m)),
      warn: () => {}, info: () => {}, log: () => {},
    });
    this.connection.onNotification((method, params) => {
      this.notifications.push({ method, params });
      if (method === 'window/logMessage') {
        this.logs.push(params);
        for (const w of [...this._logWaiters]) {
          if (w.pred(params)) {
            this._logWaiters.splice(this._logWaiters.indexOf(w), 1);
            w.resolve(params);
          }
        }
      }
    });
    // Server-to-client requests are not expected; answer them anyway.
    this.connection.onRequest(() => null);
    this.connection.listen();
  }

  describe() {
    return `chorus ${this.args.join(' ')}; exit=${this.child.exitCode} signal=${this.child.signalCode}; stderr:\n${tail(this.stderr())}`;
  }

  // Sends a request; resolves with the result, rejects with ResponseError.
  request(method, params) {
    const p = params === undefined
      ? this.connection.sendRequest(method)
      : this.connection.sendRequest(method, params);
    return withTimeout(Promise.race([p, this.gone]), WAIT_MS, () => `no response to ${method}; ${this.describe()}`);
  }

  // Sends a request that must fail; resolves with the ResponseError.
  async requestError(method, params) {
    let result;
    try {
      result = await this.request(method, params);
    } catch (e) {
      if (e instanceof ResponseError) return e;
      throw e;
    }
    throw new Error(`${method} ${JSON.stringify(params)} succeeded with ${JSON.stringify(result)}, expected an error`);
  }

  notify(method, params) {
    return params === undefined
      ? this.connection.sendNotification(method)
      : this.connection.sendNotification(method, params);
  }

  async initialize(encodings, extra = {}) {
    const result = await this.request('initialize', { ...initializeParams(encodings), ...extra });
    await this.notify('initialized', {});
    this.initializeResult = result;
    this.encoding = result?.capabilities?.positionEncoding ?? 'utf-16';
    return result;
  }

  // Waits for a window/logMessage for which pred(params) is true (also one
  // that already arrived).
  waitForLog(pred, what = 'a matching window/logMessage') {
    const seen = this.logs.find(pred);
    if (seen) return Promise.resolve(seen);
    const p = Promise.race([new Promise((resolve) => this._logWaiters.push({ pred, resolve })), this.gone]);
    return withTimeout(p, WAIT_MS, () => `waiting for ${what}; logs so far: ${JSON.stringify(this.logs.slice(-20))}; ${this.describe()}`);
  }

  // Resolves with {code, signal} once the process has exited.
  waitExit(ms = WAIT_MS) {
    return withTimeout(this.exited, ms, () => `process did not exit; ${this.describe()}`);
  }

  closeStdin() {
    this.child.stdin.end();
  }

  open(uri, text, { languageId = 'plaintext', version = 1 } = {}) {
    return this.notify('textDocument/didOpen', { textDocument: { uri, languageId, version, text } });
  }

  change(uri, version, contentChanges) {
    return this.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges });
  }

  documentText(uri) {
    return this.request('chorus/documentText', { textDocument: { uri } });
  }

  dispose() {
    try { this.connection.dispose(); } catch { /* ignore */ }
    kill(this.child);
  }
}

// Starts `chorus lsp [args]` (or exactly `argv` when given), ties its life
// to the test t: on test end the process is killed, and the test fails if
// the server wrote unreadable output or a sanitizer report.
export async function startServer(t, { args = [], argv, init } = {}) {
  const s = new Server(argv ?? ['lsp', ...args]);
  t.after(() => {
    s.dispose();
    const report = sanitizerReport(s.stderr());
    if (report) throw new Error(`sanitizer/crash report on stderr (${report}):\n${tail(s.stderr(), 6000)}`);
    if (s.protocolErrors.length) {
      throw new Error(`the server wrote output the client could not parse: ${s.protocolErrors.join('; ')}`);
    }
  });
  if (init !== undefined) await s.initialize(init === true ? undefined : init);
  return s;
}
