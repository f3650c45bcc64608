/**
 * The dashboard in a real headless Chromium (Debian's, through playwright-core) against `meta-agent serve`:
 * submit through the page and watch the graph change live, read a task's routing breakdown and output,
 * cancel a running batch, see a cycle drawn, use it from the keyboard and on a narrow screen.
 * META_AGENT_SCREENSHOTS=1 also writes the README's screenshots to docs/.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../../shared/local/server';
import { type Browser, ensureDashboardBuilt, launchChromium } from '../support/browser';
import { ROOT } from '../support/fake-io';

const API_KEY = 'browser-test-key';
/** A simulated batch step: long enough to see RUNNING, short enough for a quick test. */
const STEP_MS = 1_200;
/** Waits for the page: a batch of a few steps on a loaded 2-core machine. */
const UI_TIMEOUT_MS = 20_000;
/** How often the batch view reads a running batch again, and its first wait after a failed read (batch.tsx). */
const VIEW_REFRESH_MS = 5_000;
const SCREENSHOTS = process.env.META_AGENT_SCREENSHOTS === '1';

let server: LocalServer;
let browser: Browser;

beforeAll(async () => {
  await ensureDashboardBuilt();
  [server, browser] = await Promise.all([
    startLocalServer({
      port: 0,
      apiKey: API_KEY,
      system: {
        scalerIntervalMs: 0,
        // A fleet-wide provider limit, for the agents page to show (no role calls it).
        costs: { providerLimits: [{ provider: 'http', maxConcurrent: 3, requestsPerMinute: 60 }] },
      },
    }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function openPage(
  hash = '#/',
  viewport?: { width: number; height: number },
  options: { clock?: boolean } = {},
): Promise<Page> {
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  // The page's timers on a clock the test can move on. Playwright installs it for the whole context, so the
  // pages opened after it run on it too, at the pace of real time like an uninstalled one.
  if (options.clock) await page.clock.install();
  await page.goto(`${server.url}/#key=${API_KEY}`);
  await page.waitForSelector('nav');
  if (hash !== '#/') await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  return page;
}

function api(path: string, init: RequestInit = {}) {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, ...init.headers },
  });
}

const node = (taskId: string, status?: string) =>
  `g.node[data-task="${taskId}"]${status ? `[data-status="${status}"]` : ''}`;

async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  await mkdir(join(ROOT, 'docs'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'docs', name), fullPage: true });
}

/**
 * Answers the page's next read of `url` as a failing API would (`status`, `body`), then lets reads through;
 * the answer says whether that failure was served.
 */
async function failOnce(page: Page, url: string, status: number, body: unknown): Promise<() => boolean> {
  let failing = 1;
  await page.route(url, (route) =>
    failing-- > 0
      ? route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) })
      : route.continue(),
  );
  return () => failing < 0;
}

