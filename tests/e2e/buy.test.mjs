// A private buyer: /buy → the fake Stripe's stand-in for the hosted page →
// the success page showing a code once → logging in with it. Zero axe
// violations on /buy and the success page. The fake never sees the code.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startFakeStripe } from './fake-stripe.mjs';
import {
  expectNoAxeViolations,
  isWellFormedCode,
  launchBrowser,
  login,
  message,
  navigating,
  newPage,
  pathOf,
  startServer,
} from './lib.mjs';

const WEBHOOK_SECRET = 'whsec_e2e_fake_signing_secret';

describe('buying a code', () => {
  let fake;
  let server;
  let browser;

  before(async () => {
    fake = await startFakeStripe();
    server = await startServer({
      demo: false,
      env: {
        MESTRING_STRIPE_SECRET_KEY: 'sk_test_e2e_fake_key',
        MESTRING_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        MESTRING_STRIPE_API_BASE: fake.baseUrl,
      },
    });
    fake.setWebhook(`${server.baseUrl}/stripe/webhook`, WEBHOOK_SECRET);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.close();
  });

  test('from /buy through payment to a code that logs in', async () => {
    const page = await newPage(browser);
    const res = await page.goto(`${server.baseUrl}/buy`);
    assert.equal(res.status(), 200);
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'buy.title'));
    await expectNoAxeViolations(page, '/buy (nb)');

    await page.check('input[name=program][value=angst]');
    await navigating(page, () => page.click('form[action="/buy"] button[type=submit]'));
    assert.ok(page.url().startsWith(`${fake.baseUrl}/pay/cs_test_`), `on the hosted page: ${page.url()}`);

    const done = await navigating(page, () => page.click('#pay'));
    assert.equal(done.status(), 200);
    assert.equal(pathOf(page), '/buy/done');
    assert.deepEqual(fake.webhookStatuses(), [200], 'the signed webhook was accepted');
    const code = (await page.textContent('#bought-code')).trim();
    assert.ok(isWellFormedCode(code), `a well-formed code: ${code}`);
    await expectNoAxeViolations(page, 'success page (nb)');

    // Shown once: reloading says so and shows no code.
    await page.reload();
    assert.equal(await page.$('#bought-code'), null);
    assert.ok((await page.textContent('main')).includes(message('nb', 'buy.done_already')));
    await page.context().close();

    // The code logs in like any code without an organisation.
    const user = await newPage(browser);
    await login(user, server.baseUrl, code);
    assert.notEqual(pathOf(user), '/login', 'logged in');
    await user.context().close();

    // Stripe never saw the code.
    const plain = code.replaceAll('-', '');
    for (const r of fake.requests) {
      assert.ok(!r.body.includes(code) && !r.body.includes(plain) && !r.path.includes(plain), `${r.method} ${r.path}`);
    }
    const created = [...fake.sessions.values()][0];
    assert.equal(created.amount, 49_000);
    assert.equal(created.customerEmail, null, 'no e-mail typed, none sent');
  });
});
