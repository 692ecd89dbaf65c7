// Documents: didOpen/didChange/didClose/didSave and chorus/documentText,
// positions in both encodings, line breaks, clamping, random incremental
// edits checked against the client's own copy, and a 10 MB document.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/client.mjs';
import { TEST_TIMEOUT } from './lib/common.mjs';
import { TextModel, mulberry32, isBoundary, describeDiff } from './lib/textmodel.mjs';

const opts = { timeout: TEST_TIMEOUT };
const pos = (line, character) => ({ line, character });
const range = (l1, c1, l2, c2) => ({ start: pos(l1, c1), end: pos(l2, c2) });
const insertAt = (line, character, text) => ({ range: range(line, character, line, character), text });

// Compares texts that hold control characters; the failure message shows
// them escaped (a raw NUL in the TAP output would make it "binary" to grep).
function assertSameText(actual, expected) {
  assert.ok(actual === expected, `expected text ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

test('didOpen then chorus/documentText returns uri, version, languageId and text', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const uri = 'file:///tmp/chorus%20test/a.py';
  const text = 'def f():\n    return "é中😀𝄞"\r\nlast line\rafter cr';
  await s.open(uri, text, { languageId: 'python', version: 7 });
  const doc = await s.documentText(uri);
  assert.deepEqual(doc, { uri, version: 7, languageId: 'python', text });
});

test('an empty document round-trips', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.open('file:///empty.txt', '', { version: 0 });
  assert.deepEqual(await s.documentText('file:///empty.txt'),
    { uri: 'file:///empty.txt', version: 0, languageId: 'plaintext', text: '' });
  await s.change('file:///empty.txt', 1, [insertAt(0, 0, 'x')]);
  assert.equal((await s.documentText('file:///empty.txt')).text, 'x');
});

test('documents are independent', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.open('file:///one.txt', 'one', { languageId: 'c' });
  await s.open('file:///two.txt', 'two', { languageId: 'rust', version: 3 });
  await s.change('file:///one.txt', 2, [insertAt(0, 3, '!')]);
  assert.deepEqual(await s.documentText('file:///one.txt'),
    { uri: 'file:///one.txt', version: 2, languageId: 'c', text: 'one!' });
  assert.deepEqual(await s.documentText('file:///two.txt'),
    { uri: 'file:///two.txt', version: 3, languageId: 'rust', text: 'two' });
});

test('JSON escapes in text round-trip: quotes, backslashes, control characters', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const text = 'a"b\\c\t\u0001\u001f\b\f/\u2028\u2029\uFEFF\uFFFF';
  await s.open('file:///esc.txt', text);
  assertSameText((await s.documentText('file:///esc.txt')).text, text);
});

test('text containing U+0000 round-trips (valid JSON "\\u0000")', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const text = 'before\u0000after\nline 2';
  await s.open('file:///nul.txt', text);
  assertSameText((await s.documentText('file:///nul.txt')).text, text);
  await s.change('file:///nul.txt', 2, [insertAt(1, 0, 'X\u0000')]);
  assertSameText((await s.documentText('file:///nul.txt')).text, 'before\u0000after\nX\u0000line 2');
});

test('text containing U+0000 and every noncharacter U+FDD0..U+FDEF round-trips', opts, async (t) => {
  const s = await startServer(t, { init: true });
  let nonchars = '';
  for (let cp = 0xfdd0; cp <= 0xfdef; cp++) nonchars += String.fromCodePoint(cp);
  const text = `${nonchars}\u0000${nonchars}`;
  await s.open('file:///nul2.txt', text);
  assertSameText((await s.documentText('file:///nul2.txt')).text, text);
});

test('didChange: version, several changes applied in order, full-document change', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const uri = 'file:///order.txt';
  await s.open(uri, 'abc\ndef');
  // Each change applies to the result of the previous one.
  await s.change(uri, 2, [
    insertAt(0, 0, 'X'),                     // Xabc\ndef
    { range: range(0, 1, 0, 2), text: '' },  // Xbc\ndef
    { range: range(1, 0, 1, 3), rangeLength: 3, text: 'DEF\nghi' }, // Xbc\nDEF\nghi
    insertAt(2, 3, '!'),                     // Xbc\nDEF\nghi!
  ]);
  let doc = await s.documentText(uri);
  assert.equal(doc.text, 'Xbc\nDEF\nghi!');
  assert.equal(doc.version, 2);
  await s.change(uri, 5, [{ text: 'replaced\r\nwhole' }]);
  doc = await s.documentText(uri);
  assert.equal(doc.text, 'replaced\r\nwhole');
  assert.equal(doc.version, 5);
  // A full change followed by incremental ones in the same notification.
  await s.change(uri, 6, [{ text: 'new' }, insertAt(0, 3, ' text'), { range: range(0, 0, 0, 1), text: 'N' }]);
  doc = await s.documentText(uri);
  assert.equal(doc.text, 'New text');
  assert.equal(doc.version, 6);
});

test('didSave leaves the document as it is; didClose forgets it', opts, async (t) => {
  const s = await startServer(t, { init: true });
  const uri = 'file:///closing.txt';
  await s.open(uri, 'keep me', { version: 4 });
  await s.notify('textDocument/didSave', { textDocument: { uri } });
  assert.deepEqual(await s.documentText(uri), { uri, version: 4, languageId: 'plaintext', text: 'keep me' });
  await s.notify('textDocument/didClose', { textDocument: { uri } });
  const e = await s.requestError('chorus/documentText', { textDocument: { uri } });
  assert.equal(e.code, -32602);
  assert.match(e.message, /not open/);
  // Reopening works and starts from the new text.
  await s.open(uri, 'again', { version: 1 });
  assert.equal((await s.documentText(uri)).text, 'again');
});

test('chorus/documentText for a document never opened -> -32602 "not open"', opts, async (t) => {
  const s = await startServer(t, { init: true });
  await s.open('file:///other.txt', 'x');
  const e = await s.requestError('chorus/documentText', { textDocument: { uri: 'file:///never.txt' } });
  assert.equal(e.code, -32602);
  assert.match(e.message, /not open/);
});

// Explicit clamping and line-break cases: [initial text, changes, expected].
// Positions are valid in both encodings (ASCII before them) unless noted.
const explicitCases = [
  ['character past the line end clamps to the line end (LF)', 'abc\ndef', [insertAt(0, 10, 'X')], 'abcX\ndef'],
  ['character past the line end clamps before CRLF', 'ab\r\ncd', [insertAt(0, 3, 'X')], 'abX\r\ncd'],
  ['character far past the line end clamps before CRLF', 'ab\r\ncd', [insertAt(0, 99, 'X')], 'abX\r\ncd'],
  ['character past the line end clamps before a lone CR', 'ab\rcd', [insertAt(0, 5, 'X')], 'abX\rcd'],
  ['character past the end of the last line', 'abc\ndef', [insertAt(1, 40, 'X')], 'abc\ndefX'],
  ['range end past the line end keeps the line break', 'hello\nworld', [{ range: range(0, 2, 0, 50), text: '' }], 'he\nworld'],
  ['range end past a CRLF line end keeps the CRLF', 'hello\r\nworld', [{ range: range(0, 2, 0, 6), text: '' }], 'he\r\nworld'],
  ['line past the end clamps to the document end', 'abc\ndef', [insertAt(7, 0, 'X')], 'abc\ndefX'],
  ['line equal to the line count clamps to the document end', 'abc\ndef', [insertAt(2, 0, 'X')], 'abc\ndefX'],
  ['line past the end with a character', 'abc\ndef', [insertAt(3, 9, 'X')], 'abc\ndefX'],
  ['the largest uinteger line and character clamp to the document end', 'abc\ndef', [insertAt(2147483647, 2147483647, 'X')], 'abc\ndefX'],
  ['the largest uinteger character clamps to the line end', 'abc\ndef', [insertAt(0, 2147483647, 'X')], 'abcX\ndef'],
  ['range end past the document end', 'abc\ndef', [{ range: range(0, 1, 99, 99), text: 'Z' }], 'aZ'],
  ['trailing newline: the last line is empty', 'abc\n', [insertAt(1, 0, 'X')], 'abc\nX'],
  ['trailing newline: past the empty last line', 'abc\n', [insertAt(1, 5, 'X')], 'abc\nX'],
  ['trailing newline: line past the end', 'abc\n', [insertAt(5, 0, 'X')], 'abc\nX'],
  ['mixed breaks: line 1 after CRLF', 'a\r\nb\rc\nd', [insertAt(1, 0, 'X')], 'a\r\nXb\rc\nd'],
  ['mixed breaks: line 2 after lone CR', 'a\r\nb\rc\nd', [insertAt(2, 0, 'X')], 'a\r\nb\rXc\nd'],
  ['mixed breaks: line 3 after LF', 'a\r\nb\rc\nd', [insertAt(3, 0, 'X')], 'a\r\nb\rc\nXd'],
  ['mixed breaks: line 4 is past the end', 'a\r\nb\rc\nd', [insertAt(4, 0, 'X')], 'a\r\nb\rc\ndX'],
  ['CRLF CRLF is two breaks', '\r\n\r\n', [insertAt(1, 0, 'X')], '\r\nX\r\n'],
  ['CRLF CRLF: third line', '\r\n\r\n', [insertAt(2, 0, 'X')], '\r\n\r\nX'],
  ['LF CR is two breaks', '\n\r', [insertAt(1, 0, 'X')], '\nX\r'],
  ['LF CR: third line', '\n\r', [insertAt(2, 0, 'X')], '\n\rX'],
  ['CR CRLF is two breaks', '\r\r\n', [insertAt(1, 0, 'X')], '\rX\r\n'],
  ['CR CR is two breaks', 'a\r\rb', [insertAt(2, 0, 'X')], 'a\r\rXb'],
  ['inserting CR before LF makes one CRLF break', 'a\nb', [insertAt(0, 1, '\r'), insertAt(1, 0, 'X')], 'a\r\nXb'],
  ['inserting LF after CR makes one CRLF break', 'a\rb', [insertAt(1, 0, '\n'), insertAt(1, 0, 'Y')], 'a\r\nYb'],
  ['deleting a CRLF joins the lines', 'a\r\nb\r\nc', [{ range: range(0, 1, 1, 0), text: '' }, insertAt(1, 0, 'X')], 'ab\r\nXc'],
  ['replacing a CRLF with a lone CR keeps one break', 'a\r\nb', [{ range: range(0, 1, 1, 0), text: '\r' }, insertAt(1, 1, 'X')], 'a\rbX'],
];
for (const [name, initial, changes, expected] of explicitCases) {
  for (const enc of ['utf-16', 'utf-8']) {
    test(`${name} (${enc})`, opts, async (t) => {
      const s = await startServer(t, { init: [enc] });
      assert.equal(s.encoding, enc);
      const uri = 'file:///case.txt';
      await s.open(uri, initial);
      await s.change(uri, 2, changes);
      const doc = await s.documentText(uri);
      assert.equal(doc.text, expected);
      // The test's own model agrees with the expectation.
      const model = new TextModel(initial, enc);
      for (const c of changes) model.apply(c);
      assert.equal(model.text, expected, 'test model disagrees with the expected text');
    });
  }
}

// Encoding-specific cases: the same logical edit addressed per encoding.
const encodingCases = [
  // [name, initial, utf-16 change, utf-8 change, expected]
  ['after é', 'éa', insertAt(0, 1, 'X'), insertAt(0, 2, 'X'), 'éXa'],
  ['after 中', '中a', insertAt(0, 1, 'X'), insertAt(0, 3, 'X'), '中Xa'],
  ['after an astral character', '😀a', insertAt(0, 2, 'X'), insertAt(0, 4, 'X'), '😀Xa'],
  ['between e and a combining mark', 'e\u0301a', insertAt(0, 1, 'X'), insertAt(0, 1, 'X'), 'eX\u0301a'],
  ['after e + combining mark', 'e\u0301a', insertAt(0, 2, 'X'), insertAt(0, 3, 'X'), 'e\u0301Xa'],
  ['replace an astral character', 'a𝄞b', { range: range(0, 1, 0, 3), text: '中' }, { range: range(0, 1, 0, 5), text: '中' }, 'a中b'],
  ['second line after multibyte', 'é\n中😀x', insertAt(1, 3, '!'), insertAt(1, 7, '!'), 'é\n中😀!x'],
  ['past the line end after multibyte', 'é中\nz', insertAt(0, 50, '!'), insertAt(0, 50, '!'), 'é中!\nz'],
  // 3 utf-16 units is past the end of "é中" (2 units) but inside it in utf-8.
  ['utf-16 length vs byte length', 'é中\nz', insertAt(0, 3, '!'), insertAt(0, 2, '!'), { 'utf-16': 'é中!\nz', 'utf-8': 'é!中\nz' }],
];
for (const [name, initial, c16, c8, expectedAny] of encodingCases) {
  for (const [enc, change] of [['utf-16', c16], ['utf-8', c8]]) {
    const expected = typeof expectedAny === 'string' ? expectedAny : expectedAny[enc];
    test(`positions in ${enc}: ${name}`, opts, async (t) => {
      const s = await startServer(t, { init: [enc] });
      assert.equal(s.encoding, enc);
      await s.open('file:///enc.txt', initial);
      await s.change('file:///enc.txt', 2, [change]);
      assert.equal((await s.documentText('file:///enc.txt')).text, expected);
      const model = new TextModel(initial, enc);
      model.apply(change);
      assert.equal(model.text, expected, 'test model disagrees with the expected text');
    });
  }
}

// --- random incremental edits ---------------------------------------------

const FRAGMENTS = [
  'a', 'b', 'xyz', 'hello', ' ', '  ', '\t', '0123', '{', '}', ';', '"', '\\',
  'é', 'ü', '中', '文字', '😀', '𝄞', '👍🏽', 'e\u0301', 'a\u0308\u0301',
  '\n', '\n', '\r\n', '\r\n', '\r',
];

function randomText(rand, maxFragments) {
  const n = Math.floor(rand() * (maxFragments + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)];
  return s;
}

// A random code point boundary in [0, text.length].
function randomOffset(rand, text, from = 0) {
  let o = from + Math.floor(rand() * (text.length - from + 1));
  if (!isBoundary(text, o)) o += 1;
  return o;
}

// Position for offset o, sometimes with a character past the line end or
// a line past the document end (the model clamps them the same way).
const stats = { changes: 0, full: 0, pastLineEnd: 0, pastDocEnd: 0, maxLength: 0 };

function positionFor(rand, model, o) {
  const p = model.positionAt(o);
  const r = rand();
  if (o === model.text.length && r < 0.1) {
    stats.pastDocEnd++;
    return pos(model.lineCount + Math.floor(rand() * 3), Math.floor(rand() * 5));
  }
  if (r < 0.15 && model.offsetAt(pos(p.line, p.character + 1000)) === o) {
    // o is at its line's end: any larger character clamps back to it.
    stats.pastLineEnd++;
    return pos(p.line, p.character + 1 + Math.floor(rand() * 5));
  }
  return p;
}

function randomChange(rand, model) {
  const text = model.text;
  stats.changes++;
  if (rand() < 0.01) { stats.full++; return { text: randomText(rand, 1500) }; }
  const big = text.length > 6000;
  // Sometimes append at the very end, where positions past the end occur.
  const a = rand() < 0.05 ? text.length : randomOffset(rand, text);
  let b = a;
  const kind = rand();
  if (kind < 0.35 || big) {
    // Delete or replace a span.
    const span = Math.floor(rand() * (big ? 400 : 40));
    b = Math.min(text.length, a + span);
    if (!isBoundary(text, b)) b += 1;
  }
  const insert = kind < 0.15 && !big ? '' : randomText(rand, 12);
  const change = { range: { start: positionFor(rand, model, a), end: positionFor(rand, model, b) }, text: insert };
  if (rand() < 0.3) {
    const ea = model.offsetAt(change.range.start);
    const eb = model.offsetAt(change.range.end);
    change.rangeLength = model.length(ea, eb);
  }
  return change;
}

async function randomEdits(t, enc) {
  const seed = process.env.CHORUS_SEED ? Number(process.env.CHORUS_SEED) : 0x5eed0001 + (enc === 'utf-8' ? 1 : 0);
  t.diagnostic(`seed=${seed} encoding=${enc} (replay with CHORUS_SEED=${seed})`);
  const rand = mulberry32(seed);
  const s = await startServer(t, { init: [enc] });
  assert.equal(s.encoding, enc, 'negotiated encoding');
  const uri = `file:///random-${enc}.txt`;
  const model = new TextModel(randomText(rand, 1500), enc);
  let version = 1;
  await s.open(uri, model.text, { version, languageId: 'plaintext' });
  const history = [];
  const EDITS = 1000;
  for (let i = 1; i <= EDITS; i++) {
    const n = rand() < 0.25 ? 2 + Math.floor(rand() * 3) : 1;
    const changes = [];
    for (let k = 0; k < n; k++) {
      const c = randomChange(rand, model);
      model.apply(c);
      changes.push(c);
    }
    version += 1;
    history.push({ edit: i, version, changes });
    if (history.length > 5) history.shift();
    await s.change(uri, version, changes);
    stats.maxLength = Math.max(stats.maxLength, model.text.length);
    if (i % 50 === 0 || i === EDITS) {
      const doc = await s.documentText(uri);
      const ok = doc.text === model.text && doc.version === version;
      if (!ok) {
        assert.fail(`seed=${seed} encoding=${enc}: after edit ${i} (version ${version}) `
          + (doc.version !== version ? `version is ${doc.version}; ` : '')
          + `${describeDiff(model.text, doc.text)}; last edits: ${JSON.stringify(history)}`);
      }
    }
  }
  t.diagnostic(`${EDITS} didChange, ${JSON.stringify(stats)}, final length ${model.text.length}, ${model.lineCount} lines`);
  for (const k of Object.keys(stats)) stats[k] = 0;
  return seed;
}

test('1000 random incremental edits, utf-16 negotiated', opts, async (t) => {
  await randomEdits(t, 'utf-16');
});

test('1000 random incremental edits, utf-8 negotiated', opts, async (t) => {
  await randomEdits(t, 'utf-8');
});

test('a 2 MB single-line document with multi-byte characters: edit near its end', opts, async (t) => {
  for (const enc of ['utf-16', 'utf-8']) {
    const s = await startServer(t, { init: [enc] });
    const unit = 'aé中😀';
    const text = unit.repeat(Math.ceil(2 * 1024 * 1024 / Buffer.byteLength(unit)));
    await s.open('file:///line.txt', text);
    const model = new TextModel(text, enc);
    // Replace the last-but-one unit's 中 with a line break.
    const at = text.length - 2 * unit.length + 2;
    const change = { range: { start: model.positionAt(at), end: model.positionAt(at + 1) }, text: '\n' };
    model.apply(change);
    const bang = insertAt(1, enc === 'utf-16' ? 2 : 4, '!'); // after the 😀 that starts line 1
    await s.change('file:///line.txt', 2, [change, bang]);
    model.apply(bang);
    const doc = await s.documentText('file:///line.txt');
    assert.ok(doc.text === model.text, `${enc}: ${describeDiff(model.text, doc.text ?? '')}`);
    assert.ok(doc.text.endsWith('aé\n😀!aé中😀'), `${enc}: ends with ${JSON.stringify(doc.text.slice(-12))}`);
    s.dispose();
  }
});

// --- a 10 MB document ------------------------------------------------------

function bigText(bytes) {
  const lines = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const eol = i % 7 === 3 ? '\r\n' : '\n';
    const line = `${i.toString().padStart(7, '0')} int value_${i} = compute(${i}, "é中😀"); // ${'abcdefghij'.repeat(i % 6)}${eol}`;
    lines.push(line);
    size += Buffer.byteLength(line);
  }
  return lines.join('');
}

