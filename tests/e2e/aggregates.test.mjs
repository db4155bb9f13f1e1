// Group data (issue 11): `mestring seed --channel` fills a channel with two
// organisations of synthetic users and prints a tool manager's login; the
// tool manager logs in (password and TOTP), lands on the channel view, sees
// its tables, charts and deletion records without a pseudonym, downloads
// the CSV, and gets 404 on the organisation's pages. The channel view and
// the login pages have zero axe-core violations (WCAG 2.0/2.1 A and AA).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  expectNoAxeViolations,
  launchBrowser,
  message,
  navigating,
  newPage,
  pathOf,
  runCliOk,
  startServer,
  totp,
} from './lib.mjs';

describe('a tool manager and the channel view', () => {
  let server;
  let browser;
  let page;
  let manager;

  before(async () => {
    server = await startServer({ demo: false });
    browser = await launchBrowser();
    const { stdout } = await runCliOk(server, [
      'seed', '--accounts', '120', '--weeks', '26', '--orgs', '2', '--channel', 'helsenorge',
    ]);
    const value = (name) => {
      const line = stdout.split('\n').find((l) => l.startsWith(`${name}: `));
      assert.ok(line, `seed printed "${name}":\n${stdout}`);
      return line.slice(name.length + 2).trim();
    };
    manager = {
      email: value('tool manager email'),
      password: value('tool manager password'),
      secret: value('tool manager totp secret'),
    };
    page = await newPage(browser, { acceptDownloads: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('logs in with password and TOTP and lands on the channel view', async () => {
    await page.goto(`${server.baseUrl}/staff/login`);
    await page.fill('input[name=email]', manager.email);
    await page.fill('input[name=password]', manager.password);
    await navigating(page, () => page.click('form[action="/staff/login"] button[type=submit]'));
    assert.equal(await page.locator('input[name=totp]').count(), 1);
    await page.fill('input[name=totp]', totp(manager.secret));
    await navigating(page, () => page.click('form[action="/staff/login"] button[type=submit]'));
    assert.equal(pathOf(page), '/dashboard/channel');
  });

  test('the channel view shows tables, charts and deletion records, accessibly', async () => {
    const h1 = (await page.textContent('h1')).trim();
    assert.ok(h1.includes('helsenorge'), h1);
    assert.equal(await page.locator('table#ch-users').count(), 1);
    assert.equal(await page.locator('table#ch-started').count(), 1);
    assert.ok((await page.locator('svg.bars[role=img]').count()) > 5, 'a chart beside the tables');
    // Each chart is named by its own title and the page's one note on
    // charts: every id it names exists, and the note is on the page.
    const names = await page.locator('svg.bars').evaluateAll((svgs) =>
      svgs.map((svg) =>
        svg
          .getAttribute('aria-labelledby')
          .split(' ')
          .map((id) => document.getElementById(id)?.textContent.trim() ?? null),
      ),
    );
    for (const [title, note] of names) {
      assert.ok(title, 'a chart has its title');
      assert.match(note ?? '', /Søylene viser summen per kolonne/);
    }
    assert.equal(await page.locator('table#per-org tbody tr').count(), 2, 'two organisations');
    // No published count describes 1 to 4 people.
    const numbers = await page.locator('table td').allTextContents();
    for (const t of numbers.map((s) => s.trim()).filter((s) => /^\d+$/.test(s))) {
      assert.ok(!(Number(t) >= 1 && Number(t) <= 4), `a cell shows ${t}`);
    }
    // Deletion records: organisation and date only.
    const rows = await page.locator('table#deletion-records tbody tr').allTextContents();
    for (const r of rows) assert.match(r.trim(), /^Syntetisk klinikk \d+\s*\d{4}-\d{2}-\d{2}$/);
    assert.equal(
      (await page.locator('nav.staff a[href="/dashboard"]').count()),
      0,
      'no link to the organisation pages',
    );
    await expectNoAxeViolations(page, '/dashboard/channel');
  });

  test('downloads the CSV with the same suppressed values', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click(`a[href="/dashboard/channel.csv"]`),
    ]);
    const text = readFileSync(await download.path(), 'utf8');
    const lines = text.trim().split(/\r?\n/);
    assert.equal(lines[0], 'measure,scope,row,column,value');
    assert.ok(lines.length > 100, `${lines.length} lines`);
    for (const line of lines.slice(1)) {
      const value = line.split(',').at(-1);
      assert.ok(value !== '', `never blank: ${line}`);
      if (/^\d+$/.test(value)) assert.ok(!(Number(value) >= 1 && Number(value) <= 4), line);
      else assert.ok(['suppressed', 'too-few-users', 'refused'].includes(value), line);
    }
    assert.ok(lines.some((l) => l.startsWith('users,"channel:helsenorge"')), 'the channel scope');
  });

  test('the organisation pages are 404 for a tool manager', async () => {
    for (const path of ['/dashboard', '/dashboard/aggregates', '/dashboard/access-log', '/dashboard/deletions']) {
      const res = await page.goto(`${server.baseUrl}${path}`);
      assert.equal(res.status(), 404, path);
    }
    const res = await page.goto(`${server.baseUrl}/dashboard/profile`);
    assert.equal(res.status(), 200);
    assert.ok((await page.textContent('main')).includes(message('nb', 'dashboard.role_tool_manager')));
  });
});
