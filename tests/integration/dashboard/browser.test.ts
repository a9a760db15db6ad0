/**
 * The local dashboard in a real browser: `npm start` in-process (startLocalPipeline, free ports, throwaway
 * topics, a redis-server of this test's own), its page at the enrich runner's health server driven in
 * Debian's headless Chromium through playwright-core (scripts/ensure-chromium.ts; no browser download).
 *
 * The page loads with no console errors; after logs are posted through ingest its charts hold live data (read
 * from the uPlot instances the page exposes on `window.__dashboard`); the Redis breaker is shown open while
 * this test's Redis is stopped and closed once it is back; the preview form explains a partial log; when the
 * runner stops, the page says so and keeps its charts. The full-page screenshot is docs/dashboard.png (README).
 *
 * Only bounded waits, no wall-clock assertions: every wait ends at its limit with the state it saw.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ensureChromium } from '../../../scripts/ensure-chromium.ts';
import type { DashboardProbe } from '../../../scripts/local/dashboard/page/main.ts';
import { type LocalPipeline, startLocalPipeline } from '../../../scripts/start.ts';
import { deleteTopics, enrichTestEnv, eventually, OwnRedis, produceRaw, type Topics, throwawayTopics, unroutedIp } from '../enrich/support.ts';

// Services, migrations, seeding, a browser and a breaker cycle: well past the default of a single test.
jest.setTimeout(180_000);

const SCREENSHOT = fileURLToPath(new URL('../../../docs/dashboard.png', import.meta.url));
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Seeded by `npm start` (scripts/demo-metadata.json): a complete log. */
const KNOWN = { service: 'payment-service', source_ip: '192.168.1.100' };
const id = randomUUID().slice(0, 8);
const UNKNOWN_SERVICE = `no-such-service-${id}`;

declare global {
  interface Window {
    __dashboard?: DashboardProbe;
  }
}

let topics: Topics;
let redis: OwnRedis;
let pipeline: LocalPipeline;
let browser: Browser;
let page: Page;
const problems: string[] = [];

/**
 * Posts logs to ingest over HTTP: complete ones, partial ones (an unknown service, and an address never seen:
 * a lookup that reaches Redis), and with `invalid`, one that ingest rejects (the rest are still accepted).
 */
