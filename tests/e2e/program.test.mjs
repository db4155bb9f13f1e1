// The self-help program (issue 4): a user logs in, follows the program,
// completes a PHQ-9 (missing answers, highest and lowest), sees the result,
// the crisis box for item 9, the chart and table over time, continues a
// module after logging out and in again, fills in a registration and both
// feedback forms; in Bokmål and English. Every page visited has zero axe-core
// violations for WCAG 2.0/2.1 A and AA.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  expectNoAxeViolations,
  issueCodes,
  launchBrowser,
  login,
  logout,
  message,
  navigating,
  newPage,
  pathOf,
  startServer,
} from './lib.mjs';

const PHQ9_ITEMS = Array.from({ length: 9 }, (_, i) => `phq9-${i + 1}`);
const GAD7_ITEMS = Array.from({ length: 7 }, (_, i) => `gad7-${i + 1}`);
const CRISIS_NUMBERS = ['113', '116 117', '116 123', '22 40 00 40'];

describe('the self-help program', () => {
  let server;
  let browser;
  const pages = [];

  /** A page in its own context (own cookies), closed in `after`. */
  async function freshPage() {
    const page = await newPage(browser);
    pages.push(page);
    return page;
  }

  /**
   * A new user on the `program` program: logs in with a fresh organisation
   * code, answers the sharing question and lands on /app. Returns
   * `{ page, code }`.
   */
  async function newUser(program = 'angst', choice = 'yes') {
    const [code] = await issueCodes(server, { count: 1, program });
    const page = await freshPage();
    await login(page, server.baseUrl, code);
    assert.equal(pathOf(page), '/consent', 'an organisation code is asked about sharing first');
    await navigating(page, () => page.click(`button[name=choice][value=${choice}]`));
    assert.equal(pathOf(page), '/app');
    return { page, code };
  }

  /** Checks option `value` for each item on the questionnaire page. */
  async function answer(page, items, value) {
    for (const item of items) await page.check(`#${item}-${value}`);
  }

  /** Submits the questionnaire form on the page; resolves to the response. */
  function submitQuestionnaire(page) {
    return navigating(page, () => page.click('main form button[type=submit]'));
  }

  /** Follows the "continue"/"start" button on /app; resolves to the response. */
  async function clickContinue(page) {
    await page.goto(`${server.baseUrl}/app`);
    return navigating(page, () => page.click('main p.continue a.button'));
  }

  /** Answers the two opening questionnaire steps (GAD-7, PHQ-9) with 0. */
  async function completeOpeningMeasures(page) {
    await clickContinue(page);
    assert.equal(pathOf(page), '/app/questionnaires/gad7');
    await answer(page, GAD7_ITEMS, 0);
    await submitQuestionnaire(page);
    assert.match(pathOf(page), /^\/app\/results\/[^/]+$/);
    await clickContinue(page);
    assert.equal(pathOf(page), '/app/questionnaires/phq9');
    await answer(page, PHQ9_ITEMS, 0);
    await submitQuestionnaire(page);
    assert.match(pathOf(page), /^\/app\/results\/[^/]+$/);
  }

  /** Whether `main first` comes before `main second` in document order (null if either is missing). */
  function mainOrder(page, first, second) {
    return page.evaluate(
      ([a, b]) => {
        const x = document.querySelector(`main ${a}`);
        const y = document.querySelector(`main ${b}`);
        if (!x || !y) return null;
        return Boolean(x.compareDocumentPosition(y) & Node.DOCUMENT_POSITION_FOLLOWING);
      },
      [first, second],
    );
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

  test('the overview and the program page, with zero axe violations', async () => {
    const { page } = await newUser('angst');
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'app.title'));
    assert.match(await page.textContent('#program-heading'), /Mestring av angst og bekymring/);
    // Nothing done yet: "start", not "continue", with the first step.
    const start = (await page.textContent('main p.continue a.button')).trim();
    assert.ok(start.startsWith(message('nb', 'program.start')), start);
    assert.match(start, /Før du starter: angst og bekymring/);
    // Both measures are due at the start of the program.
    const due = await page.locator('section[aria-labelledby=due-heading] li a').allTextContents();
    assert.equal(due.length, 2, `due: ${due}`);
    assert.match((await page.textContent('section[aria-labelledby=latest-heading]')), new RegExp(message('nb', 'results.none_yet')));
    await expectNoAxeViolations(page, '/app with a new program (nb)');

    await navigating(page, () => page.click('main a[href="/app/program"]'));
    assert.equal(pathOf(page), '/app/program');
    assert.equal(await page.locator('main section h2').count(), 6, 'six modules');
    assert.equal(await page.locator('main .steps li.step-available').count(), 1, 'one step open');
    assert.ok((await page.locator('main .steps li.step-locked').count()) > 1);
    // Locked steps are not links, and say so in words.
    assert.equal(await page.locator('main .steps li.step-locked a').count(), 0);
    assert.match(await page.textContent('main .steps li.step-locked .state'), new RegExp(message('nb', 'program.state_locked')));
    await expectNoAxeViolations(page, '/app/program (nb)');

    // A locked step explains itself and links to where to continue.
    await page.goto(`${server.baseUrl}/app/steps/hva-er-angst`);
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'program.locked_title'));
    assert.equal(await page.getAttribute('main a.button', 'href'), '/app/steps/start-gad7');
    await expectNoAxeViolations(page, 'locked step (nb)');
  });

  test('PHQ-9: missing answers, all highest with the crisis box, all lowest, chart and table', async () => {
    const { page } = await newUser('nedstemthet');

    const empty = await page.goto(`${server.baseUrl}/app/questionnaires/phq9`);
    assert.equal(empty.status(), 200);
    assert.match(await page.textContent('h1'), /PHQ-9/);
    assert.equal(await page.locator('main fieldset[role=radiogroup]').count(), 10, 'nine items and the optional tenth');
    assert.equal(await page.locator('main input[type=radio]:checked').count(), 0);
    assert.equal(await page.locator('.error-summary').count(), 0);
    await expectNoAxeViolations(page, 'PHQ-9, empty (nb)');

    // Three answers only: the form comes back with them kept and the six
    // missing items named in the error summary, each linking to its item.
    await page.check('#phq9-1-2');
    await page.check('#phq9-2-1');
    await page.check('#phq9-10-1');
    const missing = await submitQuestionnaire(page);
    assert.equal(missing.status(), 422);
    assert.equal(pathOf(page), '/app/questionnaires/phq9');
    assert.match(await page.title(), new RegExp(`^${message('nb', 'questionnaire.error_title_prefix')}: `));
    const summary = page.locator('.error-summary[role=alert]');
    assert.equal((await summary.locator('h2').textContent()).trim(), message('nb', 'questionnaire.error_heading'));
    const links = await summary.locator('li a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(links, PHQ9_ITEMS.slice(2).map((i) => `#item-${i}`));
    assert.ok(await page.isChecked('#phq9-1-2'), 'answer to item 1 kept');
    assert.ok(await page.isChecked('#phq9-2-1'), 'answer to item 2 kept');
    assert.ok(await page.isChecked('#phq9-10-1'), 'answer to the optional item kept');
    assert.equal(await page.getAttribute('#item-phq9-3', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#item-phq9-3', 'aria-describedby'), 'item-phq9-3-error');
    assert.equal(await page.getAttribute('#item-phq9-1', 'aria-invalid'), null);
    assert.equal(await page.locator('main .field-error').count(), 7);
    await expectNoAxeViolations(page, 'PHQ-9 with missing answers (nb)');

    // All highest: 27, "severe", and the crisis box first in <main>.
    await answer(page, PHQ9_ITEMS, 3);
    const saved = await submitQuestionnaire(page);
    assert.equal(saved.status(), 200);
    assert.match(pathOf(page), /^\/app\/results\/[^/]+$/);
    const severeUrl = page.url();
    assert.equal((await page.textContent('#score strong')).trim(), '27');
    assert.match(await page.textContent('#score'), /27 av 27 poeng/);
    assert.match(await page.textContent('main .band'), /Alvorlige plager/);
    const crisis = page.locator('main section.crisis');
    assert.equal(await crisis.count(), 1);
    assert.equal(
      await page.evaluate(() => document.querySelector('main').firstElementChild?.classList.contains('crisis')),
      true,
      'the crisis box is the first thing in <main>',
    );
    assert.equal(await mainOrder(page, 'section.crisis', '#score-heading'), true, 'crisis box before the score heading');
    assert.equal(await mainOrder(page, 'section.crisis', 'h1'), true, 'crisis box before the page heading');
    assert.equal((await crisis.locator('h2').textContent()).trim(), message('nb', 'results.crisis_heading'));
    const crisisText = await crisis.textContent();
    for (const n of CRISIS_NUMBERS) assert.ok(crisisText.includes(n), `crisis box gives ${n}`);
    assert.deepEqual(
      await crisis.locator('a[href^="tel:"]').evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
      ['tel:113', 'tel:116117', 'tel:116123', 'tel:22400040'],
    );
    assert.match(await page.textContent('main'), new RegExp(message('nb', 'results.first_measure')));
    await expectNoAxeViolations(page, 'PHQ-9 result 27 with the crisis box (nb)');

    // The overview lists the result, marked as flagged.
    await page.goto(`${server.baseUrl}/app`);
    const latest = await page.textContent('section[aria-labelledby=latest-heading]');
    assert.match(latest, /27 av 27/);
    assert.ok(latest.includes(message('nb', 'results.flagged_short')), latest);
    await expectNoAxeViolations(page, '/app with a flagged result (nb)');

    // All lowest: 0, no crisis box, a reliable improvement.
    await page.goto(`${server.baseUrl}/app/questionnaires/phq9`);
    await answer(page, PHQ9_ITEMS, 0);
    await submitQuestionnaire(page);
    assert.match(pathOf(page), /^\/app\/results\/[^/]+$/);
    assert.notEqual(page.url(), severeUrl);
    assert.equal((await page.textContent('#score strong')).trim(), '0');
    assert.match(await page.textContent('main .band'), /Ingen eller svært få tegn på depresjon/);
    assert.equal(await page.locator('.crisis').count(), 0, 'no crisis box when item 9 is 0');
    const change = await page.textContent('section[aria-labelledby=change-heading]');
    assert.ok(change.includes(message('nb', 'results.change_improvement')), change);
    assert.match(change, /27/);
    assert.match(change, /\u221227/);
    await expectNoAxeViolations(page, 'PHQ-9 result 0 (nb)');

    // Both results over time: an SVG chart and a table with the same numbers.
    await navigating(page, () => page.click(`main a[href="/app/results"]`));
    assert.equal(pathOf(page), '/app/results');
    const section = page.locator('main section[aria-labelledby=results-phq9]');
    const svg = section.locator('figure.chart svg[role=img]');
    assert.equal(await svg.count(), 1);
    assert.equal(await svg.getAttribute('aria-labelledby'), 'chart-phq9-title chart-phq9-desc');
    assert.equal((await section.locator('svg title#chart-phq9-title').textContent()).trim(), 'PHQ-9 over tid');
    assert.equal(await svg.locator('circle').count(), 2);
    assert.equal(await svg.locator('polyline').count(), 1);
    const rows = await section.locator('table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
    );
    assert.equal(rows.length, 2);
    assert.equal(rows[0][1], '27');
    assert.match(rows[0][2], /Alvorlige plager/);
    assert.ok(rows[0][2].includes(message('nb', 'results.flagged_short')));
    assert.equal(rows[1][1], '0');
    assert.ok(!rows[1][2].includes(message('nb', 'results.flagged_short')));
    await expectNoAxeViolations(page, '/app/results with a chart (nb)');

    // The flagged result keeps its crisis box when opened again from the table.
    await navigating(page, () => section.locator('table tbody tr').first().locator('a').click());
    assert.equal(page.url(), severeUrl);
    assert.equal(await page.locator('main section.crisis').count(), 1);
  });

  test('voiding an answer given by mistake: confirmation, then gone from the results', async () => {
    const { page } = await newUser('nedstemthet');
    await page.goto(`${server.baseUrl}/app/questionnaires/phq9`);
    await answer(page, PHQ9_ITEMS, 1);
    await submitQuestionnaire(page);
    const resultPath = pathOf(page);
    await navigating(page, () => page.click(`a[href="${resultPath}/void"]`));
    assert.equal(pathOf(page), `${resultPath}/void`);
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'results.void_title'));
    await expectNoAxeViolations(page, 'void confirmation');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/results');
    assert.equal((await page.textContent('main [role=status]')).trim(), message('nb', 'results.voided_done'));
    assert.equal(await page.locator('main table').count(), 0, 'no result left to tabulate');
    assert.equal(await page.locator('#voided-heading').count(), 1);
    await expectNoAxeViolations(page, 'results with a voided answer');
    await page.goto(`${server.baseUrl}${resultPath}`);
    assert.equal(await page.locator(`a[href="${resultPath}/void"]`).count(), 0, 'voided once');
    await expectNoAxeViolations(page, 'a voided result');
  });

  test('a module step is marked done; after logging out mid-module, /app continues at the right step', async () => {
    const { page, code } = await newUser('angst');
    await completeOpeningMeasures(page);

    // The overview now offers to continue with the first page of module 1.
    await page.goto(`${server.baseUrl}/app`);
    const cont = (await page.textContent('main p.continue a.button')).trim();
    assert.ok(cont.startsWith(message('nb', 'program.continue')), cont);
    assert.match(cont, /Hva er angst\?/);
    await navigating(page, () => page.click('main p.continue a.button'));
    assert.equal(pathOf(page), '/app/steps/hva-er-angst');
    assert.equal((await page.textContent('h1')).trim(), 'Hva er angst?');
    assert.match(await page.textContent('main p.hint'), /Forstå angsten/);
    assert.ok((await page.locator('main .prose p').count()) > 0, 'the step has its text');
    await expectNoAxeViolations(page, 'a page step (nb)');

    // Mark it done: on to the exercise in the same module.
    await navigating(page, () => page.click('form[action="/app/steps/hva-er-angst/done"] button'));
    assert.equal(pathOf(page), '/app/steps/mitt-angstbilde');
    assert.equal((await page.textContent('h1')).trim(), 'Øvelse: Legg merke til angsten');
    assert.equal(
      await page.getAttribute('main a.button', 'href'),
      '/app/registrations/daily-checkin/new?step=mitt-angstbilde',
    );
    await expectNoAxeViolations(page, 'an exercise step (nb)');

    // The step done is shown as done.
    await page.goto(`${server.baseUrl}/app/steps/hva-er-angst`);
    assert.equal((await page.textContent('main p.notice')).trim(), message('nb', 'program.step_done'));
    assert.equal(await page.locator('form[action="/app/steps/hva-er-angst/done"]').count(), 0);
    assert.equal(await page.locator('main a[href="/app/steps/mitt-angstbilde"]').count(), 1, 'links on to the next step');
    await expectNoAxeViolations(page, 'a completed step (nb)');
    await page.goto(`${server.baseUrl}/app/program`);
    assert.equal(await page.locator('main .steps li.step-completed').count(), 3);
    assert.match(await page.textContent('#program-progress'), /^3 av \d+ steg fullført$/);
    await expectNoAxeViolations(page, '/app/program with progress (nb)');

    // Log out in the middle of the module and log in again.
    await page.goto(`${server.baseUrl}/app/steps/mitt-angstbilde`);
    await logout(page);
    assert.equal(pathOf(page), '/login');
    await login(page, server.baseUrl, code);
    assert.equal(pathOf(page), '/app', 'the sharing question is asked only once');
    const again = (await page.textContent('main p.continue a.button')).trim();
    assert.ok(again.startsWith(message('nb', 'program.continue')), again);
    assert.match(again, /Øvelse: Legg merke til angsten/);
    assert.match(await page.textContent('main p.continue + p.hint'), /Forstå angsten/);
    await expectNoAxeViolations(page, '/app offering to continue (nb)');
    await navigating(page, () => page.click('main p.continue a.button'));
    assert.equal(pathOf(page), '/app/steps/mitt-angstbilde');
    assert.equal((await page.textContent('h1')).trim(), 'Øvelse: Legg merke til angsten');

    // The exercise's form: saving it completes the step and comes back.
    await navigating(page, () => page.click('main a.button'));
    assert.equal(pathOf(page), '/app/registrations/daily-checkin/new');
    await expectNoAxeViolations(page, 'daily check-in for an exercise (nb)');
    await page.check('#mood-4');
    await page.check('#worry-6');
    await page.check('#sleep-ok');
    await page.check('#activity-little');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/steps/mitt-angstbilde');
    assert.equal((await page.textContent('main p.notice')).trim(), message('nb', 'program.step_done'));
    await expectNoAxeViolations(page, 'exercise step completed (nb)');
    await page.goto(`${server.baseUrl}/app`);
    assert.match(await page.textContent('main p.continue a.button'), /Slik holder angsten seg ved like/);
  });

  test('a daily check-in: errors, then filled in and listed with a chart', async () => {
    const { page } = await newUser('angst', 'no');
    await navigating(page, () => page.click('main a[href="/app/registrations"]'));
    assert.equal(pathOf(page), '/app/registrations');
    assert.ok((await page.textContent('main')).includes(message('nb', 'registration.none_yet')));
    await expectNoAxeViolations(page, '/app/registrations, empty (nb)');

    await navigating(page, () => page.click('main a[href="/app/registrations/daily-checkin/new"]'));
    assert.equal(pathOf(page), '/app/registrations/daily-checkin/new');
    assert.equal((await page.textContent('h1')).trim(), 'Sjekk inn');
    await expectNoAxeViolations(page, 'daily check-in, empty (nb)');

    // Only the mood and a note: the rest is named, what was given is kept.
    await page.check('#mood-7');
    await page.fill('#field-note', 'En rolig dag.');
    const bad = await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(bad.status(), 422);
    const summary = page.locator('.error-summary[role=alert]');
    assert.equal((await summary.locator('h2').textContent()).trim(), message('nb', 'registration.error_heading'));
    const links = await summary.locator('li a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(links, ['#field-worry', '#field-sleep', '#field-activity']);
    assert.ok(await page.isChecked('#mood-7'));
    assert.equal(await page.inputValue('#field-note'), 'En rolig dag.');
    assert.equal(await page.getAttribute('#field-worry', 'aria-invalid'), 'true');
    await expectNoAxeViolations(page, 'daily check-in with errors (nb)');

    await page.check('#worry-3');
    await page.check('#sleep-good');
    await page.check('#activity-some');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/registrations');
    assert.equal((await page.textContent('main [role=status]')).trim(), message('nb', 'registration.saved'));
    const section = page.locator('main section[aria-labelledby=form-daily-checkin]');
    const cells = await section.locator('table tbody tr td').allTextContents();
    assert.deepEqual(cells.slice(1, -1), ['7', '3', 'Godt', 'En del', 'En rolig dag.']);
    // The last cell changes or deletes the entry.
    assert.match(cells.at(-1), /^Endre registreringen fra \d{2}\.\d{2}\.\d{4}Slett registreringen fra \d{2}\.\d{2}\.\d{4}$/);
    assert.match(cells[0], /^\d{2}\.\d{2}\.\d{4}$/);
    await expectNoAxeViolations(page, '/app/registrations with an entry (nb)');

    // A second entry: the scales are drawn over time too.
    await page.goto(`${server.baseUrl}/app/registrations/daily-checkin/new`);
    await page.check('#mood-5');
    await page.check('#worry-5');
    await page.check('#sleep-poor');
    await page.check('#activity-none');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/registrations');
    assert.equal(await section.locator('table tbody tr').count(), 2);
    assert.equal(await section.locator('figure.chart svg[role=img]').count(), 2, 'one chart per scale');
    await expectNoAxeViolations(page, '/app/registrations with charts (nb)');

    // Change the second entry: the form comes back filled in.
    await navigating(page, () => section.locator('table tbody tr').nth(1).locator('a[href$="/edit"]').click());
    assert.match(pathOf(page), /^\/app\/registrations\/entries\/[^/]+\/edit$/);
    assert.ok(await page.isChecked('#mood-5'));
    assert.ok(await page.isChecked('#sleep-poor'));
    assert.equal((await page.textContent('main form button[type=submit]')).trim(), message('nb', 'registration.edit_submit'));
    await expectNoAxeViolations(page, 'change a registration');
    await page.check('#mood-6');
    await page.fill('#field-note', 'Bedre enn jeg trodde.');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/registrations');
    assert.equal((await page.textContent('main [role=status]')).trim(), message('nb', 'registration.edited'));
    const changed = await section.locator('table tbody tr').nth(1).locator('td').allTextContents();
    assert.match(changed[0], /^\d{2}\.\d{2}\.\d{4}endret \d{2}\.\d{2}\.\d{4}$/);
    assert.deepEqual(changed.slice(1, -1), ['6', '5', 'Dårlig', 'Ingenting', 'Bedre enn jeg trodde.']);
    assert.equal(await section.locator('table tbody tr').count(), 2, 'changed in place');
    await expectNoAxeViolations(page, '/app/registrations after a change (nb)');

    // Delete the first entry: a confirmation, then one row left.
    await navigating(page, () => section.locator('table tbody tr').first().locator('a[href$="/delete"]').click());
    assert.match(pathOf(page), /^\/app\/registrations\/entries\/[^/]+\/delete$/);
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'registration.delete_title'));
    await expectNoAxeViolations(page, 'delete a registration');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/registrations');
    assert.equal((await page.textContent('main [role=status]')).trim(), message('nb', 'registration.deleted'));
    assert.equal(await section.locator('table tbody tr').count(), 1);
  });

  test('both feedback forms: errors, then sent', async () => {
    const { page } = await newUser('nedstemthet');

    await navigating(page, () => page.click('main a[href="/app/feedback/suggest"]'));
    assert.equal(pathOf(page), '/app/feedback/suggest');
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'feedback.suggest_title'));
    await expectNoAxeViolations(page, 'suggest form (nb)');
    const empty = await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(empty.status(), 422);
    assert.equal(
      (await page.textContent('.error-summary h2')).trim(),
      message('nb', 'feedback.error_heading'),
    );
    assert.deepEqual(
      await page.locator('.error-summary li a').evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
      ['#field-topic', '#body'],
    );
    await expectNoAxeViolations(page, 'suggest form with errors (nb)');
    await page.check('#topic-correction');
    await page.fill('#body', 'Sjekk inn 01.01. skulle vært humør 6.');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/feedback/thanks');
    assert.equal((await page.textContent('main [role=status]')).trim(), message('nb', 'feedback.thanks'));
    await expectNoAxeViolations(page, 'feedback thanks (nb)');

    await page.goto(`${server.baseUrl}/app`);
    await navigating(page, () => page.click('main a[href="/app/feedback/evaluation"]'));
    assert.equal(pathOf(page), '/app/feedback/evaluation');
    assert.equal((await page.textContent('h1')).trim(), message('nb', 'feedback.evaluation_title'));
    await expectNoAxeViolations(page, 'evaluation form (nb)');
    await page.fill('#body', 'Fint.');
    const bad = await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(bad.status(), 422);
    assert.deepEqual(
      await page.locator('.error-summary li a').evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
      ['#field-helpful', '#field-ease'],
    );
    assert.equal(await page.inputValue('#body'), 'Fint.', 'the comment is kept');
    await expectNoAxeViolations(page, 'evaluation form with errors (nb)');
    await page.check('#helpful-4');
    await page.check('#ease-5');
    await navigating(page, () => page.click('main form button[type=submit]'));
    assert.equal(pathOf(page), '/app/feedback/thanks');
  });

  test('a journey in nynorsk: chosen from the switch, every page in nn with zero axe violations', async () => {
    const { page } = await newUser('angst');
    await page.goto(`${server.baseUrl}/app`);
    // The switch offers the two other languages, each named in itself.
    const offered = await page.locator('header.site nav a[hreflang]').evaluateAll((as) =>
      as.map((a) => [a.getAttribute('hreflang'), a.textContent.trim(), a.getAttribute('lang')]),
    );
    assert.deepEqual(offered, [['nn', 'Nynorsk', 'nn'], ['en', 'English', 'en']]);
    await navigating(page, () => page.click('header.site nav a[hreflang=nn]'));
    assert.equal(pathOf(page), '/app');
    assert.equal(await page.getAttribute('html', 'lang'), 'nn');
    assert.equal((await page.textContent('h1')).trim(), message('nn', 'app.title'));
    await expectNoAxeViolations(page, '/app (nn)');

    await page.goto(`${server.baseUrl}/app/program`);
    assert.match(await page.textContent('h1'), /Meistring av angst og bekymring/);
    await expectNoAxeViolations(page, '/app/program (nn)');
    await clickContinue(page);
    assert.equal(pathOf(page), '/app/questionnaires/gad7');
    assert.match(await page.textContent('main'), /dei siste 2 vekene/);
    await expectNoAxeViolations(page, 'GAD-7 (nn)');
    await answer(page, GAD7_ITEMS, 1);
    await submitQuestionnaire(page);
    assert.match(pathOf(page), /^\/app\/results\//);
    await expectNoAxeViolations(page, 'GAD-7 result (nn)');
    await page.goto(`${server.baseUrl}/app/results`);
    await expectNoAxeViolations(page, '/app/results (nn)');
    await page.goto(`${server.baseUrl}/app/registrations/daily-checkin/new`);
    await expectNoAxeViolations(page, 'daily check-in (nn)');
    for (const [path, what] of [
      ['/settings', 'settings'],
      ['/settings/export', 'export'],
      ['/settings/reminders', 'reminders'],
      ['/privacy', 'privacy page'],
      ['/app/feedback/suggest', 'suggest form'],
    ]) {
      await page.goto(`${server.baseUrl}${path}`);
      assert.equal(await page.getAttribute('html', 'lang'), 'nn', path);
      await expectNoAxeViolations(page, `${what} (nn)`);
    }
    assert.ok((await page.textContent('main')).includes('ikkje'), 'nynorsk text, not bokmål');
  });

  test('the key pages in English have zero axe violations', async () => {
    const { page } = await newUser('angst');
    await navigating(page, () => page.goto(`${server.baseUrl}/lang/en?next=/app`));
    assert.equal(pathOf(page), '/app');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal((await page.textContent('h1')).trim(), message('en', 'app.title'));
    assert.match(await page.textContent('main p.continue a.button'), /Before you start: anxiety and worry/);
    await expectNoAxeViolations(page, '/app (en)');

    await page.goto(`${server.baseUrl}/app/program`);
    assert.match(await page.textContent('h1'), /Coping with anxiety and worry/);
    await expectNoAxeViolations(page, '/app/program (en)');

    // The opening steps in English; PHQ-9 with missing answers, then item 9.
    await clickContinue(page);
    assert.equal(pathOf(page), '/app/questionnaires/gad7');
    await expectNoAxeViolations(page, 'GAD-7 (en)');
    await answer(page, GAD7_ITEMS, 1);
    await submitQuestionnaire(page);
    assert.match(pathOf(page), /^\/app\/results\//);
    await expectNoAxeViolations(page, 'GAD-7 result (en)');
    await navigating(page, () => page.click('main a.button'));
    assert.equal(pathOf(page), '/app/questionnaires/phq9');
    await expectNoAxeViolations(page, 'PHQ-9 (en)');
    await page.check('#phq9-9-1');
    const missing = await submitQuestionnaire(page);
    assert.equal(missing.status(), 422);
    assert.equal((await page.textContent('.error-summary h2')).trim(), message('en', 'questionnaire.error_heading'));
    assert.ok(await page.isChecked('#phq9-9-1'));
    await expectNoAxeViolations(page, 'PHQ-9 with missing answers (en)');
    await answer(page, PHQ9_ITEMS.slice(0, 8), 1);
    await submitQuestionnaire(page);
    assert.match(pathOf(page), /^\/app\/results\//);
    assert.equal((await page.textContent('#score strong')).trim(), '9');
    assert.match(await page.textContent('main .band'), /Mild symptoms/);
    assert.equal((await page.textContent('main section.crisis h2')).trim(), message('en', 'results.crisis_heading'));
    assert.equal(await mainOrder(page, 'section.crisis', '#score-heading'), true);
    for (const n of CRISIS_NUMBERS) assert.ok((await page.textContent('main section.crisis')).includes(n), n);
    await expectNoAxeViolations(page, 'PHQ-9 result with the crisis box (en)');

    await page.goto(`${server.baseUrl}/app/results`);
    assert.equal(await page.locator('main figure.chart svg[role=img]').count(), 2);
    await expectNoAxeViolations(page, '/app/results (en)');

    await clickContinue(page);
    assert.equal(pathOf(page), '/app/steps/hva-er-angst');
    assert.equal((await page.textContent('h1')).trim(), 'What is anxiety?');
    await expectNoAxeViolations(page, 'a page step (en)');

    await page.goto(`${server.baseUrl}/app/registrations/daily-checkin/new`);
    assert.equal((await page.textContent('h1')).trim(), 'Check in');
    await expectNoAxeViolations(page, 'daily check-in (en)');
    await page.goto(`${server.baseUrl}/app/registrations`);
    await expectNoAxeViolations(page, '/app/registrations (en)');
    await page.goto(`${server.baseUrl}/app/feedback/suggest`);
    await expectNoAxeViolations(page, 'suggest form (en)');
    await page.goto(`${server.baseUrl}/app/feedback/evaluation`);
    await expectNoAxeViolations(page, 'evaluation form (en)');
  });
});
