// Shared bits of the integration helpers: where the binary is, process
// bookkeeping (no child outlives the test process), and small waiters.
// Not a test file: node --test only picks up *.test.mjs at the top level.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const testDir = path.resolve(here, '..');

// CHORUS_BIN, else ../../build/lsp/chorus relative to tests/integration.
export const chorusBin = process.env.CHORUS_BIN
  ? path.resolve(process.env.CHORUS_BIN)
  : path.resolve(testDir, '../../build/lsp/chorus');

// How long a single wait may last before it fails with a useful message.
// Generous because the suite also runs against a sanitizer build.
export const WAIT_MS = Number(process.env.CHORUS_TEST_WAIT_MS || 45000);
// Per-test timeout for node:test.
export const TEST_TIMEOUT = Number(process.env.CHORUS_TEST_TIMEOUT_MS || 60000);

// An empty config home, so that a developer's own chorus settings
// ($XDG_CONFIG_HOME/chorus/config.json) cannot change what the tests see.
let configHome = null;
function emptyConfigHome() {
  if (!configHome) configHome = mkdtempSync(path.join(os.tmpdir(), 'chorus-it-'));
  return configHome;
}

const live = new Set();

function killAll() {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
  if (configHome) {
    try { rmSync(configHome, { recursive: true, force: true }); } catch { /* ignore */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { killAll(); process.exit(130); });
}

// Spawns `chorus <args>` with piped stdio and keeps track of it. Returns
// { child, exited, stderr() } where exited resolves to {code, signal}.
export function spawnChorus(args, { env } = {}) {
  if (!existsSync(chorusBin)) {
    throw new Error(`chorus binary not found at ${chorusBin} (set CHORUS_BIN)`);
  }
  const child = spawn(chorusBin, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, XDG_CONFIG_HOME: emptyConfigHome(), ...env },
  });
  live.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  // Writes after the server died must not crash the test process (EPIPE).
  child.stdin.on('error', () => {});
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      live.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
  });
  return { child, exited, stderr: () => stderr };
}

export function kill(child) {
  if (child.exitCode === null && child.signalCode === null) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
  live.delete(child);
}

// Resolves with the promise's value, or rejects after ms with a message
// built by describe() (called lazily, so it can include the stderr so far).
export function withTimeout(promise, ms, describe) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms: ${typeof describe === 'function' ? describe() : describe}`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Strings that mean a sanitizer (ASan/UBSan/LSan) or a crash report.
export const SANITIZER_PATTERNS = [
  'AddressSanitizer', 'LeakSanitizer', 'UndefinedBehaviorSanitizer',
  'runtime error', 'Segmentation fault', 'double free', 'stack smashing',
];

export function sanitizerReport(stderr) {
  return SANITIZER_PATTERNS.find((p) => stderr.includes(p)) || null;
}

export function tail(s, n = 2000) {
  return s.length > n ? '...' + s.slice(-n) : s;
}

// Runs `chorus <args>` to the end (a command line use, not the server) and
// resolves to { code, stdout, stderr }. Fails the test on a sanitizer report.
export function runChorusCli(args, { env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(chorusBin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XDG_CONFIG_HOME: emptyConfigHome(), ...env },
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (err) => { live.delete(child); reject(err); });
    child.on('close', (code) => {
      live.delete(child);
      const report = sanitizerReport(stderr);
      if (report) reject(new Error(`sanitizer report:\n${tail(stderr, 6000)}`));
      else resolve({ code, stdout, stderr });
    });
  });
}
