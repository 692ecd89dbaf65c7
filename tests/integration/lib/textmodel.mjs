// The client's own copy of a document, with LSP position arithmetic in
// utf-16 (JS string indices) and utf-8 (byte counts), written independently
// of the server. Lines end at \n, \r\n or a lone \r; a character past the
// line end clamps to the line end (before the line break); a line past the
// last line clamps to the end of the document.

export function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) starts.push(i + 1);
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  return starts;
}

// JS index where line `line` ends, not counting its line break.
function lineEnd(text, starts, line) {
  let end = line + 1 < starts.length ? starts[line + 1] : text.length;
  while (end > starts[line] && (text.charCodeAt(end - 1) === 10 || text.charCodeAt(end - 1) === 13)) end--;
  return end;
}

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

// Is JS index i a code point boundary (not between two halves of a pair)?
export function isBoundary(text, i) {
  return i <= 0 || i >= text.length || !(isLow(text.charCodeAt(i)) && isHigh(text.charCodeAt(i - 1)));
}

function utf8Len(cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

// UTF-8 byte length of text[from, to).
export function utf8Bytes(text, from = 0, to = text.length) {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (isHigh(c) && i + 1 < to && isLow(text.charCodeAt(i + 1))) { n += 4; i++; } else n += utf8Len(c);
  }
  return n;
}

export class TextModel {
  constructor(text, encoding) {
    if (encoding !== 'utf-8' && encoding !== 'utf-16') throw new Error(`encoding ${encoding}`);
    this.encoding = encoding;
    this.setText(text);
  }

  setText(text) {
    this.text = text;
    this.starts = lineStarts(text);
  }

  get lineCount() { return this.starts.length; }

  // LSP position -> JS index, with the clamping rules above.
  offsetAt({ line, character }) {
    const { text, starts } = this;
    if (line >= starts.length) return text.length;
    const start = starts[line];
    const end = lineEnd(text, starts, line);
    if (this.encoding === 'utf-16') return Math.min(start + character, end);
    let bytes = 0;
    let i = start;
    while (i < end && bytes < character) {
      const c = text.charCodeAt(i);
      if (isHigh(c) && i + 1 < end && isLow(text.charCodeAt(i + 1))) { bytes += 4; i += 2; } else { bytes += utf8Len(c); i += 1; }
    }
    if (bytes !== character && i < end) {
      throw new Error(`utf-8 character ${character} is inside a sequence on line ${line}`);
    }
    return i;
  }

  // JS index (a code point boundary) -> LSP position.
  positionAt(offset) {
    const { starts, text } = this;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid; else hi = mid - 1;
    }
    const start = starts[lo];
    const character = this.encoding === 'utf-16' ? offset - start : utf8Bytes(text, start, offset);
    return { line: lo, character };
  }

  // Applies one TextDocumentContentChangeEvent.
  apply(change) {
    if (!change.range) {
      this.setText(change.text);
      return;
    }
    const a = this.offsetAt(change.range.start);
    const b = this.offsetAt(change.range.end);
    if (b < a) throw new Error(`test bug: range end before start ${JSON.stringify(change.range)}`);
    this.setText(this.text.slice(0, a) + change.text + this.text.slice(b));
  }

  // Length of text[a, b) in the negotiated encoding (for rangeLength).
  length(a, b) {
    return this.encoding === 'utf-16' ? b - a : utf8Bytes(this.text, a, b);
  }
}

// mulberry32: a small seeded PRNG, so that a failing run can be replayed.
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Index of the first difference between two strings, or -1.
export function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return i;
  return a.length === b.length ? -1 : n;
}

// A readable assertion message for two long strings that differ.
export function describeDiff(expected, actual) {
  const i = firstDiff(expected, actual);
  const around = (s) => JSON.stringify(s.slice(Math.max(0, i - 40), i + 40));
  return `texts differ at index ${i} (expected length ${expected.length}, got ${actual.length}); `
    + `expected ...${around(expected)}..., got ...${around(actual)}...`;
}
