// OpenID Connect in the browser (docs/oidc.md), against the OpenID
// Certified test provider in tests/oidc-provider: a citizen launched from
// the portal reaches /app under the portal's pseudonym; a refused launch
// (a token with a national identity number) gets a clear page; a
// clinician whose HPR number the superuser entered logs in with HelseID
// and reaches /dashboard. Zero axe violations on every new page.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  REPO_ROOT,
  expectNoAxeViolations,
  freePort,
  launchBrowser,
  message,
  navigating,
  newPage,
  pathOf,
  runCliOk,
  startServer,
  totp,
} from './lib.mjs';

const CHANNEL = 'helsenorge';

/** Starts the test provider for an app at `appBase`; resolves to its issuer. */
function startProvider(appBase) {
  const child = spawn('node', ['server.mjs', '--app', appBase, '--channel', CHANNEL], {
    cwd: path.join(REPO_ROOT, 'tests', 'oidc-provider'),
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buf += chunk;
      const m = /^issuer (\S+)\n/.exec(buf);
      if (m) resolve({ issuer: m[1], stop: () => child.kill('SIGKILL') });
    });
    child.on('exit', (code) => reject(new Error(`test provider exited (${code}); run npm ci in tests/oidc-provider`)));
  });
}

describe('OpenID Connect logins', () => {
  let provider;
  let server;
  let browser;

  before(async () => {
    const port = await freePort();
    provider = await startProvider(`http://127.0.0.1:${port}`);
    server = await startServer({
      demo: true,
      port,
      env: {
        MESTRING_OIDC_LAUNCH_CHANNEL: CHANNEL,
        MESTRING_OIDC_LAUNCH_ISSUER: provider.issuer,
        MESTRING_OIDC_LAUNCH_CLIENT_ID: 'mestring-portal',
        MESTRING_OIDC_LAUNCH_CLIENT_SECRET: 'portal-test-secret-0123456789abcdef',
        MESTRING_OIDC_HELSEID_ISSUER: provider.issuer,
        MESTRING_OIDC_HELSEID_CLIENT_ID: 'mestring-helseid',
        MESTRING_OIDC_HELSEID_CLIENT_SECRET: 'helseid-test-secret-0123456789abcdef',
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    provider?.stop();
  });

  /** At the provider's login form: log in as a test account. */
  async function providerLogin(page, account) {
    assert.ok(page.url().startsWith(`${provider.issuer}/interaction/`), `at the provider: ${page.url()}`);
    await page.fill('#account', account);
    await navigating(page, () => page.click('button[type=submit]'));
  }

  test('a citizen launched from the portal reaches /app; a token with a national id is refused', async () => {
    await runCliOk(server, ['channel', 'create', CHANNEL, '--name', 'Helsenorge']);
    const { stdout } = await runCliOk(server, ['org', 'create', '--name', 'Legekontor Nord', '--channel', CHANNEL]);
    const org = stdout.trim().split('\n').at(-1).trim();

    const page = await newPage(browser);
    await page.goto(`${server.baseUrl}/launch/${CHANNEL}?org=${org}&program=angst`);
    await providerLogin(page, 'citizen-1');
    // From an organisation: the consent question first, then the app.
    assert.equal(pathOf(page), '/consent');
    await expectNoAxeViolations(page, '/consent after a portal launch');
    await navigating(page, () => page.click('form[action="/consent"] button[name=choice][value=yes]'));
    assert.equal(pathOf(page), '/app');
    await expectNoAxeViolations(page, '/app after a portal launch');

    // The code page explains the portal and offers a code for outside it.
    await page.goto(`${server.baseUrl}/settings/code`);
    assert.ok((await page.textContent('main')).includes(message('nb', 'oidc.launched_code')));
    await expectNoAxeViolations(page, '/settings/code (launched)');
    await page.goto(`${server.baseUrl}/settings/delete`);
    assert.ok((await page.textContent('main')).includes(message('nb', 'oidc.launched_delete')));
    await expectNoAxeViolations(page, '/settings/delete (launched)');
    await page.context().close();

    const refused = await newPage(browser);
    await refused.goto(`${server.baseUrl}/launch/${CHANNEL}`);
    const res = await navigating(refused, async () => {
      await refused.fill('#account', 'with-pid');
      await refused.click('button[type=submit]');
    });
    assert.equal(res.status(), 403);
    assert.equal((await refused.textContent('h1')).trim(), message('nb', 'oidc.refused_title'));
    assert.equal((await refused.textContent('[role=alert]')).trim(), message('nb', 'oidc.refused_identity'));
    await expectNoAxeViolations(refused, 'refused launch page');
    await refused.context().close();
  });

  test('a clinician whose HPR number the superuser entered logs in with HelseID', async () => {
    const v = server.demoValues;
    const boss = await newPage(browser);
    await boss.goto(`${server.baseUrl}/staff/login`);
    await boss.fill('input[name=email]', v['staff email']);
    await boss.fill('input[name=password]', v['staff password']);
    await navigating(boss, () => boss.click('form[action="/staff/login"] button[type=submit]'));
    await boss.fill('input[name=totp]', totp(v['staff totp secret']));
    await navigating(boss, () => boss.click('form[action="/staff/login"] button[type=submit]'));
    assert.equal(pathOf(boss), '/dashboard', 'the superuser is in');

    await boss.goto(`${server.baseUrl}/dashboard/staff`);
    await boss.fill('#name', 'Kari Klinikar');
    await boss.fill('#email', 'kari.klinikar@example.org');
    await navigating(boss, () => boss.click('form[action="/dashboard/staff"] button[type=submit]'));
    await boss.goto(`${server.baseUrl}/dashboard/staff`);
    await navigating(boss, () => boss.click('a[href$="/edit"]'));
    await expectNoAxeViolations(boss, 'staff edit page with the HPR field');
    await boss.fill('#hpr', '1234567');
    await navigating(boss, () => boss.click('form[action$="/hpr"] button[type=submit]'));
    assert.equal(pathOf(boss), '/dashboard/staff');
    await boss.context().close();

    const page = await newPage(browser);
    await page.goto(`${server.baseUrl}/staff/login`);
    await expectNoAxeViolations(page, '/staff/login with HelseID');
    await navigating(page, () => page.click(`a:has-text("${message('nb', 'oidc.helseid_button')}")`));
    await providerLogin(page, 'clinician-ok');
    assert.equal(pathOf(page), '/dashboard', 'logged in with HelseID');
    await expectNoAxeViolations(page, '/dashboard after HelseID');
    await page.context().close();

    // Too low an assurance level: a clear page.
    const low = await newPage(browser);
    await low.goto(`${server.baseUrl}/staff/login/helseid`);
    const res = await navigating(low, async () => {
      await low.fill('#account', 'clinician-low');
      await low.click('button[type=submit]');
    });
    assert.equal(res.status(), 403);
    assert.equal((await low.textContent('[role=alert]')).trim(), message('nb', 'oidc.helseid_low_assurance'));
    await expectNoAxeViolations(low, 'refused HelseID page');
    await low.context().close();
  });
});
