import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { sha256 } from '../../src/api/auth.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { until } from '../support/records.ts';
import { seedKey } from '../support/patient-docs.ts';

// A real browser (Debian's chromium, installed by scripts/test.sh) on the help page and the dashboard.
const CHROMIUM = '/usr/bin/chromium';
const hasBrowser = existsSync(CHROMIUM);
// Never skipped: the test command installs chromium (scripts/test.sh); without it these tests fail, saying so.
const MISSING = `${CHROMIUM} is missing and could not be installed: apt-get install -y chromium (the browser tests need it)`;

const ADMIN_KEY = 'hk_browser-test-admin-key-0123456789abcdef';
const CANARY = `CANARY-${Math.random().toString(36).slice(2)}`;
let h: Harness;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!hasBrowser) throw new Error(MISSING);
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: JSON.stringify([{ id: 'ops', sha256: sha256(ADMIN_KEY).toString('hex'), scopes: ['admin'] }]) });
  // A job failed for good, as one out of attempts would be, so the failed list is not empty: a
  // stand-in BullMQ worker fails it before the real worker starts.
  await h.enqueueJob([{ patient: { ...SEED_SAMPLE, id: 5, fullname: CANARY, hn: CANARY }, receivedAt: Date.now() }]);
  const connection = createRedis(h.config.REDIS_URL, 'worker');
  const failing = new Worker(h.config.QUEUE_NAME, async () => { throw new UnrecoverableError('WRITE_FAILED: the write failed (test)'); }, { connection, prefix: h.config.QUEUE_PREFIX });
  await until('the stand-in failed its job', 10_000, async () => (await h.queue.getJobCountByTypes('failed')) === 1, 50);
  await failing.close();
  connection.disconnect();
  h.startWorker();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const answers: number[] = [];
  for (const [id, extra] of [[1, {}], [2, {}], [3, { isactive: 500 }]] as const) {
    answers.push((await fetch(`${base}/api/patients`, { method: 'POST', headers, body: JSON.stringify({ ...SEED_SAMPLE, ...extra, id, fullname: CANARY, hn: CANARY }) })).status);
  }
  expect(answers).toEqual([202, 202, 400]);
  // A poison record straight into the queue (as another producer could), beside a valid one.
  await h.enqueueJob([{ patient: { id: 4, fullname: CANARY, isactive: 999 }, receivedAt: Date.now() }, { patient: { ...SEED_SAMPLE, id: 6, fullname: CANARY }, receivedAt: Date.now() }]);
  await until('3 jobs completed, the poison record\'s neighbour stored', 30_000, async () => (await h.queue.getJobCountByTypes('completed')) === 3 && (await h.store.patients.countDocuments({ _id: seedKey(6) })) === 1, 50, async () => ({ counts: await h.queue.getJobCounts(), stored: await h.store.patients.countDocuments() }));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/** What the page's Content-Security-Policy refused, from the browser's console. */
function cspRefusals(page: Page): string[] {
  const refused: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });
  return refused;
}