async function postLogs(count = 6, invalid = false): Promise<void> {
  const logs: Record<string, unknown>[] = Array.from({ length: count }, (_, index) =>
    index % 3 === 2
      ? { level: 'WARN', message: `dashboard test ${id} ${index}`, service: UNKNOWN_SERVICE, source_ip: unroutedIp() }
      : { level: 'ERROR', message: `dashboard test ${id} ${index}`, ...KNOWN },
  );
  if (invalid) logs.push({ level: 'LOUD', message: `dashboard test ${id} rejected` });
  const response = await fetch(`${pipeline.urls.ingest}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(logs) });
  if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
}

/** `npm start` in-process, on this test's topics and Redis. */
async function startPipeline(env: NodeJS.ProcessEnv): Promise<LocalPipeline> {
  return startLocalPipeline({ log: () => undefined, env });
}

/** The breaker's state as the page shows it, or undefined while it shows none. */
const shownState = (name: string) => page.locator(`#breaker-states li[data-breaker="${name}"]`).getAttribute('data-state', { timeout: 1_000 }).catch(() => undefined);

beforeAll(async () => {
  topics = await throwawayTopics('dashboard');
  redis = await OwnRedis.start();
  pipeline = await startPipeline({
    ...enrichTestEnv(topics, { REDIS_URL: redis.url, ENRICH_BREAKER_RESET_MS: '1000' }),
    INGEST_PORT: '0',
    METADATA_PORT: '0',
    ENRICH_PORT: '0',
    REENRICH_PORT: '0',
    ENRICH_GROUP_ID: `enrich-dashboard-test-${id}`,
    REENRICH_GROUP_ID: `reenrich-dashboard-test-${id}`,
    ENRICH_BATCH_WINDOW_MS: '50',
  });
  browser = await chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
});

afterAll(async () => {
  await browser?.close();
  await pipeline?.stop();
  await redis?.destroy();
  await deleteTopics(topics);
});

describe('the local dashboard in Chromium', () => {
  it('loads with no console errors and polls the runner', async () => {
    // Act
    await page.goto(`${pipeline.urls.enrich}/`);
    await page.waitForFunction(() => (window.__dashboard?.polls ?? 0) >= 2, undefined, { timeout: 20_000 });

    // Assess
    await expect(page.title()).resolves.toContain('local dashboard');
    expect(await page.locator('#banner').isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('charts live data once logs are posted through ingest, and lists the dead letters', async () => {
    // Act: a record only a producer that is not ingest could write (enrich dead-letters it), then a few
    // batches through ingest until a sample holds complete, partial and ingest-accepted rates and a latency
    await produceRaw([{ topic: topics.raw, key: 'dashboard-test', value: `not json ${id}` }]);
    const drawn = await eventually(
      async () => {
        await postLogs(6, true);
        return page.evaluate(() => {
          const { throughput, latency } = window.__dashboard?.charts ?? {};
          const positive = (values: unknown) => (Array.isArray(values) ? values.filter((value) => typeof value === 'number' && value > 0).length : 0);
          // uPlot data: [time, complete, partial, dead-letter, ingest accepted, ingest rejected] and [time, enrich p50, …].
          // Several samples of traffic, not one: the screenshot below is the README's picture of live charts.
          return positive(throughput?.data[1]) >= 8 && positive(throughput?.data[2]) > 0 && positive(throughput?.data[4]) > 0 && positive(latency?.data[1]) > 0;
        });
      },
      45_000,
      700,
    );

    // Assess
    expect(drawn).toBe(true);
    await page.waitForSelector('#partial-reasons tbody tr code', { timeout: 10_000 });
    expect(await page.locator('#partial-reasons tbody').textContent()).toContain('service.team');
    const totals = await page.locator('#totals').textContent();
    expect(totals).not.toContain('unknown'); // ingest runs in this process: its counts are known
    await page.locator('#dead-letters tbody tr', { hasText: `not json ${id}` }).waitFor({ timeout: 15_000 });
    await expect(page.locator('#dead-letters tbody').textContent()).resolves.toContain(topics.raw);
    expect(problems).toEqual([]);
  });

  it("shows the Redis breaker open while the test's Redis is stopped, and closed once it is back", async () => {
    // Prepare
    expect(await shownState('redis')).toBe('closed');

    // Act 1: Redis stops while logs with addresses never seen (memory misses) keep coming
    await redis.stop();
    const opened = await eventually(async () => {
      await postLogs(3);
      return (await shownState('redis')) === 'open';
    }, 30_000, 300);

    // Assess 1
    expect(opened).toBe(true);
    await expect(page.locator('#breaker-states li[data-breaker="redis"]').textContent()).resolves.toMatch(/redis: open since \d\d:\d\d:\d\d/);

    // Act 2: Redis is back; traffic lets the half-open probe through
    await redis.start();
    const closed = await eventually(async () => {
      await postLogs(3);
      return (await shownState('redis')) === 'closed';
    }, 30_000, 300);

    // Assess 2: closed again, and the timeline holds both transitions
    expect(closed).toBe(true);
    const transitions = await page.evaluate(() => (window.__dashboard?.lastSnapshot?.breakerTransitions ?? []).filter((t) => t.name === 'redis').map((t) => t.to));
    expect(transitions).toEqual(expect.arrayContaining(['open', 'closed']));
    expect(problems).toEqual([]);
  });

  it('explains a partial log in the preview form: the unknown service is not found', async () => {
    // Prepare
    await page.fill('#preview-log', JSON.stringify({ level: 'ERROR', message: 'why partial?', service: UNKNOWN_SERVICE, source_ip: KNOWN.source_ip }, null, 2));

    // Act
    await page.click('#preview-button');
    const row = page.locator('#preview-lookups tr[data-kind="services"]');
    await row.waitFor({ timeout: 15_000 });

    // Assess
    await expect(page.locator('#preview-result .verdict').getAttribute('data-status')).resolves.toBe('partial');
    await expect(row.getAttribute('data-state')).resolves.toBe('not_found');
    await expect(row.textContent()).resolves.toContain(UNKNOWN_SERVICE);
    await expect(page.locator('#preview-missing').textContent()).resolves.toMatch(/service\.team\s*not_found/);
    await expect(page.locator('#preview-event').textContent()).resolves.toContain('"why partial?"');
    expect(problems).toEqual([]);

    // The picture the README shows: live charts, a breaker cycle on the timeline, the preview explained.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('says the runner is not answering when it stops, and keeps the charts', async () => {
    // Act
    await pipeline.stop();
    const banner = page.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: 15_000 });

    // Assess
    await expect(banner.textContent()).resolves.toContain(`The enrich runner is not answering at ${new URL(pipeline.urls.enrich ?? '').origin}`);
    expect(await page.locator('#chart-throughput canvas').count()).toBe(1);
  });
});