test('a 10 MB document round-trips, then an edit near its end applies', opts, async (t) => {
  for (const enc of ['utf-16', 'utf-8']) {
    const s = await startServer(t, { init: [enc] });
    assert.equal(s.encoding, enc);
    const uri = `file:///big-${enc}.c`;
    const text = bigText(10 * 1024 * 1024);
    assert.ok(Buffer.byteLength(text) >= 10 * 1024 * 1024);
    await s.open(uri, text, { languageId: 'c' });
    let doc = await s.documentText(uri);
    assert.ok(doc.text === text, `10 MB document did not round-trip (${enc}): ${describeDiff(text, doc.text ?? '')}`);

    const model = new TextModel(text, enc);
    const last = model.lineCount - 1; // the empty line after the final break
    // Replace from the middle of the third-last line (after its multibyte
    // characters) into the second-last line, then append at the very end.
    const l1 = last - 3;
    const lineText = text.slice(model.starts[l1], model.starts[l1 + 1]);
    const col16 = lineText.indexOf('😀') + 2; // just after the emoji
    const start = enc === 'utf-16' ? col16 : Buffer.byteLength(lineText.slice(0, col16));
    const changes = [
      { range: range(l1, start, l1 + 1, 9), text: '中\r\n😀new' },
      insertAt(last + 5, 0, 'THE END 𝄞'),
    ];
    for (const c of changes) model.apply(c);
    await s.change(uri, 2, changes);
    doc = await s.documentText(uri);
    assert.equal(doc.version, 2);
    assert.ok(doc.text === model.text, `edit near the end of the 10 MB document (${enc}): ${describeDiff(model.text, doc.text ?? '')}`);
    assert.ok(doc.text.endsWith('THE END 𝄞'));
    s.dispose();
  }
});
