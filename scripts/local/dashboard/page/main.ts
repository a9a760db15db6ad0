/// <reference lib="dom" />
/**
 * The local dashboard page (served by scripts/local/dashboard/page.ts, bundled by esbuild with uPlot): polls
 * GET /api/dashboard every second and draws it; when the runner does not answer, a banner says so, the charts
 * keep their last data, and polling goes on until it answers again.
 *
 * Only types come from the server side (contract.ts, `import type`): the bundle carries none of its code.
 */
import type uPlot from 'uplot';
import type { BreakerTransition, DashboardSnapshot } from '../contract.ts';
import { COLORS, fromZero, type Line, PALETTE, TimeChart, transitionMarks } from './charts.ts';
import { byId, clock, num } from './dom.ts';
import { renderBreakers, renderDeadLetters, renderPartialReasons, renderTotals, STATE_LABELS } from './panels.ts';
import { setUpPreview } from './preview.ts';

/** scripts/local/dashboard/index.ts SNAPSHOT_PATH and PREVIEW_PATH (tests/unit/local/dashboard-page.test.ts checks they agree). */
const SNAPSHOT_PATH = '/api/dashboard';
const PREVIEW_PATH = '/api/enrich/preview';
const POLL_MS = 1_000;
/** A poll that takes longer than this counts as "not answering". */
const POLL_TIMEOUT_MS = 3_000;

/** What the browser test reads (window.__dashboard): the uPlot instances and the poll counters. */
export interface DashboardProbe {
  charts: Record<string, uPlot | undefined>;
  polls: number;
  failures: number;
  lastSnapshot: DashboardSnapshot | undefined;
}

declare global {
  interface Window {
    __dashboard?: DashboardProbe;
  }
}

let transitions: readonly BreakerTransition[] = [];
const marks = transitionMarks(() => transitions);
const STATES = ['closed', 'halfOpen', 'open'] as const;

const charts = {
  throughput: new TimeChart(byId('chart-throughput'), { title: 'Throughput', scales: { y: { range: fromZero } }, plugins: [marks] }),
  latency: new TimeChart(byId('chart-latency'), { title: 'Latency', scales: { y: { range: fromZero } }, plugins: [marks] }),
  breakers: new TimeChart(byId('chart-breakers'), {
    title: 'Breaker states',
    height: 160,
    scales: { y: { range: [-0.2, 2.4] } },
    axes: [{ splits: () => [0, 1, 2], values: (_u, splits) => splits.map((value) => STATE_LABELS[STATES[value] ?? 'closed']), size: 70 }],
    plugins: [marks],
  }),
  cache: new TimeChart(byId('chart-cache'), {
    title: 'Cache',
    scales: { pct: { range: [0, 100] }, entries: { range: fromZero } },
    axes: [
      { scale: 'pct', values: (_u, splits) => splits.map((value) => `${value}%`) },
      { scale: 'entries', side: 1, grid: { show: false } },
    ],
  }),
  lag: new TimeChart(byId('chart-lag'), { title: 'Consumer lag', scales: { y: { range: fromZero } }, plugins: [marks] }),
};

const perSecond = (value: number) => `${num(value, 2)}/s`;
const ms = (value: number) => `${num(value, 1)} ms`;
const percent = (value: number) => `${num(value, 1)}%`;

