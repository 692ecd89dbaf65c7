// A scripted editor session against `chorus lsp`: what an editor sends and
// what chorus answers, printed as a transcript. Usage: node demo.mjs CHORUS
import { spawn } from 'node:child_process';

const bin = process.argv[2];
const child = spawn(bin, ['lsp', '--log-level', 'info'], { stdio: ['pipe', 'pipe', 'pipe'] });
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
function request(method, params) {
  const id = nextId++;
  const msg = { jsonrpc: '2.0', id, method, params };
  show('->', msg);
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    waiting.set(id, (reply) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      show(`<- (${ms.toFixed(2)} ms)`, reply);
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

const uri = 'file:///demo/src/greet.py';
const text = 'def greet(name):\r\n    return "hi " + name\r\n';
console.log('# chorus demo: an editor session over stdio\n');
console.log('## start and initialize');
await request('initialize', {
  processId: process.pid,
  rootUri: 'file:///demo',
  capabilities: { general: { positionEncodings: ['utf-16'] } },
  clientInfo: { name: 'demo' },
});
notify('initialized', {});
console.log('\n## open a file (CRLF line endings) and type into it');
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
console.log('\n## mistakes get clear errors, and the server keeps going');
await request('textDocument/unknownThing', {});
await request('chorus/documentText', { textDocument: { uri: 42 } });
console.log('\n## shut down');
await request('shutdown', null);
notify('exit', null);
const code = await new Promise((resolve) => child.on('exit', resolve));
console.log(`\nchorus exited with code ${code}`);
if (code !== 0) process.stdout.write(stderr);
process.exit(code === 0 ? 0 : 1);
