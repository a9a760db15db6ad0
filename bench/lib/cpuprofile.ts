/**
 * Reading a V8 `.cpuprofile` (what `node --cpu-prof` and the inspector's Profiler.stop write) without a
 * viewer: collapsed stacks for Brendan Gregg's flamegraph.pl (the SVG), the top frames by self time, and
 * where the time goes by area of the pipeline (consume, event building, handler, publish, produce, commits,
 * GC, idle). No I/O here.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number; scriptId?: string };
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A frame's name in the graph and the tables: `function file:line`, the file relative to the project or the package. */
export function frameName(frame: CpuProfileNode['callFrame']): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length).replace('/dist/', '/');
  for (const root of ['/functions/', '/layers/', '/scripts/', '/bench/', '/load/']) {
    const at = path.indexOf(root);
    if (at >= 0) return path.slice(at + 1);
  }
  return path;
}

/**
 * Each sample's stack, root first, with the time it stands for (µs: the delta to the next sample, so an
 * interval spent idle or in GC weighs what it lasted, not one tick).
 */
function weightedStacks(profile: CpuProfile): Map<number, { stack: CpuProfileNode[]; micros: number }> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const micros = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    // timeDeltas[i] is the time before sample i; the time after it is the next delta.
    const weight = profile.timeDeltas[i + 1] ?? 0;
    micros.set(id, (micros.get(id) ?? 0) + Math.max(weight, 0));
  }
  const out = new Map<number, { stack: CpuProfileNode[]; micros: number }>();
  for (const [id, weight] of micros) {
    const stack: CpuProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node !== undefined) stack.unshift(node);
    }
    // The synthetic "(root)" frame carries nothing.
    if (stack[0]?.callFrame.functionName === '(root)') stack.shift();
    out.set(id, { stack, micros: weight });
  }
  return out;
}

/**
 * Collapsed stacks (`a;b;c <count>` per line), the input of flamegraph.pl, counted in milliseconds of
 * profile time (rounded; stacks under half a millisecond in all are left out).
 */
export function collapsedStacks(profile: CpuProfile): string {
  const totals = new Map<string, number>();
  for (const { stack, micros } of weightedStacks(profile).values()) {
    const line = stack.map((node) => frameName(node.callFrame).replaceAll(';', ',')).join(';');
    totals.set(line, (totals.get(line) ?? 0) + micros);
  }
  const lines: string[] = [];
  for (const [line, micros] of totals) {
    const ms = Math.round(micros / 1000);
    if (ms > 0 && line !== '') lines.push(`${line} ${ms}`);
  }
  return `${lines.sort().join('\n')}\n`;
}

export interface Share {
  name: string;
  ms: number;
  /** Of the whole profile (idle included). */
  percent: number;
}

/** Frames by self time, highest first. */
export function topSelf(profile: CpuProfile, limit: number): Share[] {
  const byFrame = new Map<string, number>();
  let total = 0;
  for (const { stack, micros } of weightedStacks(profile).values()) {
    const leaf = stack.at(-1);
    if (leaf === undefined) continue;
    const name = frameName(leaf.callFrame);
    byFrame.set(name, (byFrame.get(name) ?? 0) + micros);
    total += micros;
  }
  return toShares(byFrame, total).slice(0, limit);
}

/**
 * The area a stack belongs to: the first frame from the leaf that names one (a base64 `toString` called by
 * the runner's event building is event building; the records encoder called by the producer is produce).
 * Frames that only say "Kafka client" or "Node internals" count when nothing more specific is on the stack.
 */
const AREAS: readonly { area: string; test: (url: string, fn: string) => boolean }[] = [
  { area: 'runner: build the event (base64, headers)', test: (url) => url.includes('/adapters/poller-event.ts') },
  { area: 'runner: lanes, commits, bookkeeping', test: (url) => /\/event-source\/(lanes|runner|commits|offsets|stats)\.ts$/.test(url) },
  { area: 'publisher (encode, group commit)', test: (url) => url.includes('/shared/src/kafka/publisher.ts') },
  { area: 'kafka client: produce', test: (url) => /@platformatic\/kafka\/dist\/(apis|clients)\/producer\//.test(url) },
  { area: 'kafka client: offset commit', test: (url) => /@platformatic\/kafka\/dist\/apis\/consumer\/offset-commit/.test(url) },
  {
    area: 'kafka client: fetch, parse, stream',
    test: (url) => /@platformatic\/kafka\/dist\/(apis\/consumer\/fetch|clients\/consumer\/messages-stream)/.test(url),
  },
  { area: 'bench: measuring outputs', test: (url) => url.includes('/bench/lib/drain.ts') },
];
const FALLBACK_AREAS: readonly { area: string; test: (url: string, fn: string) => boolean }[] = [
  { area: 'kafka client: other (connections, metadata, heartbeats)', test: (url) => url.includes('@platformatic/kafka') },
  { area: 'redis / postgres clients', test: (url) => /node_modules\/(ioredis|@ioredis|redis-parser|pg|pg-protocol|pg-pool)\//.test(url) },
  { area: 'node internals (streams, timers, sockets)', test: (url) => url.startsWith('node:') },
];

function areaOf(stack: readonly CpuProfileNode[]): string {
  const leaf = stack.at(-1);
  const special = leaf?.callFrame.functionName ?? '';
  if (special === '(idle)' || special === '(garbage collector)' || special === '(program)') return special;
  for (let i = stack.length - 1; i >= 0; i--) {
    const { url, functionName } = (stack[i] as CpuProfileNode).callFrame;
    // The handler, by file: the other helpers want to know which of its parts costs what.
    const enrich = /\/functions\/enrich\/(.*)$/.exec(url);
    if (enrich !== null) return `enrich handler: ${enrich[1]}`;
    for (const rule of AREAS) if (rule.test(url, functionName)) return rule.area;
  }
  for (let i = stack.length - 1; i >= 0; i--) {
    const { url, functionName } = (stack[i] as CpuProfileNode).callFrame;
    for (const rule of FALLBACK_AREAS) if (rule.test(url, functionName)) return rule.area;
  }
  return 'other';
}

/** Time by area of the pipeline (see AREAS), highest first. */
export function byArea(profile: CpuProfile): Share[] {
  const byName = new Map<string, number>();
  let total = 0;
  for (const { stack, micros } of weightedStacks(profile).values()) {
    const area = areaOf(stack);
    byName.set(area, (byName.get(area) ?? 0) + micros);
    total += micros;
  }
  return toShares(byName, total);
}

function toShares(micros: Map<string, number>, total: number): Share[] {
  return [...micros]
    .map(([name, value]) => ({ name, ms: value / 1000, percent: total > 0 ? (100 * value) / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

/** A table of shares as text lines (`  12.3 %   456 ms  name`). */
export function formatShares(shares: readonly Share[]): string[] {
  return shares.map((share) => `${share.percent.toFixed(1).padStart(6)} % ${Math.round(share.ms).toString().padStart(7)} ms  ${share.name}`);
}