function draw(snapshot: DashboardSnapshot): void {
  const { series } = snapshot;
  transitions = snapshot.breakerTransitions;
  charts.throughput.update(series.t, [
    { label: 'complete', color: COLORS.complete, values: series.complete, format: perSecond },
    { label: 'partial', color: COLORS.partial, values: series.partial, format: perSecond },
    { label: 'dead-letter', color: COLORS.deadLetter, values: series.deadLettered, format: perSecond },
    { label: 'ingest accepted', color: COLORS.ingest, values: series.ingestAccepted, dash: [6, 4], format: perSecond },
    { label: 'ingest rejected', color: COLORS.rejected, values: series.ingestRejected, dash: [6, 4], format: perSecond },
  ]);
  charts.latency.update(series.t, [
    { label: 'enrich p50', color: COLORS.enrich, values: series.latencyP50Ms, format: ms },
    { label: 'enrich p99', color: COLORS.enrich, values: series.latencyP99Ms, dash: [6, 4], width: 2, format: ms },
    { label: 'end-to-end p50', color: COLORS.endToEnd, values: series.endToEndP50Ms, format: ms },
    { label: 'end-to-end p99', color: COLORS.endToEnd, values: series.endToEndP99Ms, dash: [6, 4], width: 2, format: ms },
  ]);
  const breakerNames = Object.keys(series.breakers).sort();
  charts.breakers.update(
    series.t,
    breakerNames.map((name, index): Line => {
      // Lines of breakers in the same state would hide each other: each sits a little above the last.
      const offset = index * 0.12;
      return {
        label: name,
        color: PALETTE[index % PALETTE.length] ?? COLORS.muted,
        values: (series.breakers[name] ?? []).map((state) => (state === null ? null : state + offset)),
        stepped: true,
        width: 2,
        format: (value) => STATE_LABELS[STATES[Math.round(value - offset)] ?? 'closed'],
      };
    }),
  );
  charts.cache.update(series.t, [
    ...(['memory', 'redis', 'postgres'] as const).map(
      (tier, index): Line => ({
        label: `${tier} hit`,
        color: PALETTE[index] ?? COLORS.muted,
        scale: 'pct',
        values: series.hitRatio[tier].map((ratio) => (ratio === null ? null : ratio * 100)),
        format: percent,
      }),
    ),
    { label: 'in-process entries', color: COLORS.muted, scale: 'entries', dash: [2, 3], values: series.memoryEntries, format: (value) => num(value, 0) },
  ]);
  charts.lag.update(
    series.t,
    Object.keys(series.lag)
      .sort()
      .map((partition, index) => ({
        label: partition,
        color: PALETTE[index % PALETTE.length] ?? COLORS.muted,
        values: series.lag[partition] ?? [],
        format: (value) => num(value, 0),
      })),
  );
  renderTotals(snapshot);
  renderBreakers(snapshot);
  renderPartialReasons(snapshot);
  renderDeadLetters(snapshot);
}

const probe: DashboardProbe = { charts: {}, polls: 0, failures: 0, lastSnapshot: undefined };
window.__dashboard = probe;

const banner = byId('banner');
const updated = byId('updated');

function answered(snapshot: DashboardSnapshot): void {
  probe.polls += 1;
  probe.lastSnapshot = snapshot;
  banner.hidden = true;
  document.body.classList.remove('stale');
  draw(snapshot);
  for (const [name, chart] of Object.entries(charts)) probe.charts[name] = chart.plot;
  updated.textContent = `updated ${clock(snapshot.now)}, one sample every ${num(snapshot.intervalMs / 1000, 1)} s`;
}

function notAnswering(why: string): void {
  probe.failures += 1;
  const last = probe.lastSnapshot === undefined ? '' : ` The charts show its last data, of ${clock(probe.lastSnapshot.now)}.`;
  banner.textContent = `The enrich runner is not answering at ${location.origin} (${why}); retrying every ${POLL_MS / 1000} s.${last}`;
  banner.hidden = false;
  // Everything shown is the last answer's: the status and breaker states too, which may no longer hold.
  document.body.classList.add('stale');
  const status = document.querySelector('#totals .status-ok, #totals .status-degraded');
  if (status !== null) {
    status.textContent = 'unknown (not answering)';
    status.className = 'unknown';
  }
}

async function poll(): Promise<void> {
  let snapshot: DashboardSnapshot | undefined;
  try {
    const response = await fetch(SNAPSHOT_PATH, { cache: 'no-store', signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    if (response.ok) snapshot = (await response.json()) as DashboardSnapshot;
    else notAnswering(`HTTP ${response.status}`);
  } catch (error) {
    notAnswering(error instanceof Error ? error.message : String(error));
  } finally {
    setTimeout(() => void poll(), POLL_MS);
  }
  // Outside the try: a bug in drawing is a page error (the browser test fails on it), not "not answering".
  if (snapshot !== undefined) answered(snapshot);
}

let resizing: ReturnType<typeof setTimeout> | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    for (const chart of Object.values(charts)) chart.resize();
  }, 100);
});

setUpPreview(PREVIEW_PATH);
void poll();
