// The clinician dashboard (issue 6), one journey: the demo superuser
// invites a clinician, who chooses a password and enrols TOTP from the
// e-mailed link; the clinician issues a code; a user logs in with it,
// shares and completes a PHQ-9; the clinician sees the result; the user
// withdraws and the clinician's page shows nothing; the user sees the view
// in their access log; the superuser reads the access log and the deletion
// records. Every page visited has zero axe-core violations for WCAG 2.0/2.1
// A and AA.
//
// The tests below are steps of one journey and share its state: each needs
// the ones before it.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  TOTP_STEP_SECS,
  expectNoAxeViolations,
  launchBrowser,
  login,
  masked,
  message,
  navigating,
  newPage,
  pathOf,
  startServer,
  totpForStep,
  totpStep,
} from './lib.mjs';

const PHQ9_ITEMS = Array.from({ length: 9 }, (_, i) => `phq9-${i + 1}`);
/** Answers to items 1–9: total 8, nothing on item 9 (no crisis flag). */
const PHQ9_ANSWERS = [1, 1, 1, 1, 1, 1, 1, 1, 0];
const PHQ9_TOTAL = PHQ9_ANSWERS.reduce((a, b) => a + b, 0);
const DEMO_ORG = 'Demoklinikken';
const CLINICIAN = { name: 'Kari Fagperson', email: 'kari.fagperson@klinikk.example' };
const CLINICIAN_PASSWORD = 'en lang setning om fjellturer i regnvær';
const PROGRAM = 'nedstemthet';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every file under `dir`, recursively. */
function filesUnder(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(filesUnder(p));
    else out.push(p);
  }
  return out;
}

/**
 * The `.eml` files of the file outbox (`DATA_DIR/outbox`, found anywhere
 * under the data dir), with quoted-printable soft line breaks and `=3D`
 * undone so links read whole.
 */
function outboxMails(dataDir) {
  return filesUnder(dataDir)
    .filter((p) => p.endsWith('.eml') && p.split(path.sep).includes('outbox'))
    .map((p) => readFileSync(p, 'utf8').replace(/=\r?\n/g, '').replace(/=3D/gi, '='));
}