describe('in a real browser', () => {
  it('when /docs is opened, then the help page lists every endpoint and its CSP blocks nothing it needs', async () => {
    const page = await browser.newPage();
    const refused = cspRefusals(page);
    await page.goto(`${base}/docs`);
    await page.getByText('/api/patients/batch').first().waitFor({ timeout: 20_000 });
    const text = await page.locator('body').innerText();
    for (const path of ['/api/patients', '/api/patients/batch', '/api/patients/{id}', '/api/patients/jobs/{jobId}']) expect(text).toContain(path);
    expect(refused).toEqual([]);
    await page.close();
  });

  it('when an admin opens /admin/queues after a small run, then the queue and its counts show and no patient value does', async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${ADMIN_KEY}` } });
    const page = await context.newPage();
    const refused = cspRefusals(page);
    await page.goto(`${base}/admin/queues`);
    await page.getByText(h.config.QUEUE_NAME).first().waitFor({ timeout: 20_000 });
    const { completed = 0, failed = 0 } = await h.queue.getJobCounts('completed', 'failed');
    const counts = { completed, failed };
    expect(counts.completed + counts.failed).toBeGreaterThan(0); // a list to look at, whichever test ran before
    for (const status of ['completed', 'failed'] as const) {
      await page.goto(`${base}/admin/queues/queue/${h.config.QUEUE_NAME}?status=${status}`);
      await page.waitForLoadState('networkidle');
      const text = await page.locator('body').innerText();
      // The count beside the tab is the queue's own, and every job of the list is shown as a row.
      // (bull-board shows no number beside an empty tab)
      expect(text).toMatch(new RegExp(`${status.toUpperCase()}\\n${counts[status] > 0 ? `${counts[status]}\\n` : '(?!\\d)'}`));
      const ids = (await h.queue.getJobs([status])).map((j) => `#${j.id}\n`);
      expect(ids.length).toBe(counts[status]);
      for (const id of ids) expect(text).toContain(id);
      // Each row's data is there, hidden: the page had patient data to show and showed none of it.
      if (counts[status] > 0) {
        await page.getByText('Data').first().click();
        await page.getByText('[hidden: patient data is not shown here]').first().waitFor({ timeout: 10_000 });
      }
      expect(await page.content()).not.toContain(CANARY);
    }
    // Only the third-party web font may be refused (on purpose: the page calls no other origin).
    expect(refused.filter((m) => !/fonts\.googleapis\.com/.test(m))).toEqual([]);
    await context.close();
  });

  it('when an admin opens the failed jobs, then no action is offered, a retry or clean sent directly answers 403, and the failed job keeps no patient value in Redis', async () => {
    // Issue 22: a retry from the dashboard was not audited and could not bring back a record refused
    // at its last attempt (fails on 058d750: the retry control showed and the retry ran).
    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${ADMIN_KEY}` } });
    const page = await context.newPage();
    await page.goto(`${base}/admin/queues/queue/${h.config.QUEUE_NAME}?status=failed`);
    const card = page.locator('[class*="card-"]').filter({ hasText: 'patient.batch' }).first();
    await card.waitFor({ timeout: 20_000 });
    const visible = (els: unknown[]) => els.filter((e) => (e as unknown as { offsetParent: unknown }).offsetParent !== null).length;
    expect(await card.locator('[class*="jobActions-"] button').evaluateAll(visible)).toBe(0);
    const text = await page.locator('body').innerText();
    for (const word of ['Retry all', 'Retry', 'Clean all', 'Clean', 'Empty', 'Obliterate']) expect(text, word).not.toMatch(new RegExp(`\\b${word}\\b`));
    const [failed] = await h.queue.getJobs(['failed']);
    for (const path of [`/retry/failed`, `/${failed!.id}/retry`, '/clean/failed']) {
      const res = await page.request.put(`${base}/admin/queues/api/queues/${h.config.QUEUE_NAME}${path}`);
      expect([path, res.status(), (await res.json()).code]).toEqual([path, 403, 'BOARD_READ_ONLY']);
    }
    expect(await h.queue.getJobCountByTypes('failed')).toBe(1);
    // Its record is in the dead letters (the worker's sweep wrote it); Redis keeps ids and times only.
    await until('the failed job redacted', 20_000, async () => !JSON.stringify((await h.queue.getJob(failed!.id!))?.data).includes(CANARY), 200);
    expect((await h.queue.getJob(failed!.id!))!.data.records[0]).toMatchObject({ patient: { id: 5, center_id: SEED_SAMPLE.center_id }, redacted: true });
    expect(await h.store.deadLetters.findOne({ jobId: `${failed!.id}-0` })).toMatchObject({ patientId: 5, data: { patient: { fullname: CANARY } } });
    await context.close();
  });

  it('when the dashboard is opened without a key, then it is refused', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${base}/admin/queues`);
    expect(res?.status()).toBe(401);
    await page.close();
  });
});