describe('dashboard', () => {
  it('submits a batch pasted into the page and shows its nodes change state live over the WebSocket', async () => {
    const page = await openPage('#/submit');
    const frames: string[] = [];
    page.on('websocket', (socket) => socket.on('framereceived', (f) => frames.push(String(f.payload))));
    const batch = {
      batchId: 'ui-live',
      tasks: [
        {
          id: 'schema',
          description: 'Design the PostgreSQL users schema',
          input: { simulate: { durationMs: STEP_MS } },
        },
        {
          id: 'login-api',
          description: 'Write the FastAPI login endpoint',
          dependsOn: ['schema'],
          input: { simulate: { durationMs: STEP_MS } },
        },
        { id: 'docs', description: 'Document the login API', dependsOn: ['login-api'] },
        { id: 'review', description: 'Audit the login flow for security issues', dependsOn: ['login-api'] },
      ],
    };

    await page.fill('#batch-json', JSON.stringify(batch, null, 2));
    await page.click('button[type=submit]');
    await page.waitForURL(/#\/batches\/ui-live$/);
    // The page is never reloaded: a marker set now survives every change below.
    await page.evaluate('window.stillTheSamePage = true');
    await page.waitForSelector(node('schema', 'RUNNING'), { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector(node('login-api', 'RUNNING'), { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector(node('docs', 'SUCCEEDED'), { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector(node('review', 'SUCCEEDED'), { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector('.title-row .badge.status-SUCCEEDED', { timeout: UI_TIMEOUT_MS });

    expect(await page.evaluate('window.stillTheSamePage')).toBe(true);
    expect(frames.some((f) => f.includes('"taskId":"login-api"') && f.includes('"RUNNING"'))).toBe(true);
    // The critical path (schema -> login-api -> docs or review) is marked on the graph.
    const marked = await page.$$eval('g.node.marked', (nodes) =>
      nodes.map((n) => n.getAttribute('data-task')),
    );
    expect(marked.slice(0, 2)).toEqual(['schema', 'login-api']);
    expect(await page.$$('path.edge.marked')).toHaveLength(2);
    await screenshot(page, 'dashboard-graph.png');
    await page.close();
  });

  it('opens a task from the graph with the keyboard and shows why its agent was chosen, its attempts and output', async () => {
    const page = await openPage('#/batches/ui-live');
    await page.waitForSelector(node('login-api', 'SUCCEEDED'), { timeout: UI_TIMEOUT_MS });

    await page.focus(node('login-api'));
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/batches\/ui-live\/tasks\/login-api$/);
    await page.waitForSelector('table.candidates tbody tr');

    const text = await page.textContent('main');
    expect(text).toContain('Write the FastAPI login endpoint');
    expect(text).toContain('Why this agent');
    const header = await page.$$eval('table.candidates thead th', (ths) => ths.map((th) => th.textContent));
    expect(header).toEqual(['Agent', 'Role', 'Score', 'Specialization', 'Availability', 'Success', 'Speed']);
    const chosen = await page.textContent('table.candidates tr.chosen th');
    expect(chosen).toMatch(/python_backend_coder.*\(chosen\)/);
    const terms = await page.$$eval('table.candidates tr.chosen td', (tds) =>
      tds.slice(2).map((td) => td.textContent),
    );
    for (const value of terms) expect(Number(value)).toBeGreaterThanOrEqual(0);
    expect(await page.textContent('pre.output')).toContain('"simulated": true');
    expect(text).toContain('Simulated executor');
    await screenshot(page, 'dashboard-task.png');
    await page.close();
  });

  it("shows a task's output stored apart, read with the key, and wraps a description without spaces on a narrow screen", async () => {
    const description = `Write the report ${'x'.repeat(600)}`;
    const submitted = await api('/batches', {
      method: 'POST',
      body: JSON.stringify({
        batchId: 'ui-stored-output',
        tasks: [{ id: 'report', description, input: { simulate: { outputBytes: 300_000 } } }],
      }),
    });
    expect(submitted.status).toBe(202);
    const page = await openPage('#/batches/ui-stored-output/tasks/report', { width: 390, height: 844 });

    const show = page.getByRole('button', { name: 'Show the whole output' });
    await show.waitFor({ timeout: UI_TIMEOUT_MS });
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    await show.click();
    await page.waitForSelector('.stored-output pre.output', { timeout: UI_TIMEOUT_MS });

    expect(overflow).toBeLessThanOrEqual(0);
    expect(await page.textContent('.stored-output pre.output')).toContain(
      'line 0000001 of a simulated output',
    );
    expect(await page.getAttribute('.stored-output a[download]', 'download')).toBe('report.output.json');
    expect(await page.$('.stored-output .error')).toBeNull();
    await page.close();
  });

  it('draws the task table of a big batch a page of rows at a time, with a button for more', async () => {
    // One slow first task holds the other 249 back: the batch stays put while the page is read.
    const tasks = [
      { id: 't-0', description: 'Design the schema', input: { simulate: { durationMs: 60_000 } } },
      ...Array.from({ length: 249 }, (_, i) => ({
        id: `t-${i + 1}`,
        description: `Write module ${i + 1}`,
        dependsOn: ['t-0'],
      })),
    ];
    const submitted = await api('/batches', {
      method: 'POST',
      body: JSON.stringify({ batchId: 'ui-big', tasks }),
    });
    expect(submitted.status).toBe(202);
    const page = await openPage('#/batches/ui-big');

    await page.waitForSelector('tr[data-task-row="t-0"]', { timeout: UI_TIMEOUT_MS });
    const first = await page.$$eval('tr[data-task-row]', (rows) => rows.length);
    await page.getByRole('button', { name: 'Show 100 more' }).click();
    await page.waitForSelector('tr[data-task-row="t-199"]', { timeout: UI_TIMEOUT_MS });
    await page.getByRole('button', { name: 'Show 50 more' }).click();
    await page.waitForSelector('tr[data-task-row="t-249"]', { timeout: UI_TIMEOUT_MS });
    await api('/batches/ui-big', { method: 'DELETE' });

    expect(first).toBe(100);
    expect(await page.$$eval('tr[data-task-row]', (rows) => rows.length)).toBe(250);
    expect(await page.$('.more-rows')).toBeNull();
    await page.close();
  }, 120_000);

  it('approves a task waiting for approval from its page, with a comment, and lists the decision', async () => {
    const submitted = await api('/batches', {
      method: 'POST',
      body: JSON.stringify({
        batchId: 'ui-approval',
        tasks: [{ id: 'plan', description: 'Plan the migration', approval: { before: true } }],
      }),
    });
    expect(submitted.status).toBe(202);
    const page = await openPage('#/batches/ui-approval/tasks/plan');
    await page.waitForSelector('.approval-panel', { timeout: UI_TIMEOUT_MS });
    expect(await page.textContent('.approval-panel')).toContain(
      'This task waits for approval before it is dispatched.',
    );

    await page.fill('#approval-comment', 'go ahead');
    await page.click('.approval-actions button:not(.danger)');
    await page.waitForSelector('.title-row .badge.status-SUCCEEDED', { timeout: UI_TIMEOUT_MS });

    expect(await page.$('.approval-panel')).toBeNull();
    expect(await page.textContent('main')).toContain('before dispatch: approved by person');
    expect(await page.textContent('main')).toContain('go ahead');
    await page.close();
  });

  it("lists a validator agent's verdicts, labelled simulated, and its reviews without a verdict on the task's page", async () => {
    const submitted = await api('/batches', {
      method: 'POST',
      body: JSON.stringify({
        batchId: 'ui-review',
        options: { maxAttempts: 2 },
        tasks: [
          {
            id: 'api',
            description: 'Write the FastAPI signup endpoint',
            approval: { after: true, by: 'code_reviewer' },
            input: {
              simulate: {
                verdicts: [
                  { fail: 'error' },
                  { accept: false, comments: 'hash the password' },
                  { accept: true },
                ],
              },
            },
          },
        ],
      }),
    });
    expect(submitted.status).toBe(202);

    const page = await openPage('#/batches/ui-review/tasks/api');
    await page.waitForSelector('.review-failures', { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector('.approvals li:nth-child(2)', { timeout: UI_TIMEOUT_MS });

    const approvals = await page.$$eval('.approvals li', (items) => items.map((i) => i.textContent ?? ''));
    expect(approvals[0]).toMatch(
      /output of attempt 1: rejected by code_reviewer-\d+ \(simulated verdict\) at .*: hash the password/,
    );
    expect(approvals[1]).toMatch(/output of attempt 2: approved by code_reviewer-\d+ \(simulated verdict\)/);
    expect(await page.textContent('.review-failures')).toMatch(
      /output of attempt 1: code_reviewer-\d+ gave no verdict at .*: SimulatedFailureError: /,
    );
    await page.close();
  });

  it('cancels a running batch from its page', async () => {
    const slow = {
      batchId: 'ui-cancel',
      tasks: [
        { id: 'long', description: 'Audit the login flow', input: { simulate: { durationMs: 60_000 } } },
        { id: 'after', description: 'Document the findings', dependsOn: ['long'] },
      ],
    };
    expect((await api('/batches', { method: 'POST', body: JSON.stringify(slow) })).status).toBe(202);
    const page = await openPage('#/batches/ui-cancel');
    await page.waitForSelector(node('long', 'RUNNING'), { timeout: UI_TIMEOUT_MS });

    await page.click('button.danger');
    await page.waitForSelector('.title-row .badge.status-CANCELLED', { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector(node('long', 'CANCELLED'), { timeout: UI_TIMEOUT_MS });

    const result = (await (await api('/batches/ui-cancel')).json()) as { status: string };
    expect(result.status).toBe('CANCELLED');
    expect(await page.$(node('after', 'CANCELLED'))).not.toBeNull();
    await page.close();
  });

  it("draws a refused batch's dependency cycle and lists every problem with its JSON path", async () => {
    const page = await openPage('#/submit');
    const cyclic = {
      tasks: [
        { id: 'a', description: 'first', dependsOn: ['c'] },
        { id: 'b', description: 'second', dependsOn: ['a'] },
        { id: 'c', description: 'third', dependsOn: ['b'] },
        { id: 'd', description: 'fourth', dependsOn: ['nope'] },
      ],
    };

    await page.fill('#batch-json', JSON.stringify(cyclic));
    await page.click('button[type=submit]');
    await page.waitForSelector('.issues li');

    const issues = await page.$$eval('.issues li', (items) => items.map((li) => li.textContent ?? ''));
    expect(issues.some((i) => i.startsWith('$.tasks[3].dependsOn[0]'))).toBe(true);
    expect(
      issues.some((i) => /dependency cycle: (a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c)/.test(i)),
    ).toBe(true);
    const marked = await page.$$eval('g.node.marked', (nodes) =>
      nodes.map((n) => n.getAttribute('data-task')),
    );
    expect(marked.sort()).toEqual(['a', 'b', 'c']);
    expect(await page.$$('path.edge.marked')).toHaveLength(3);
    expect((await api('/batches?limit=100').then((r) => r.json())) as object).not.toMatchObject({
      batches: [expect.objectContaining({ tasks: expect.objectContaining({ total: 4 }) })],
    });
    await page.close();
  });

  it('shows each provider limit on the agents page: calls in use over the limit, and the rate', async () => {
    const page = await openPage('#/agents');
    const row = page.locator('section[aria-labelledby="providers-title"] tr', { hasText: 'http' });

    await row.waitFor({ timeout: UI_TIMEOUT_MS });
    const cells = (await row.locator('td').allTextContents()).map((text) => text.trim());
    expect(cells).toEqual(['0 / 3', '100%', '10 left of 60', '–']);
    await page.close();
  });

  it('keeps refreshing a running batch after a refresh fails, and says meanwhile that what it shows is stale', async () => {
    const slow = {
      batchId: 'ui-stale',
      tasks: [
        { id: 'long', description: 'Audit the login flow', input: { simulate: { durationMs: 60_000 } } },
      ],
    };
    expect((await api('/batches', { method: 'POST', body: JSON.stringify(slow) })).status).toBe(202);
    const page = await openPage('#/batches/ui-stale', undefined, { clock: true });
    await page.waitForSelector(node('long', 'RUNNING'), { timeout: UI_TIMEOUT_MS });
    // The next reads of the batch (not of its graph) fail as a failing API answers; the task runs on, so no
    // progress message comes to bring a refresh: only the view's own polling can.
    const batchUrl = `${server.url}/batches/ui-stale`;
    // One failure: the retry's waits (5 s, doubling) are unit-tested in test/unit/web/poll.test.ts.
    const failedOnce = await failOnce(page, batchUrl, 500, {
      error: 'InternalError',
      message: 'internal error; see the service logs',
    });
    const answered = (status: number) =>
      page.waitForResponse((r) => r.url() === batchUrl && r.status() === status, { timeout: UI_TIMEOUT_MS });

    // The view's own timers, moved on instead of waited for (10 s): its next read of the running batch, which
    // fails, then its retry after the failure (both 5 s away: FALLBACK_REFRESH_MS, retryDelay's first wait).
    // Each answer is awaited from before the move that brings it: a read answered before the failure (one
    // already on its way) is not taken for the recovery.
    const failed = answered(500);
    await page.clock.fastForward(VIEW_REFRESH_MS);
    await failed;
    const notice = await (await page.waitForSelector('.stale', { timeout: UI_TIMEOUT_MS })).textContent();
    const recovered = answered(200);
    await page.clock.fastForward(VIEW_REFRESH_MS);
    await page.waitForSelector('.stale', { state: 'detached', timeout: UI_TIMEOUT_MS });

    expect((await recovered).ok()).toBe(true);
    expect(failedOnce()).toBe(true);
    expect(notice).toMatch(
      /^Not up to date: the last refresh failed \(HTTP 500: internal error; see the service logs\)\. Shown as read at .+; trying again at .+\.$/,
    );
    expect(await page.$(node('long', 'RUNNING'))).not.toBeNull();
    await api('/batches/ui-stale', { method: 'DELETE' });
    await page.close();
  }, 120_000);

  it('tries a failed first read of the graph again, saying meanwhile that it will, then draws it', async () => {
    const batch = {
      batchId: 'ui-graph-retry',
      tasks: [{ id: 'only', description: 'Write the release notes' }],
    };
    expect((await api('/batches', { method: 'POST', body: JSON.stringify(batch) })).status).toBe(202);
    const page = await browser.context.newPage();
    const graphUrl = `${server.url}/batches/ui-graph-retry/graph`;
    // One failure of the graph's only read: the retry's waits (5 s, doubling) are unit-tested in poll.test.ts.
    const failed = await failOnce(page, graphUrl, 503, { error: 'Unavailable', message: 'try again' });
    // The page's timers on a clock the test moves on, as openPage's `clock` does: the retry's wait is skipped.
    await page.clock.install();
    await page.goto(`${server.url}/#key=${API_KEY}`);
    await page.waitForSelector('nav');
    await page.evaluate(`window.location.hash = ${JSON.stringify('#/batches/ui-graph-retry')}`);

    const notice = await page.waitForSelector('.stale', { timeout: UI_TIMEOUT_MS });
    const text = await notice.textContent();
    // The retry's first wait (retryDelay), moved on instead of waited for.
    await page.clock.fastForward(VIEW_REFRESH_MS);
    await page.waitForSelector(node('only'), { timeout: UI_TIMEOUT_MS });

    expect(text).toMatch(/^Not loaded: the read failed \(HTTP 503: try again\); trying again at .+\.$/);
    expect(failed()).toBe(true);
    expect(await page.$('.stale')).toBeNull();
    await page.close();
  }, 120_000);

  it('asks for the key when it has none, and fits a narrow screen without sideways scrolling', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/`);
    await page.evaluate('sessionStorage.clear()');
    await page.reload();

    await page.waitForSelector('#api-key');
    await page.fill('#api-key', API_KEY);
    await page.keyboard.press('Enter');
    await page.waitForSelector('table.batches tr[data-batch="ui-live"]');
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));

    expect(overflow).toBeLessThanOrEqual(0);
    expect(await page.evaluate("sessionStorage.getItem('meta-agent.apiKey')")).toBe(API_KEY);
    await page.close();
  });

  // Last: its batches push the others off the first page.
  it('pages through the batches past the newest 50 with "Older", and back with "Newer"', async () => {
    const ids = Array.from({ length: 51 }, (_, i) => `ui-page-${String(i).padStart(2, '0')}`);
    // One at a time, so each is newer than the one before; waiting for an approval, none runs anything.
    for (const batchId of ids) {
      const body = { batchId, tasks: [{ id: 'plan', description: 'Plan it', approval: { before: true } }] };
      expect((await api('/batches', { method: 'POST', body: JSON.stringify(body) })).status).toBe(202);
    }
    const page = await openPage();
    const listed = () =>
      page.$$eval('tr[data-batch]', (rows) => rows.map((r) => r.getAttribute('data-batch')));

    await page.waitForSelector('tr[data-batch="ui-page-50"]', { timeout: UI_TIMEOUT_MS });
    const newest = await listed();
    await page.getByRole('button', { name: 'Older' }).click();
    await page.waitForSelector('tr[data-batch="ui-page-00"]', { timeout: UI_TIMEOUT_MS });
    const older = await listed();
    const pageName = await page.textContent('.pager span');
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.waitForSelector('tr[data-batch="ui-page-50"]', { timeout: UI_TIMEOUT_MS });

    expect(newest).toEqual(ids.slice(1).reverse());
    expect(older[0]).toBe('ui-page-00');
    expect(older).toContain('ui-live');
    expect(pageName).toBe('Page 2');
    expect(await page.isDisabled('.pager button:first-child')).toBe(true);
    await Promise.all(ids.map((batchId) => api(`/batches/${batchId}`, { method: 'DELETE' })));
    await page.close();
  }, 180_000);
});