describe('the clinician dashboard', () => {
  let server;
  let browser;
  const pages = [];
  /** The last TOTP step used per secret: a step is never accepted twice. */
  const usedSteps = new Map();

  // Journey state, filled in step by step.
  let demo; // { email, password, secret }
  let boss; // the demo superuser's page
  let clinician; // the clinician's page
  let clinicianSecret;
  let inviteLink;
  let code; // the code the clinician issued
  let user; // the user's page
  let userPagePath; // /dashboard/users/{id}
  let band; // the PHQ-9 band label the user saw

  /** Set when a step fails: the later steps depend on it and are skipped. */
  let broken = null;

  /** One step of the journey: skipped once an earlier step has failed. */
  function step(name, fn) {
    test(name, async (t) => {
      if (broken) {
        t.skip(`needs the failed step "${broken}"`);
        return;
      }
      try {
        await fn(t);
      } catch (e) {
        broken = name;
        throw e;
      }
    });
  }

  async function freshPage() {
    const page = await newPage(browser);
    pages.push(page);
    return page;
  }

  /**
   * A TOTP code for `secret` that the server accepts now and that is newer
   * than any step used before: the current step, or the next one (within the
   * server's ±1 step window) when the current step is used up; waits for
   * the next step only if even that is used up.
   */
  async function freshTotp(secret) {
    const last = usedSteps.get(secret) ?? -Infinity;
    while (last + 1 > totpStep() + 1) {
      const nextStepAt = (totpStep() + 1) * TOTP_STEP_SECS * 1000;
      await sleep(nextStepAt - Date.now() + 50);
    }
    const step = Math.max(totpStep(), last + 1);
    usedSteps.set(secret, step);
    return totpForStep(secret, step);
  }

  /** A six-digit code that is wrong for every step the server would accept. */
  function wrongTotp(secret) {
    const now = totpStep();
    const valid = new Set([now - 1, now, now + 1, now + 2].map((s) => totpForStep(secret, s)));
    for (let n = 0; ; n++) {
      const c = String(n).padStart(6, '0');
      if (!valid.has(c)) return c;
    }
  }

  /**
   * Both steps of /staff/login, checking each page; ends on /dashboard.
   * With `wrongCodeFirst`, a wrong TOTP code is tried first and must fail
   * with the one generic message, the login staying at the TOTP step.
   */
  async function staffLogin(page, { email, password, secret }, label, { wrongCodeFirst = false } = {}) {
    await page.goto(`${server.baseUrl}/staff/login`);
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'dashboard.login_title'));
    await expectNoAxeViolations(page, `/staff/login (${label})`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await navigating(page, () => page.click('form[action="/staff/login"] button[type=submit]'));
    assert.equal(pathOf(page), '/staff/login');
    assert.equal(await page.locator('input[name=totp]').count(), 1, `${label}: the TOTP step`);
    await expectNoAxeViolations(page, `/staff/login, TOTP step (${label})`);
    if (wrongCodeFirst) {
      await page.fill('input[name=totp]', wrongTotp(secret));
      const failed = await navigating(page, () => page.click('form[action="/staff/login"] button[type=submit]'));
      assert.equal(failed.status(), 422);
      assert.equal((await page.textContent('[role=alert]')).trim(), message('nb', 'dashboard.login_failed'));
      assert.equal(await page.getAttribute('#totp', 'aria-invalid'), 'true');
      await expectNoAxeViolations(page, `/staff/login with a wrong code (${label})`);
    }
    await page.fill('input[name=totp]', await freshTotp(secret));
    await navigating(page, () => page.click('form[action="/staff/login"] button[type=submit]'));
    assert.equal(pathOf(page), '/dashboard', `${label}: logged in`);
  }

  before(async () => {
    server = await startServer({ demo: true });
    // The staff lines are printed just after "Log in at …".
    for (let i = 0; i < 100 && !server.demoValues['staff totp secret']; i++) await sleep(100);
    const v = server.demoValues;
    assert.ok(v['staff totp secret'], `demo staff printed:\n${server.stdoutLines.join('\n')}`);
    demo = { email: v['staff email'], password: v['staff password'], secret: v['staff totp secret'] };
    browser = await launchBrowser();
  });

  after(async () => {
    for (const page of pages) await page.context().close().catch(() => {});
    await browser?.close();
    await server?.stop();
  });

  step('the superuser logs in in two steps and invites a clinician by e-mail', async () => {
    boss = await freshPage();

    await staffLogin(boss, demo, 'superuser', { wrongCodeFirst: true });
    assert.equal((await boss.textContent('h1')).trim(), message('nb', 'dashboard.title'));
    assert.equal(await boss.locator('main a[href="/dashboard/staff"]').count(), 1, 'superuser links');
    await expectNoAxeViolations(boss, '/dashboard (superuser)');

    await navigating(boss, () => boss.click('main a[href="/dashboard/staff"]'));
    assert.equal(pathOf(boss), '/dashboard/staff');
    assert.equal((await boss.textContent('h1')).trim(), message('nb', 'dashboard.staff_title'));
    await expectNoAxeViolations(boss, '/dashboard/staff');

    // A bad address is explained and nothing is sent.
    await boss.fill('#name', CLINICIAN.name);
    await boss.fill('#email', 'ikke-en-adresse');
    const bad = await navigating(boss, () => boss.click('form[action="/dashboard/staff"] button[type=submit]'));
    assert.equal(bad.status(), 422);
    assert.equal((await boss.textContent('main [role=alert]')).trim(), message('nb', 'dashboard.invite_bad_email'));
    await expectNoAxeViolations(boss, '/dashboard/staff with an error');
    assert.equal(outboxMails(server.dataDir).length, 0);

    await boss.fill('#name', CLINICIAN.name);
    await boss.fill('#email', CLINICIAN.email);
    await navigating(boss, () => boss.click('form[action="/dashboard/staff"] button[type=submit]'));
    assert.equal(pathOf(boss), '/dashboard/staff');
    assert.equal((await boss.textContent('main [role=status]')).trim(), message('nb', 'dashboard.invite_sent'));
    const row = boss.locator('main table tbody tr', { hasText: CLINICIAN.name });
    assert.match(await row.textContent(), new RegExp(message('nb', 'dashboard.staff_invited')));
    await expectNoAxeViolations(boss, '/dashboard/staff after inviting');

    const mails = outboxMails(server.dataDir);
    assert.equal(mails.length, 1, 'one e-mail in the outbox');
    assert.ok(mails[0].includes(CLINICIAN.email), 'to the clinician');
    assert.ok(mails[0].includes(DEMO_ORG), 'names the organisation');
    const link = /https?:\/\/[^\s"<>]*\/staff\/invite\/[0-9a-f]{64}/.exec(mails[0]);
    assert.ok(link, `an invitation link in:\n${mails[0]}`);
    inviteLink = link[0];
    assert.ok(inviteLink.startsWith(server.baseUrl), inviteLink);
  });

  step('the clinician chooses a password and enrols TOTP from the link, then logs in', async () => {
    clinician = await freshPage();
    const shown = await clinician.goto(inviteLink);
    assert.equal(shown.status(), 200);
    assert.equal((await clinician.textContent('h1')).trim(), message('nb', 'dashboard.invite_title'));
    assert.match(await clinician.textContent('main'), new RegExp(CLINICIAN.name));
    await expectNoAxeViolations(clinician, 'invitation: choose a password');

    // Too short: explained, and the field is marked.
    await clinician.fill('#password', 'kort');
    await clinician.fill('#password_repeat', 'kort');
    const short = await navigating(clinician, () => clinician.click('main form button[type=submit]'));
    assert.equal(short.status(), 422);
    assert.equal((await clinician.textContent('[role=alert]')).trim(), message('nb', 'dashboard.password_too_short'));
    assert.equal(await clinician.getAttribute('#password', 'aria-invalid'), 'true');
    await expectNoAxeViolations(clinician, 'invitation: password too short');

    await clinician.fill('#password', CLINICIAN_PASSWORD);
    await clinician.fill('#password_repeat', CLINICIAN_PASSWORD);
    await navigating(clinician, () => clinician.click('main form button[type=submit]'));
    assert.equal(pathOf(clinician), `${new URL(inviteLink).pathname}/totp`);
    assert.equal((await clinician.textContent('h1')).trim(), message('nb', 'dashboard.totp_title'));
    assert.equal(await clinician.locator('main figure svg').count(), 1, 'a QR code');
    clinicianSecret = (await clinician.textContent('#totp-secret')).trim();
    assert.match(clinicianSecret, /^[A-Z2-7]{32}$/, 'a 160-bit base32 secret');
    await expectNoAxeViolations(clinician, 'invitation: set up TOTP');

    // A wrong code is refused and explained.
    await clinician.fill('#totp', wrongTotp(clinicianSecret));
    const wrong = await navigating(clinician, () => clinician.click('main form button[type=submit]'));
    assert.equal(wrong.status(), 422);
    assert.equal((await clinician.textContent('[role=alert]')).trim(), message('nb', 'dashboard.totp_wrong'));
    assert.equal((await clinician.textContent('#totp-secret')).trim(), clinicianSecret, 'the same secret');
    await expectNoAxeViolations(clinician, 'invitation: wrong TOTP code');

    await clinician.fill('#totp', await freshTotp(clinicianSecret));
    await navigating(clinician, () => clinician.click('main form button[type=submit]'));
    assert.equal(pathOf(clinician), '/staff/login');
    assert.equal((await clinician.textContent('main [role=status]')).trim(), message('nb', 'dashboard.activated'));
    await expectNoAxeViolations(clinician, '/staff/login?activated=true');

    // The link works once.
    const again = await (await freshPage()).goto(inviteLink);
    assert.equal(again.status(), 404);

    // The code used at enrolment is used up: freshTotp takes a newer step.
    await staffLogin(
      clinician,
      { email: CLINICIAN.email, password: CLINICIAN_PASSWORD, secret: clinicianSecret },
      'clinician',
    );
    assert.match(await clinician.textContent('main'), new RegExp(escapeRe(CLINICIAN.name)));
    assert.equal(await clinician.locator('main a[href="/dashboard/staff"]').count(), 0, 'not a superuser');
    assert.equal(await clinician.locator('main table').count(), 1, 'the demo code is listed');
    await expectNoAxeViolations(clinician, '/dashboard (clinician)');
  });

  step('the clinician issues a code and gets a printable sheet', async () => {
    await clinician.selectOption('#program', PROGRAM);
    const programTitle = (await clinician.textContent(`#program option[value=${PROGRAM}]`)).trim();
    await clinician.fill('#count', '1');
    await navigating(clinician, () => clinician.click('form[action="/dashboard/codes"] button[type=submit]'));
    assert.match(pathOf(clinician), /^\/dashboard\/sheets\/[^/]+$/);
    assert.equal((await clinician.textContent('h1')).trim(), message('nb', 'dashboard.sheet_title'));
    const slips = clinician.locator('main .slip');
    assert.equal(await slips.count(), 1, 'one slip');
    assert.equal((await slips.locator('h2').textContent()).trim(), message('nb', 'dashboard.slip_heading'));
    assert.ok((await slips.textContent()).includes(programTitle), `the slip names ${programTitle}`);
    code = (await slips.locator('.code code').textContent()).trim();
    assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    await expectNoAxeViolations(clinician, 'code sheet');

    await clinician.goto(`${server.baseUrl}/dashboard`);
    const row = clinician.locator('main table tbody tr', { hasText: masked(code) });
    assert.equal(await row.count(), 1);
    assert.match(await row.textContent(), new RegExp(message('nb', 'dashboard.status_unused')));
    assert.equal(await row.locator('a').count(), 0, 'no user page before sharing');
  });

  step('the user logs in with the code, shares and completes a PHQ-9', async () => {
    user = await freshPage();
    await login(user, server.baseUrl, code);
    assert.equal(pathOf(user), '/consent');
    assert.match(await user.textContent('main'), new RegExp(DEMO_ORG));
    await expectNoAxeViolations(user, '/consent');
    await navigating(user, () => user.click('button[name=choice][value=yes]'));
    assert.equal(pathOf(user), '/app');
    await expectNoAxeViolations(user, '/app');

    await user.goto(`${server.baseUrl}/app/questionnaires/phq9`);
    await expectNoAxeViolations(user, 'PHQ-9');
    for (const [i, item] of PHQ9_ITEMS.entries()) await user.check(`#${item}-${PHQ9_ANSWERS[i]}`);
    await navigating(user, () => user.click('main form button[type=submit]'));
    assert.match(pathOf(user), /^\/app\/results\/[^/]+$/);
    assert.equal((await user.textContent('#score strong')).trim(), String(PHQ9_TOTAL));
    band = (await user.textContent('main .band')).trim();
    assert.ok(band);
    await expectNoAxeViolations(user, 'PHQ-9 result');
  });

  step('the clinician opens the user from the overview and sees the PHQ-9 result', async () => {
    await clinician.goto(`${server.baseUrl}/dashboard`);
    const row = clinician.locator('main table tbody tr', { hasText: masked(code) });
    assert.match(await row.textContent(), /Deler til \d{2}\.\d{2}\.\d{4}/);
    await expectNoAxeViolations(clinician, '/dashboard with a sharing user');

    // Found by search, typed the way a patient might read it out.
    await clinician.fill('#q', code.toLowerCase().replace(/-/g, ' '));
    await navigating(clinician, () => clinician.click('form[role=search] button[type=submit]'));
    assert.equal(pathOf(clinician), '/dashboard');
    assert.equal(await clinician.locator('main table tbody tr').count(), 1, 'one match');
    assert.equal((await row.locator('code').textContent()).trim(), masked(code));
    await expectNoAxeViolations(clinician, '/dashboard search result');

    await navigating(clinician, () => row.locator('a').click());
    userPagePath = pathOf(clinician);
    assert.match(userPagePath, /^\/dashboard\/users\/[^/]+$/);
    assert.equal((await clinician.textContent('h1 code')).trim(), masked(code), 'the pseudonym is the issued code, masked');
    const main = await clinician.textContent('main');
    assert.match(main, /Brukeren deler data med virksomheten til \d{2}\.\d{2}\.\d{4}/);
    assert.ok(main.includes(message('nb', 'dashboard.progress_heading')));

    const results = clinician.locator('main section[aria-labelledby=results-heading]');
    assert.match(await results.locator('h3').textContent(), /PHQ-9/);
    const cells = await results.locator('table tbody tr td').allTextContents();
    assert.equal(cells.length, 4, `one result: ${cells}`);
    assert.match(cells[0], /^\d{2}\.\d{2}\.\d{4}$/);
    assert.equal(cells[1].trim(), String(PHQ9_TOTAL), 'the total');
    assert.ok(band.includes(cells[2].trim()), `band ${cells[2]} as the user saw it: ${band}`);
    assert.equal(cells[3].trim(), '', 'no item-9 flag');
    assert.equal(await clinician.locator('main [role=alert]').count(), 0, 'no item-9 warning');
    assert.equal(await results.locator('svg[role=img]').count(), 1, 'the chart');
    await expectNoAxeViolations(clinician, 'user page while sharing');

    // The printable summary for the journal: no code, not even masked.
    await navigating(clinician, () => clinician.click(`a[href="${userPagePath}/summary"]`));
    assert.equal((await clinician.textContent('h1')).trim(), message('nb', 'dashboard.summary_title'));
    assert.equal(await clinician.locator('main code').count(), 0, 'no pseudonym');
    assert.ok(!(await clinician.textContent('main')).includes(masked(code).slice(-4)));
    assert.ok((await clinician.textContent('main table')).includes(String(PHQ9_TOTAL)));
    await expectNoAxeViolations(clinician, 'journal summary');

    // The overview filtered to sharing users and sorted by PHQ-9.
    await clinician.goto(`${server.baseUrl}/dashboard`);
    await clinician.selectOption('#filter', 'sharing');
    await clinician.selectOption('#sort', 'phq9');
    await navigating(clinician, () => clinician.click('form.view button[type=submit]'));
    assert.equal(await clinician.locator('main table tbody tr').count(), 1, 'the one sharing user');
    const cellsNow = await clinician.locator('main table tbody tr td').allTextContents();
    assert.ok(cellsNow.some((c) => c.startsWith(`${PHQ9_TOTAL} (`)), `PHQ-9 column: ${cellsNow}`);
    await expectNoAxeViolations(clinician, '/dashboard filtered and sorted');
    await clinician.goto(`${server.baseUrl}${userPagePath}`);
  });

  step('the user withdraws; the clinician sees nothing of the user any more', async () => {
    await user.goto(`${server.baseUrl}/settings`);
    await expectNoAxeViolations(user, '/settings while sharing');
    await navigating(user, () => user.click('button[name=action][value=withdraw]'));
    assert.equal(pathOf(user), '/settings');
    assert.match(await user.textContent('[role=status]'), /Du deler ikke lenger/);
    await expectNoAxeViolations(user, '/settings after withdrawing');

    await clinician.reload();
    assert.equal(pathOf(clinician), userPagePath);
    assert.equal((await clinician.textContent('main [role=status]')).trim(), message('nb', 'dashboard.not_sharing'));
    assert.equal((await clinician.textContent('h1 code')).trim(), masked(code));
    assert.equal(await clinician.locator('main section, main table, main svg, main dl').count(), 0, 'nothing else');
    const main = await clinician.textContent('main');
    assert.ok(!main.includes('PHQ-9'), 'no results');
    assert.ok(!main.includes(message('nb', 'dashboard.progress_heading')));
    await expectNoAxeViolations(clinician, 'user page after withdrawal');

    await clinician.goto(`${server.baseUrl}/dashboard`);
    const row = clinician.locator('main table tbody tr', { hasText: masked(code) });
    assert.match(await row.textContent(), new RegExp(message('nb', 'dashboard.status_withdrawn')));
    assert.equal(await row.locator('a').count(), 0, 'no link to the user page');
    await expectNoAxeViolations(clinician, '/dashboard after withdrawal');
  });

  step('the user sees each view in "when your data was seen": the organisation and time', async () => {
    await user.goto(`${server.baseUrl}/settings`);
    const heading = user.locator('main h3', { hasText: message('nb', 'consent.views_heading') });
    assert.equal(await heading.count(), 1);
    const views = await user
      .locator(`xpath=//main//h3[normalize-space()="${message('nb', 'consent.views_heading')}"]/following-sibling::ul[1]/li`)
      .allTextContents();
    // Opened while sharing, its journal summary, opened again, and once
    // more after withdrawing: every opening is logged.
    assert.equal(views.length, 4, `views: ${views}`);
    for (const v of views) assert.match(v.trim(), new RegExp(`^\\d{2}\\.\\d{2}\\.\\d{4} \\d{2}:\\d{2}: ${DEMO_ORG}$`));
    const main = await user.textContent('main');
    assert.ok(!main.includes(CLINICIAN.name), 'never the person');
    await expectNoAxeViolations(user, '/settings with views');
  });

  step("the superuser's access log and deletion records", async () => {
    await boss.goto(`${server.baseUrl}/dashboard`);
    await navigating(boss, () => boss.click('main a[href="/dashboard/access-log"]'));
    assert.equal(pathOf(boss), '/dashboard/access-log');
    assert.equal((await boss.textContent('h1')).trim(), message('nb', 'dashboard.access_log_title'));
    const rows = await boss.locator('main table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
    );
    assert.equal(rows.length, 4, `log: ${JSON.stringify(rows)}`);
    for (const [at, who, pseudonym] of rows) {
      assert.match(at, /^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}$/);
      assert.equal(who, CLINICIAN.name);
      assert.equal(pseudonym, masked(code));
    }
    await expectNoAxeViolations(boss, '/dashboard/access-log');

    await navigating(boss, () => boss.click('nav.staff a[href="/dashboard/deletions"]'));
    assert.equal(pathOf(boss), '/dashboard/deletions');
    assert.equal((await boss.textContent('h1')).trim(), message('nb', 'dashboard.deletions_title'));
    assert.ok((await boss.textContent('main')).includes(message('nb', 'dashboard.nothing_yet')));
    await expectNoAxeViolations(boss, '/dashboard/deletions');

    // Clinicians have neither page.
    assert.equal((await clinician.goto(`${server.baseUrl}/dashboard/access-log`)).status(), 404);
    await expectNoAxeViolations(clinician, '404 for a clinician');
    assert.equal((await clinician.goto(`${server.baseUrl}/dashboard/staff`)).status(), 404);
  });

  step('a clinician sees and corrects their own data on "Min profil"', async () => {
    await clinician.goto(`${server.baseUrl}/dashboard`);
    await navigating(clinician, () => clinician.click('nav.staff a[href="/dashboard/profile"]'));
    assert.equal((await clinician.textContent('h1')).trim(), message('nb', 'dashboard.profile_title'));
    const held = await clinician.textContent('main dl');
    assert.ok(held.includes(CLINICIAN.email) && held.includes(CLINICIAN.name), held);
    assert.ok((await clinician.textContent('main table')).includes(masked(code)), 'own views, masked');
    await expectNoAxeViolations(clinician, '/dashboard/profile');

    await clinician.fill('#name', `${CLINICIAN.name} (psykolog)`);
    await navigating(clinician, () => clinician.click('form[action="/dashboard/profile/name"] button'));
    assert.equal((await clinician.textContent('main [role=status]')).trim(), message('nb', 'dashboard.profile_name_saved'));
    assert.ok((await clinician.textContent('main dl')).includes('(psykolog)'));

    // A wrong current password: named, nothing changed.
    await clinician.fill('#pw-current', 'ikke passordet mitt');
    await clinician.fill('#pw-totp', wrongTotp(clinicianSecret));
    await clinician.fill('#pw-new', 'en ny og lang passordsetning');
    await clinician.fill('#pw-repeat', 'en ny og lang passordsetning');
    const refused = await navigating(clinician, () => clinician.click('form[action="/dashboard/profile/password"] button'));
    assert.equal(refused.status(), 422);
    assert.equal((await clinician.textContent('#password-error')).trim(), message('nb', 'dashboard.profile_factors_wrong'));
    await expectNoAxeViolations(clinician, '/dashboard/profile with an error');

    // A new authenticator app: both factors, then the new secret's QR code.
    await clinician.fill('#totp-current', CLINICIAN_PASSWORD);
    await clinician.fill('#totp-code', await freshTotp(clinicianSecret));
    await navigating(clinician, () => clinician.click('form[action="/dashboard/profile/totp"] button'));
    assert.equal(pathOf(clinician), '/dashboard/profile/totp');
    const fresh = (await clinician.textContent('#totp-secret')).trim();
    assert.match(fresh, /^[A-Z2-7]{32}$/);
    assert.notEqual(fresh, clinicianSecret);
    await expectNoAxeViolations(clinician, 'new authenticator app');
    await clinician.fill('#totp', await freshTotp(fresh));
    await navigating(clinician, () => clinician.click('form[action="/dashboard/profile/totp/confirm"] button'));
    assert.equal((await clinician.textContent('main [role=status]')).trim(), message('nb', 'dashboard.profile_totp_saved'));
    clinicianSecret = fresh;
  });

  step('staff log out from the menu', async () => {
    await clinician.goto(`${server.baseUrl}/dashboard`);
    await navigating(clinician, () => clinician.click('nav.staff form[action="/staff/logout"] button'));
    assert.equal(pathOf(clinician), '/staff/login');
    assert.equal((await clinician.textContent('main [role=status]')).trim(), message('nb', 'dashboard.logged_out'));
    await expectNoAxeViolations(clinician, '/staff/login after logging out');
    await clinician.goto(`${server.baseUrl}/dashboard`);
    assert.equal(pathOf(clinician), '/staff/login', 'the session is gone');
  });
});
