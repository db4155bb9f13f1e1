// Shared helpers for the browser specs in tests/e2e.
//
// Every spec starts its own `mestring serve` on a free port with a fresh
// temporary data directory and SQLite database, drives Debian's Chromium
// through playwright-core, and checks pages with axe-core.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/** tests/e2e */
export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');
/** Where Debian puts Chromium. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** The axe-core rule tags every page must pass. */
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const CLI_TIMEOUT_MS = 60_000;

/** Every child process still running, killed if the test process exits. */
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Absolute path of the `mestring` binary (`MESTRING_BIN` or target/debug). */
export function mestringBin() {
  const bin = process.env.MESTRING_BIN
    ? path.resolve(process.env.MESTRING_BIN)
    : path.resolve(E2E_DIR, '..', '..', 'target', 'debug', 'mestring');
  if (!existsSync(bin)) {
    throw new Error(
      `mestring binary not found at ${bin}: build it with cargo build ` +
        '(cd to the repository root and run `cargo build --bin mestring`), ' +
        'or point MESTRING_BIN at it',
    );
  }
  return bin;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Environment for the server and the CLI sharing one data dir/database. */
function serverEnv({ dataDir, port, env }) {
  const base = {
    ...process.env,
    MESTRING_DATA_DIR: dataDir,
    MESTRING_DATABASE_URL: `sqlite://${path.join(dataDir, 'mestring.sqlite3')}`,
    MESTRING_CONTENT_DIR: path.join(REPO_ROOT, 'content'),
    MESTRING_LISTEN: `127.0.0.1:${port}`,
    MESTRING_BASE_URL: `http://127.0.0.1:${port}`,
    // Keep the test run light on the shared CPUs.
    MESTRING_WORKERS: '2',
  };
  return { ...base, ...env };
}

/** Splits a stream into lines, calling `onLine` for each complete one. */
function lineReader(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ''));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}

/**
 * Starts `mestring serve [--demo]` on a free port with a fresh data dir.
 *
 * Resolves once `/healthz` answers (and, with `demo`, once the demo code has
 * been printed). Returns `{ baseUrl, port, demoCode, demoValues, stdoutLines,
 * stderrLines, dataDir, env, stop() }`. `demoValues` maps every stdout line
 * `demo <name>: <value>` by name (e.g. `demoValues['staff email']`).
 */
export async function startServer({ demo = true, env = {}, port: chosenPort } = {}) {
  const bin = mestringBin();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mestring-e2e-'));
  // A caller that must know the address first (an identity provider's
  // redirect URI) passes the port.
  const port = chosenPort ?? (await freePort());
  const fullEnv = serverEnv({ dataDir, port, env });
  const baseUrl = fullEnv.MESTRING_BASE_URL;
  const args = demo ? ['serve', '--demo'] : ['serve'];

  const child = spawn(bin, args, { env: fullEnv, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const stdoutLines = [];
  const stderrLines = [];
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      resolve(exited);
    });
  });
  lineReader(child.stdout, (l) => stdoutLines.push(l));
  lineReader(child.stderr, (l) => stderrLines.push(l));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exitPromise;
      clearTimeout(t);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const server = {
    baseUrl,
    port,
    dataDir,
    env: fullEnv,
    stdoutLines,
    stderrLines,
    pid: child.pid,
    get demoCode() {
      return demoValues(stdoutLines).code;
    },
    get demoValues() {
      return demoValues(stdoutLines);
    },
    stop,
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  const failure = (why) =>
    new Error(
      `mestring ${args.join(' ')} ${why}\n--- stdout ---\n${stdoutLines.join('\n')}` +
        `\n--- stderr ---\n${stderrLines.slice(-40).join('\n')}`,
    );
  try {
    for (;;) {
      if (exited) throw failure(`exited early (${JSON.stringify(exited)})`);
      if (Date.now() > deadline) throw failure(`did not become healthy within ${STARTUP_TIMEOUT_MS} ms`);
      let healthy = false;
      try {
        const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
        healthy = res.ok;
      } catch {
        // not listening yet
      }
      // With --demo the code is printed, followed by "Log in at …".
      const printed = !demo || stdoutLines.some((l) => l.startsWith('Log in at '));
      if (healthy && printed) break;
      await sleep(100);
    }
    if (demo && !server.demoCode) throw failure('printed no "demo code: …" line');
  } catch (e) {
    await stop();
    throw e;
  }
  return server;
}

