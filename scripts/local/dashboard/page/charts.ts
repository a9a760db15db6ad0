/// <reference lib="dom" />
/**
 * Time-series charts of the dashboard, on uPlot (bundled by esbuild, no CDN). A null sample is a gap in the
 * line and "unknown" in the legend, never 0. A chart whose set of series changes (a partition or breaker
 * appears) is built anew; otherwise each poll only swaps its data.
 */
import uPlot from 'uplot';
import type { BreakerState, BreakerTransition } from '../contract.ts';
import { clock } from './dom.ts';

export interface Line {
  label: string;
  color: string;
  values: (number | null)[];
  /** Scale key; default `y`. */
  scale?: string;
  dash?: number[];
  width?: number;
  stepped?: boolean;
  /** Legend text of a value (null is "unknown"). */
  format?: (value: number) => string;
}

export interface ChartOptions {
  /** The accessible name's prefix ("Throughput"). */
  title: string;
  height?: number;
  scales?: uPlot.Scales;
  /** Axes after the time axis; default one `y` axis on the left. */
  axes?: uPlot.Axis[];
  plugins?: uPlot.Plugin[];
}

export const COLORS = {
  complete: '#2e7d32',
  partial: '#b26a00',
  deadLetter: '#c62828',
  ingest: '#1565c0',
  rejected: '#6a1b9a',
  enrich: '#1565c0',
  endToEnd: '#00838f',
  muted: '#78909c',
} as const;

/** Series without a colour of their own (partitions, breakers), in order. */
export const PALETTE = ['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#ad1457', '#4e342e'] as const;

export const STATE_COLORS: Record<BreakerState, string> = { open: '#c62828', halfOpen: '#f0a000', closed: '#2e7d32' };

const AXIS = { stroke: '#5b6473', grid: { stroke: '#eceff3' }, ticks: { stroke: '#d9dde3' } } satisfies uPlot.Axis;

/** The indices of values with no value on either side (uPlot's points filter: those alone are drawn as points). */
function isolated(u: uPlot, seriesIdx: number): number[] | null {
  const values = u.data[seriesIdx] ?? [];
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) continue;
    if ((values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null) out.push(i);
  }
  return out;
}

/**
 * A y axis as wide as its longest label (uPlot's default width cut "120,000" to "0,000"), after uPlot's own
 * sizing example: the ticks and gap plus the widest label in the axis font.
 */
function fitLabels(u: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = u.axes[axisIdx] as uPlot.Axis & { _size?: number };
  if (cycleNum > 1 && axis._size !== undefined) return axis._size;
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5);
  const longest = (values ?? []).reduce((widest, value) => (value.length > widest.length ? value : widest), '');
  if (longest !== '') {
    const font = Array.isArray(axis.font) ? axis.font[0] : axis.font;
    if (typeof font === 'string') u.ctx.font = font;
    size += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

/** A y range from 0 that never collapses (all-zero or all-null data). */
export const fromZero: uPlot.Range.Function = (_self, _min, max) => [0, max > 0 ? max * 1.1 : 1];

export class TimeChart {
  #plot: uPlot | undefined;
  #key = '';
  readonly #container: HTMLElement;
  readonly #options: ChartOptions;

  constructor(container: HTMLElement, options: ChartOptions) {
    this.#container = container;
    this.#options = options;
  }

  /** The uPlot instance (tests read its data), undefined before the first update. */
  get plot(): uPlot | undefined {
    return this.#plot;
  }

  resize(): void {
    this.#plot?.setSize(this.#size());
  }

  /** Draws `lines` over `t` (epoch ms). */
  update(t: number[], lines: Line[]): void {
    const data: uPlot.AlignedData = [t.map((ms) => ms / 1000), ...lines.map((line) => line.values)];
    const key = lines.map((line) => `${line.label}@${line.scale ?? 'y'}`).join('\n');
    if (this.#plot === undefined || key !== this.#key) {
      this.#plot?.destroy();
      this.#container.replaceChildren();
      this.#plot = new uPlot(this.#uplotOptions(lines), data, this.#container);
      this.#key = key;
    } else {
      this.#plot.setData(data);
    }
    this.#container.setAttribute('aria-label', this.#summary(lines));
  }

  #size(): { width: number; height: number } {
    return { width: Math.max(280, this.#container.clientWidth), height: this.#options.height ?? 200 };
  }

  #uplotOptions(lines: Line[]): uPlot.Options {
    const stepped = uPlot.paths.stepped?.({ align: 1 });
    return {
      ...this.#size(),
      scales: { x: { time: true }, ...this.#options.scales },
      // hh:mm:ss, spaced so that the labels never run into each other on a laptop-wide panel.
      axes: [
        { ...AXIS, space: 80, values: (_u, splits) => splits.map((seconds) => clock(seconds * 1000)) },
        ...(this.#options.axes ?? [{}]).map((axis) => ({ ...AXIS, size: fitLabels, ...axis })),
      ],
      series: [
        { label: 'at', value: (u, seconds, _sidx, idx) => legendTime(idx === null ? latest(u.data[0]) : seconds) },
        ...lines.map(
          (line): uPlot.Series => ({
            label: line.label,
            stroke: line.color,
            width: line.width ?? 1.5,
            scale: line.scale ?? 'y',
            ...(line.dash === undefined ? {} : { dash: line.dash }),
            ...(line.stepped === true && stepped !== undefined ? { paths: stepped } : {}),
            // A gap, not a line across it: null is "unknown". A value with unknown on both sides has no line
            // to be part of, so it is drawn as a point (at low traffic most latency samples are such).
            spanGaps: false,
            points: { show: true, size: 5, filter: isolated },
            // Away from the cursor the legend shows the latest sample.
            value: (u, value, sidx, idx) => formatValue(line, idx === null ? latest(u.data[sidx]) : value),
          }),
        ),
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      plugins: this.#options.plugins ?? [],
    };
  }

  /** The accessible name: each line's latest value. */
  #summary(lines: Line[]): string {
    if (lines.length === 0) return `${this.#options.title}: nothing to show yet`;
    const values = lines.map((line) => `${line.label} ${formatValue(line, line.values.at(-1))}`);
    return `${this.#options.title}, latest: ${values.join(', ')}`;
  }
}

/** The last sample of a series (null: unknown). */
function latest(values: uPlot.AlignedData[number] | undefined): number | null {
  const value = values?.at(-1);
  return typeof value === 'number' ? value : null;
}

function legendTime(seconds: number | null | undefined): string {
  return seconds === null || seconds === undefined ? '' : clock(seconds * 1000);
}

function formatValue(line: Line, value: number | null | undefined): string {
  return value === null || value === undefined ? 'unknown' : (line.format ?? defaultFormat)(value);
}

function defaultFormat(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
}

/**
 * Vertical marks at breaker transitions, coloured by the state entered (the page's legend says which colour is
 * which). Read through `transitions` at each draw, so the marks follow the latest snapshot.
 */
export function transitionMarks(transitions: () => readonly BreakerTransition[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const { min, max } = u.scales.x ?? {};
          if (min === undefined || max === undefined) return;
          const { ctx } = u;
          const { top, height } = u.bbox;
          ctx.save();
          ctx.lineWidth = 2 * uPlot.pxRatio;
          ctx.setLineDash([4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
          for (const transition of transitions()) {
            const at = transition.at / 1000;
            if (at < min || at > max) continue;
            const x = Math.round(u.valToPos(at, 'x', true));
            ctx.strokeStyle = STATE_COLORS[transition.to];
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}
