// A newcomer logs in with a demo code; the login page and /app have zero
// axe-core violations for WCAG 2.0/2.1 A and AA, in Bokmål and English.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  expectNoAxeViolations,
  isWellFormedCode,
  issueCodes,
  launchBrowser,
  login,
  logout,
  codeMessageArgs,
  filledMessage,
  message,
  navigating,
  newPage,
  pathOf,
  randomWellFormedCode,
  startServer,
} from './lib.mjs';

describe('login with a demo code', () => {
  let server;
  let browser;
  const pages = [];

  /** A page in its own context (own cookies), closed in `after`. */
  async function freshPage() {
    const page = await newPage(browser);
    pages.push(page);
    return page;
  }

  before(async () => {
    server = await startServer({ demo: true });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const page of pages) await page.context().close().catch(() => {});
    await browser?.close();
    await server?.stop();
  });

  test('the server prints a well-formed demo code', () => {
    assert.match(server.demoCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    assert.ok(isWellFormedCode(server.demoCode), 'the demo code has a valid check symbol');
  });

  test('the login page has zero axe violations', async () => {
    const page = await freshPage();
    const res = await page.goto(`${server.baseUrl}/login`);
    assert.equal(res.status(), 200);
    assert.equal(await page.getAttribute('html', 'lang'), 'nb');
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'login.title'));
    assert.equal((await page.textContent('label[for=code]')).trim(), message('nb', 'login.code_label'));
    await expectNoAxeViolations(page, 'login page (nb)');
  });

  test('a wrong code shows the generic error, and the page has zero axe violations', async () => {
    const page = await freshPage();
    const wrong = randomWellFormedCode();
    assert.notEqual(wrong, server.demoCode);
    const res = await login(page, server.baseUrl, wrong);
    assert.equal(res.status(), 422);
    assert.equal(pathOf(page), '/login');
    const alert = page.locator('[role=alert]');
    assert.equal((await alert.textContent()).trim(), filledMessage('nb', 'login.failed', codeMessageArgs()));
    assert.equal(await page.getAttribute('#code', 'aria-invalid'), 'true');
    const describedBy = (await page.getAttribute('#code', 'aria-describedby')).split(/\s+/);
    assert.ok(describedBy.includes('code-error'), `aria-describedby=${describedBy}`);
    // What was typed is kept, so it can be corrected.
    assert.equal(await page.inputValue('#code'), wrong);
    await expectNoAxeViolations(page, 'login page with the failed-login error (nb)');
    // Still not logged in.
    await page.goto(`${server.baseUrl}/app`);
    assert.equal(pathOf(page), '/login');
  });

  test('a typo in the code is caught with its own message, with zero axe violations', async () => {
    const page = await freshPage();
    // Change one symbol: the Damm check catches every single wrong symbol.
    const code = server.demoCode;
    const typo = (code[0] === 'A' ? 'B' : 'A') + code.slice(1);
    const res = await login(page, server.baseUrl, typo);
    assert.equal(res.status(), 422);
    assert.equal((await page.textContent('[role=alert]')).trim(), message('nb', 'login.check_failed'));
    await expectNoAxeViolations(page, 'login page with the check-failed error (nb)');
  });

  test('the demo code logs in, is asked about sharing once, and /app has zero axe violations', async () => {
    const page = await freshPage();
    await login(page, server.baseUrl, server.demoCode);
    // The demo code comes from an organisation: the first login asks.
    assert.equal(pathOf(page), '/consent');
    await expectNoAxeViolations(page, '/consent (nb)');
    assert.equal(await page.locator('button.choice').count(), 2);
    await navigating(page, () => page.click('button[name=choice][value=no]'));
    assert.equal(pathOf(page), '/app');
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'app.title'));
    await expectNoAxeViolations(page, '/app (nb)');
  });

  test('the demo code works typed in lower case without dashes', async () => {
    const page = await freshPage();
    const sloppy = server.demoCode.replaceAll('-', '').toLowerCase();
    await login(page, server.baseUrl, sloppy);
    assert.equal(pathOf(page), '/app');
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'app.title'));
  });

  test('a code issued with `mestring codes issue` logs in too', async () => {
    const [code] = await issueCodes(server, { count: 1 });
    assert.ok(isWellFormedCode(code), code);
    const page = await freshPage();
    await login(page, server.baseUrl, code);
    assert.equal(pathOf(page), '/consent', 'an organisation code is asked about sharing first');
  });

  test('logout ends the session', async () => {
    const page = await freshPage();
    await login(page, server.baseUrl, server.demoCode);
    assert.equal(pathOf(page), '/app');
    await logout(page);
    assert.equal(pathOf(page), '/login');
    assert.equal((await page.textContent('[role=status]')).trim(), message('nb', 'login.logged_out'));
    await expectNoAxeViolations(page, 'login page after logout (nb)');
    const cookies = await page.context().cookies();
    assert.ok(!cookies.some((c) => c.name === 'mestring_session' && c.value), `cookies: ${cookies.map((c) => c.name)}`);
    await page.goto(`${server.baseUrl}/app`);
    assert.equal(pathOf(page), '/login', '/app is closed after logout');
  });

  test('after switching to English, login page and /app have zero axe violations', async () => {
    const page = await freshPage();
    await page.goto(`${server.baseUrl}/login`);
    await navigating(page, () => page.click('nav a[hreflang=en]'));
    assert.equal(pathOf(page), '/login');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal((await page.textContent('h1')).trim(), message('en', 'login.title'));
    await expectNoAxeViolations(page, 'login page (en)');

    const wrong = await login(page, server.baseUrl, randomWellFormedCode());
    assert.equal(wrong.status(), 422);
    assert.equal((await page.textContent('[role=alert]')).trim(), filledMessage('en', 'login.failed', codeMessageArgs()));
    await expectNoAxeViolations(page, 'login page with the failed-login error (en)');

    await login(page, server.baseUrl, server.demoCode);
    assert.equal(pathOf(page), '/app');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal((await page.textContent('h1')).trim(), message('en', 'app.title'));
    await expectNoAxeViolations(page, '/app (en)');

    // And back to Bokmål from the overview.
    await navigating(page, () => page.click('nav a[hreflang=nb]'));
    assert.equal(pathOf(page), '/app');
    assert.equal(await page.getAttribute('html', 'lang'), 'nb');
  });
});
