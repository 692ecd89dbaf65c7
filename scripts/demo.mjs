// A scripted editor session against `chorus lsp`: what an editor sends and
// what chorus answers, printed as a transcript. Usage: node demo.mjs CHORUS
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startFakeModel } from '../tests/integration/lib/fake-model.mjs';

// A small repository to work in, and a stand-in for a hosted model server
// (it records what it is sent), both private to this run.
const repo = mkdtempSync(path.join(os.tmpdir(), 'chorus-demo-'));
const files = {
  'shop/prices.py': 'def net_price(gross, vat_rate):\n    """Price without VAT."""\n'
    + '    return gross / (1 + vat_rate)\n\n\ndef gross_price(net, vat_rate):\n'
    + '    return net * (1 + vat_rate)\n',
  'shop/cart.py': 'from shop.prices import net_price\n\n'
    + `API_TOKEN = "ghp_${'Zq8Rk2Lm5Nx7Pv1Tw4Yb6Hc9Jd3Fg0Se2Ua5'}"\n\n\n`
    + 'def total(items, vat_rate):\n    return sum(net_price(i.price, vat_rate) for i in items)\n',
};
for (const [rel, body] of Object.entries(files)) {
  mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
  writeFileSync(path.join(repo, rel), body);
}
mkdirSync(path.join(repo, '.git'));
const fake = await startFakeModel({ text: 'net_price(i.price, vat_rate) for i in items)' });

const bin = process.argv[2];
const child = spawn(bin, ['lsp', '--log-level', 'info'], {
  stdio: ['pipe', 'pipe', 'pipe'],
  env: { ...process.env, XDG_CACHE_HOME: path.join(repo, '.cache'), XDG_CONFIG_HOME: path.join(repo, '.config') },
});
let stderr = '';
child.stderr.on('data', (d) => { stderr += d; });

let buffer = Buffer.alloc(0);
const waiting = new Map();
child.stdout.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const m = /content-length:\s*(\d+)/i.exec(buffer.subarray(0, end).toString());
    const length = Number(m[1]);
    if (buffer.length < end + 4 + length) return;
    const msg = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString());
    buffer = buffer.subarray(end + 4 + length);
    if (msg.id !== undefined && waiting.has(msg.id)) {
      waiting.get(msg.id)(msg);
      waiting.delete(msg.id);
    } else {
      show('<-', msg);
    }
  }
});

const short = (v) => {
  const s = JSON.stringify(v);
  return s.length > 300 ? s.slice(0, 300) + ' ...' : s;
};
function show(dir, msg) {
  console.log(`${dir} ${short(msg)}`);
}
function send(msg) {
  const body = Buffer.from(JSON.stringify(msg));
  child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  child.stdin.write(body);
}
let nextId = 1;
// A request shown in the transcript with its reply and time; quiet ones
// (polling) are not shown.
function request(method, params, { quiet = false } = {}) {
  const id = nextId++;
  const msg = { jsonrpc: '2.0', id, method, params };
  if (!quiet) show('->', msg);
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    waiting.set(id, (reply) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (!quiet) show(`<- (${ms.toFixed(2)} ms)`, reply);
      resolve(reply);
    });
    send(msg);
  });
}
function notify(method, params) {
  const msg = { jsonrpc: '2.0', method, params };
  show('->', msg);
  send(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

console.log('# chorus demo: an editor session over stdio\n');
console.log('## start and initialize: a repository, a hosted model, the builtin model');
await request('initialize', {
  processId: process.pid,
  rootUri: pathToFileURL(repo).href,
  capabilities: { general: { positionEncodings: ['utf-16'] } },
  clientInfo: { name: 'demo' },
  initializationOptions: {
    models: [
      { name: 'hosted', provider: 'openai', endpoint: fake.url, model: 'qwen2.5-coder', fim: 'qwen',
        suffixField: false, remote: true },
      { name: 'builtin', provider: 'builtin' },
    ],
  },
});
notify('initialized', {});

console.log('\n## open a file (CRLF line endings) and type into it');
const uri = pathToFileURL(path.join(repo, 'greet.py')).href;
const text = 'def greet(name):\r\n    return "hi " + name\r\n';
notify('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version: 1, text } });
notify('textDocument/didChange', {
  textDocument: { uri, version: 2 },
  contentChanges: [{ range: { start: { line: 1, character: 15 }, end: { line: 1, character: 15 } }, text: 'dear ' }],
});
notify('textDocument/didChange', {
  textDocument: { uri, version: 3 },
  contentChanges: [
    { range: { start: { line: 1, character: 20 }, end: { line: 1, character: 20 } }, text: '😀' },
    // the emoji is two UTF-16 code units: character 22 is right after it
    { range: { start: { line: 1, character: 22 }, end: { line: 1, character: 22 } }, text: '!' },
  ],
});
const reply = await request('chorus/documentText', { textDocument: { uri } });
console.log('   the server\'s copy now reads:');
for (const line of reply.result.text.split(/\r\n|\r|\n/)) console.log(`   | ${line}`);

console.log('\n## the repository index: where is net_price defined?');
while (!(await request('chorus/indexStatus', {}, { quiet: true })).result.ready) await sleep(20);
await request('chorus/findDefinitions', { name: 'net_price' });

console.log('\n## a completion from the hosted model, and what it was sent');
const cart = pathToFileURL(path.join(repo, 'shop/cart.py')).href;
const typed = files['shop/cart.py'].replace(/sum\(net_price.*\n$/, 'sum(');
notify('textDocument/didOpen', { textDocument: { uri: cart, languageId: 'python', version: 1, text: typed } });
await request('chorus/complete', { textDocument: { uri: cart }, position: { line: 6, character: 15 }, model: 'hosted' });
console.log('   the prompt the model server received: the definition of net_price from');
console.log('   shop/prices.py first, the token redacted, the document\'s window last:');
for (const line of fake.requests.at(-1).json.prompt.split('\n')) console.log(`   | ${line}`);

console.log('\n## the builtin model: offline, from the repository itself');
const more = pathToFileURL(path.join(repo, 'shop/more.py')).href;
notify('textDocument/didOpen', {
  textDocument: { uri: more, languageId: 'python', version: 1, text: 'def tax(net, vat_rate):\n    return net * (1 + ' },
});
const at = { textDocument: { uri: more }, position: { line: 1, character: 25 }, model: 'builtin' };
// The model builds on its own thread; the first answers may be empty.
for (let i = 0; i < 100; i++) {
  if ((await request('chorus/complete', at, { quiet: true })).result?.text) break;
  await sleep(20);
}
await request('chorus/complete', at);

console.log('\n## mistakes get clear errors, and the server keeps going');
await request('textDocument/unknownThing', {});
await request('chorus/documentText', { textDocument: { uri: 42 } });
console.log('\n## shut down');
await request('shutdown', null);
notify('exit', null);
const code = await new Promise((resolve) => child.on('exit', resolve));
console.log(`\nchorus exited with code ${code}`);
await fake.close();
rmSync(repo, { recursive: true, force: true });
if (code !== 0) process.stdout.write(stderr);
process.exit(code === 0 ? 0 : 1);
