// The user's control (issue 5): the sharing question at first login (yes
// and no), withdrawing and giving in settings, code rotation, export, and
// self-delete, with zero axe-core violations on every page.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  expectNoAxeViolations,
  issueCodes,
  launchBrowser,
  login,
  logout,
  navigating,
  newPage,
  pathOf,
  startServer,
} from './lib.mjs';

describe('sharing, code rotation, export and deletion', () => {
  let server;
  let browser;
  const pages = [];

  async function freshPage() {
    const page = await newPage(browser);
    pages.push(page);
    return page;
  }

  before(async () => {
    server = await startServer({ demo: false });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const page of pages) await page.context().close().catch(() => {});
    await browser?.close();
    await server?.stop();
  });

  test('first login: yes shares, no does not; settings change it in one step', async () => {
    const [yesCode, noCode] = await issueCodes(server, { count: 2 });

    const yes = await freshPage();
    await login(yes, server.baseUrl, yesCode);
    assert.equal(pathOf(yes), '/consent');
    await expectNoAxeViolations(yes, '/consent');
    // Two equally weighted choices: same element, same class, no default.
    assert.equal(await yes.locator('button.choice').count(), 2);
    assert.equal(await yes.locator('button.choice[autofocus], button.choice.primary').count(), 0);
    await navigating(yes, () => yes.click('button[name=choice][value=yes]'));
    assert.equal(pathOf(yes), '/app');
    await yes.goto(`${server.baseUrl}/settings`);
    await expectNoAxeViolations(yes, '/settings while sharing');
    assert.match(await yes.textContent('main'), /Du deler med/);

    // Withdraw, then give again, each in one step.
    await navigating(yes, () => yes.click('button[name=action][value=withdraw]'));
    assert.match(await yes.textContent('[role=status]'), /Du deler ikke lenger/);
    await expectNoAxeViolations(yes, '/settings after withdrawing');
    await navigating(yes, () => yes.click('button[name=action][value=give]'));
    assert.match(await yes.textContent('[role=status]'), /Du deler nå/);

    const no = await freshPage();
    await login(no, server.baseUrl, noCode);
    await navigating(no, () => no.click('button[name=choice][value=no]'));
    assert.equal(pathOf(no), '/app');
    await no.goto(`${server.baseUrl}/settings`);
    assert.match(await no.textContent('main'), /Du deler ikke/);
  });

  test('rotating the code: the new one works, the old one fails', async () => {
    const [oldCode] = await issueCodes(server, { count: 1 });
    const page = await freshPage();
    await login(page, server.baseUrl, oldCode);
    await navigating(page, () => page.click('button[name=choice][value=no]'));
    await page.goto(`${server.baseUrl}/settings/code`);
    await expectNoAxeViolations(page, '/settings/code');
    await navigating(page, () => page.click('form[action="/settings/code/new"] button'));
    const newCode = (await page.textContent('.code-display strong')).trim();
    assert.notEqual(newCode, oldCode);
    await expectNoAxeViolations(page, 'new code shown once');

    // A mistake is explained and changes nothing.
    await page.fill('input[name=code]', oldCode);
    await navigating(page, () => page.click('form[action="/settings/code/confirm"] button'));
    assert.ok(await page.locator('[role=alert]').count());
    await expectNoAxeViolations(page, 'confirmation mismatch');

    // Start over, then confirm the new code properly.
    await navigating(page, () => page.click('form[action="/settings/code/new"] button'));
    const finalCode = (await page.textContent('.code-display strong')).trim();
    await page.fill('input[name=code]', finalCode);
    await navigating(page, () => page.click('form[action="/settings/code/confirm"] button'));
    assert.equal(pathOf(page), '/settings');
    await logout(page);

    const failed = await login(page, server.baseUrl, oldCode);
    assert.equal(failed.status(), 422, 'the old code no longer works');
    await login(page, server.baseUrl, finalCode);
    assert.equal(pathOf(page), '/app', 'the new code logs in');
  });

  test('export as a page, JSON and CSV', async () => {
    const [code] = await issueCodes(server, { count: 1 });
    const page = await freshPage();
    await login(page, server.baseUrl, code);
    await navigating(page, () => page.click('button[name=choice][value=yes]'));
    await page.goto(`${server.baseUrl}/settings/export`);
    await expectNoAxeViolations(page, '/settings/export');
    assert.ok(await page.locator('table').count() >= 2);

    const json = await page.request.get(`${server.baseUrl}/settings/export.json`);
    assert.equal(json.status(), 200);
    const body = await json.json();
    assert.equal(body.format, 'mestring-export-v1');
    assert.equal(body.data.consent_events.length, 1);
    const csv = await page.request.get(`${server.baseUrl}/settings/export/scores.csv`);
    assert.equal(csv.status(), 200);
    assert.match(await csv.text(), /^completed_at,questionnaire_id,total,band_id,flags/);
  });

  test('calendar reminders: a page and a download, nothing asked', async () => {
    const [code] = await issueCodes(server, { count: 1 });
    const page = await freshPage();
    await login(page, server.baseUrl, code);
    await navigating(page, () => page.click('button[name=choice][value=no]'));
    await page.goto(`${server.baseUrl}/settings`);
    await navigating(page, () => page.click('a[href="/settings/reminders"]'));
    await expectNoAxeViolations(page, '/settings/reminders');
    assert.equal(await page.locator('input[type=email], input[type=tel]').count(), 0);
    const download = page.waitForEvent('download');
    await page.check('#weekly');
    await page.click('form[action="/settings/reminders.ics"] button[type=submit]');
    const file = await download;
    assert.equal(file.suggestedFilename(), 'reminders.ics');
  });

  test('delete everything, then the code no longer logs in', async () => {
    const [code] = await issueCodes(server, { count: 1 });
    const page = await freshPage();
    await login(page, server.baseUrl, code);
    await navigating(page, () => page.click('button[name=choice][value=yes]'));
    await page.goto(`${server.baseUrl}/settings/delete`);
    await expectNoAxeViolations(page, '/settings/delete');

    // Without the confirmation nothing happens, and the page says why.
    await navigating(page, () => page.click('form[action="/settings/delete"] button'));
    assert.ok(await page.locator('[role=alert]').count());
    await expectNoAxeViolations(page, '/settings/delete without confirmation');

    await page.check('input[name=confirm]');
    await navigating(page, () => page.click('form[action="/settings/delete"] button'));
    assert.equal(pathOf(page), '/deleted');
    await expectNoAxeViolations(page, '/deleted');

    const again = await login(page, server.baseUrl, code);
    assert.equal(again.status(), 422);
    assert.equal(pathOf(page), '/login');
  });

  test('the privacy page has zero axe violations', async () => {
    const page = await freshPage();
    await page.goto(`${server.baseUrl}/privacy`);
    await expectNoAxeViolations(page, '/privacy');
  });
});