/** Parses `demo <name>: <value>` lines; the first line of a name wins. */
export function demoValues(lines) {
  const out = {};
  for (const line of lines) {
    const m = /^demo ([^:]+):\s*(.*?)\s*$/.exec(line);
    if (m && !(m[1] in out)) out[m[1]] = m[2];
  }
  return out;
}

/**
 * Runs the `mestring` CLI against the server's data dir and database, e.g.
 * `runCli(server, ['codes', 'issue', '--org', id, '--count', '1'])`.
 * Resolves to `{ code, stdout, stderr }`; never rejects on a non-zero exit.
 */
export function runCli(server, args, { timeoutMs = CLI_TIMEOUT_MS } = {}) {
  const bin = mestringBin();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: server.env, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n[e2e] killed after ${timeoutMs} ms`;
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs the CLI and rejects, with its output, unless it exits 0. */
export async function runCliOk(server, args, options) {
  const r = await runCli(server, args, options);
  if (r.code !== 0) {
    throw new Error(`mestring ${args.join(' ')} exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  }
  return r;
}

/** `mestring org create --name <name>`; resolves to the new organisation id. */
export async function createOrg(server, name = `E2E ${Date.now()}`) {
  const { stdout } = await runCliOk(server, ['org', 'create', '--name', name]);
  return stdout.trim().split('\n').at(-1).trim();
}

/**
 * `mestring codes issue`; resolves to the issued codes. Without `org`, a new
 * organisation is created for them.
 */
export async function issueCodes(server, { org, count = 1, program } = {}) {
  const orgId = org ?? (await createOrg(server));
  const args = ['codes', 'issue', '--org', orgId, '--count', String(count)];
  if (program) args.push('--program', program);
  const { stdout } = await runCliOk(server, args);
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** Launches headless Debian Chromium. Close it with `await browser.close()`. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh browser context (own cookies). `bypassCSP` is on so axe-core can be
 * injected despite the app's `default-src 'self'`; that is for the test
 * tooling only and does not change what the app sends.
 */
export function newContext(browser, options = {}) {
  // A Norwegian browser (Accept-Language: nb-NO), as most users have: the
  // first visit follows the browser's languages, so tests that expect
  // bokmål say so here rather than rely on the default.
  return browser.newContext({ bypassCSP: true, locale: 'nb-NO', ...options });
}

/** A new page in a fresh context; closing the page's context cleans up. */
export async function newPage(browser, options = {}) {
  const context = await newContext(browser, options);
  return context.newPage();
}

const AXE_PATH = require.resolve('axe-core');

/** Formats axe violations one node per line. */
export function formatViolations(violations) {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .map((n) => `    - ${n.target.join(' ')}${n.failureSummary ? `\n      ${n.failureSummary.replace(/\n/g, '\n      ')}` : ''}`)
        .join('\n');
      return `  ${v.id} [${v.impact}] ${v.help} (${v.helpUrl})\n${nodes}`;
    })
    .join('\n');
}

/** Runs axe-core on the page for the WCAG 2.0/2.1 A and AA rules. */
export async function axeViolations(page) {
  const hasAxe = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!hasAxe) {
    try {
      await page.addScriptTag({ path: AXE_PATH });
    } catch (e) {
      throw new Error(
        `could not inject axe-core into ${page.url()} (the app's CSP blocks inline scripts; ` +
          'create the page with newPage()/newContext() from lib.mjs, which set bypassCSP: true)\n' +
          e.message,
      );
    }
  }
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    WCAG_TAGS,
  );
  return result.violations;
}

/** Fails, listing every violation, unless axe finds none. */
export async function expectNoAxeViolations(page, label = page.url()) {
  const violations = await axeViolations(page);
  if (violations.length > 0) {
    throw new Error(
      `${label}: ${violations.length} axe violation(s) (${WCAG_TAGS.join(', ')}) at ${page.url()}\n` +
        formatViolations(violations),
    );
  }
}

/** Waits for the navigation `action` starts and returns its main response. */
export async function navigating(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]);
  return response;
}

/**
 * Opens /login, types `code`, submits and waits for the next page. Returns
 * the response to the form post (a redirect is followed: its final page).
 */
export async function login(page, baseUrl, code) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name=code]', code);
  return navigating(page, () => page.click('form[action="/login"] button[type=submit]'));
}

/** Logs out through the button in the header. */
export async function logout(page) {
  return navigating(page, () => page.click('form[action="/logout"] button[type=submit]'));
}

/** The path of the page's URL (`/app`, `/login`, …). */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

// Access codes: 15 Crockford base32 symbols and a Damm check symbol over
// GF(32) (see crates/domain/src/access_code.rs).
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const timesX = (c) => {
  const s = c << 1;
  return s & 0b100000 ? s ^ 0b100101 : s;
};
const damm = (values) => values.reduce((acc, d) => timesX(acc) ^ d, 0);

/**
 * A random, well-formed access code (valid check symbol) that no server has
 * issued: it passes the format check and fails the lookup.
 */
export function randomWellFormedCode() {
  const values = Array.from({ length: 15 }, () => Math.floor(Math.random() * 32));
  values.push(timesX(damm(values)));
  const s = values.map((v) => ALPHABET[v]).join('');
  return s.match(/.{4}/g).join('-');
}

/** Whether `code` has a valid check symbol (mirrors the server). */
export function isWellFormedCode(code) {
  const chars = code.replace(/[-\s]/g, '').toUpperCase();
  if (chars.length !== 16) return false;
  const values = [...chars].map((c) => ALPHABET.indexOf(c));
  return values.every((v) => v >= 0) && damm(values) === 0;
}

/**
 * One message from the app's catalogs, e.g. `message('en', 'login.failed')`
 * (crates/web/messages/<lang>/*.toml; only simple `key = "value"` lines).
 */
/**
 * A number from the domain policy (crates/domain/src/policy.rs), read from
 * the source so the tests never spell it: e.g. policyNumber('LIFETIME_YEARS').
 */
export function policyNumber(name) {
  const src = readFileSync(path.join(REPO_ROOT, 'crates', 'domain', 'src', 'policy.rs'), 'utf8');
  const m = new RegExp(`pub const ${name}: [a-z0-9]+ = ([0-9_]+);`).exec(src);
  if (!m) throw new Error(`policy constant ${name} not found`);
  return Number(m[1].replaceAll('_', ''));
}

/** The placeholders the server fills in login messages, from the policy. */
export function codeMessageArgs() {
  return {
    years: policyNumber('LIFETIME_YEARS'),
    symbols: policyNumber('DATA_SYMBOLS') + 1,
  };
}

/** A catalogue message with `{name}` placeholders filled from `args`. */
export function filledMessage(lang, key, args) {
  return message(lang, key).replace(/\{([a-z_]+)\}/g, (whole, name) =>
    name in args ? String(args[name]) : whole,
  );
}

/**
 * An issued code as staff pages show it: first and last group, the middle
 * masked (the dashboard's `mask_code`).
 */
export function masked(code) {
  const groups = code.split('-');
  return [groups[0], ...groups.slice(1, -1).map(() => '····'), groups.at(-1)].join('-');
}

export function message(lang, key) {
  const [section, name] = key.split('.');
  const dir = path.join(REPO_ROOT, 'crates', 'web', 'messages', lang);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.toml')).sort()) {
    const p = path.join(dir, file);
    if (!existsSync(p)) continue;
    let current = null;
    for (const line of readFileSync(p, 'utf8').split('\n')) {
      const sec = /^\s*\[([^\]]+)\]\s*$/.exec(line);
      if (sec) {
        current = sec[1];
        continue;
      }
      const kv = /^\s*([A-Za-z0-9_]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(line);
      if (kv && current === section && kv[1] === name) return JSON.parse(`"${kv[2]}"`);
    }
  }
  throw new Error(`message ${lang}:${key} not found in ${dir}`);
}

// TOTP (RFC 6238), as the staff login uses it: HMAC-SHA1, 30-second steps,
// 6 digits, the secret in base32 (RFC 4648).

/** Seconds per TOTP step. */
export const TOTP_STEP_SECS = 30;

/** Decodes RFC 4648 base32 (case-insensitive; padding and spaces ignored). */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The TOTP step containing `atMs` (floor(unix seconds / 30)). */
export function totpStep(atMs = Date.now()) {
  return Math.floor(atMs / 1000 / TOTP_STEP_SECS);
}

/** The 6-digit code of TOTP step `step` for a base32 secret. */
export function totpForStep(secretBase32, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * The RFC 6238 code (HMAC-SHA1, 30 s, 6 digits) at `atMs` for a base32
 * secret, e.g. `totp(demoValues['staff totp secret'])`.
 */
export function totp(secretBase32, atMs = Date.now()) {
  return totpForStep(secretBase32, totpStep(atMs));
}
