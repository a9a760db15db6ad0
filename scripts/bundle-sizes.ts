/**
 * `npm run bundle-sizes`: bundles every Lambda entry exactly as the CDK house construct does (same options,
 * from infra/cdk/lib/bundling.ts), writes each bundle to a temporary folder and measures its cold start: a
 * fresh `node` (this Node, the runtime's major) imports the bundle, `--runs` times, with the environment the
 * AWS stack gives the function (dummy values; nothing connects at import). Prints size and module-init time
 * next to the targets; `--top N` lists each bundle's largest packages and inputs, `--cpu-prof DIR` writes one
 * CPU profile of each import there, `--keep DIR` keeps the bundles, `--only NAME` measures one function.
 *
 * The time is taken inside the child, around `await import(url)` (module evaluation, the handler's
 * `create…Dependencies(process.env)` included), with its CPU time (steadier when other work shares the
 * cores) and the process start to that point (Node's own bootstrap added) beside it. The first invocation is
 * not part of it: it needs the network.
 *
 * `measureBundles()` is what `npm run bench` calls.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { esbuildOptions } from '../infra/cdk/lib/bundling.ts';
import { ENTRIES, type EntryName, REPO_ROOT } from '../infra/cdk/lib/paths.ts';

/** The issue's targets (issue 11): every bundle and every module init. */
export const TARGETS = { bytes: 1024 * 1024, initMs: 300 } as const;

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

/**
 * What Lambda sets in every execution environment (fake credentials: nothing may call AWS at import), plus
 * what the house construct sets on every function (infra/cdk/lib/pipeline-function.ts), NODE_OPTIONS
 * included: `--enable-source-maps` is part of the cold start as deployed.
 */
function lambdaEnv(name: string, service: string): Record<string, string> {
  return {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/01/[$LATEST]0123456789abcdef',
    AWS_ACCESS_KEY_ID: 'ASIAFAKEFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_SESSION_TOKEN: 'fake',
    LAMBDA_TASK_ROOT: '/var/task',
    TZ: ':UTC',
    POWERTOOLS_SERVICE_NAME: service,
    POWERTOOLS_METRICS_NAMESPACE: 'LogEnrichment',
    NODE_OPTIONS: '--enable-source-maps',
  };
}

const MSK = {
  MSK_CLUSTER_ARN: `arn:aws:kafka:${REGION}:${ACCOUNT}:cluster/pipeline/00000000-0000-0000-0000-000000000000-1`,
  KAFKA_AUTH: 'aws-msk-iam',
};
const secretArn = (id: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-AbCdEf`;
const database = (user: string) => ({
  DATABASE_HOST: 'proxy.proxy-abc.eu-west-1.rds.amazonaws.com',
  DATABASE_NAME: 'log_enrichment',
  DATABASE_USER: user,
  DATABASE_SSL: 'require',
  DATABASE_SECRET_ARN: secretArn(user),
});
const cache = (user: string) => ({
  REDIS_URL: 'rediss://master.cache.abc.euw1.cache.amazonaws.com:6379',
  REDIS_AUTH: 'aws-iam',
  REDIS_USER: user,
  REDIS_CACHE_NAME: 'pipeline-cache',
});

const ENRICH_ENV: Readonly<Record<string, string>> = {
  ...lambdaEnv('enrich', 'enrich'),
  ...MSK,
  ...database('enrich_app'),
  ...cache('enrich-app'),
  RAW_TOPIC: 'raw-logs',
  COMPLETE_TOPIC: 'enriched-logs-complete',
  PARTIAL_TOPIC: 'enriched-logs-partial',
  DLQ_TOPIC: 'raw-logs-dlq',
  ENRICH_DB_CONNECT_TIMEOUT_MS: '1500',
  ENRICH_DB_TIMEOUT_MS: '200',
  REDIS_TIMEOUT_MS: '100',
  ENRICH_REPORT_BATCH_ITEM_FAILURES: 'true',
};

/** The AWS target's environment of each function (infra/cdk/lib/stateless-stack.ts), with dummy values. */
export const DEPLOYED_ENV: Readonly<Record<EntryName, Readonly<Record<string, string>>>> = {
  ingest: { ...lambdaEnv('ingest', 'ingest'), ...MSK, RAW_TOPIC: 'raw-logs' },
  metadata: {
    ...lambdaEnv('metadata', 'metadata'),
    ...database('metadata_app'),
    ...cache('metadata-app'),
    REDIS_TIMEOUT_MS: '500',
    DATABASE_TIMEOUT_MS: '3000',
  },
  enrich: ENRICH_ENV,
  // The same bindings as enrich (its lookups, topics and publisher), under its own service.
  reenrich: { ...ENRICH_ENV, ...lambdaEnv('reenrich', 'reenrich') },
  migrate: {
    ...lambdaEnv('migrate', 'migrate'),
    ...database('postgres'),
    DATABASE_APP_ROLES: JSON.stringify([{ role: 'enrich_app', group: 'metadata_read', secretArn: secretArn('enrich') }]),
  },
  createTopics: {
    ...lambdaEnv('create-topics', 'create-topics'),
    ...MSK,
    KAFKA_TOPICS: JSON.stringify([{ name: 'raw-logs', partitions: 6 }]),
  },
};

export interface BundleMeasure {
  name: EntryName;
  /** Size of index.mjs as deployed (the source map beside it not counted). */
  bytes: number;
  mapBytes: number;
  /** Time of `await import(bundle)` in a fresh process; undefined (with `error`) when the import failed. */
  initMs: { median: number; min: number; max: number } | undefined;
  /** Process start to the end of that import (Node's bootstrap added), median. */
  sinceStartMs?: number;
  /** CPU time of the import, median: steadier than wall time on a busy machine (GC threads count too). */
  cpuMs?: number;
  error?: string;
  metafile: Metafile;
}

export interface MeasureOptions {
  /** Fresh processes per function (default 7); 0 measures sizes only. */
  runs?: number;
  /** Only these functions (default all). */
  names?: readonly EntryName[];
  /** Writes one CPU profile of each function's import into this folder. */
  cpuProfileDir?: string;
  /** Writes the bundles under this folder (`<name>/index.mjs`) and keeps them. */
  keepDir?: string;
}

/** What the child runs: the import, timed inside the process, answered as one JSON line on stdout. */
const CHILD = `
const cpu = process.cpuUsage();
const start = performance.now();
await import(process.argv[1]);
const end = performance.now();
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ importMs: end - start, sinceStartMs: end, cpuMs: (used.user + used.system) / 1000 }) + '\\n');
process.exit(0); // handlers may leave a timer or a lazy client behind; the measurement is done
`;

export interface ChildResult {
  /** `await import(bundle)`, timed inside the child. */
  importMs: number;
  /** Process start to the end of that import. */
  sinceStartMs: number;
  /** CPU time of the import (user + system, every thread of the process): steadier than wall time on a busy machine. */
  cpuMs: number;
}

/** One import of `file` in a fresh `node` with `env` (and nothing else of this process's environment). */
export function importOnce(file: string, env: Readonly<Record<string, string>>, extraArgs: readonly string[] = []): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    // The environment is the function's alone: nothing of this shell (credentials, NODE_OPTIONS) leaks in.
    const child = spawn(process.execPath, [...extraArgs, '--input-type=module', '-e', CHILD, pathToFileURL(file).href], {
      env: { ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) {
        resolve(JSON.parse(line) as ChildResult);
        return;
      }
      const reason = stderr.split('\n').find((text) => /Error|error:/.test(text)) ?? stderr.trim().split('\n').at(-1) ?? '';
      reject(new Error(`import failed (${signal ?? `exit ${code}`}): ${reason.trim().slice(0, 300)}`));
    });
  });
}

function summary(values: readonly number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number };
}

/**
 * Bundles each function as deployed and measures its size and its module init in fresh processes, one
 * function after another (never in parallel: the machine's cores are part of the measurement).
 *
 * @example
 * for (const row of await measureBundles({ runs: 5 })) console.log(row.name, row.bytes, row.initMs?.median ?? 'unknown');
 */
export async function measureBundles(options: MeasureOptions = {}): Promise<BundleMeasure[]> {
  const runs = options.runs ?? 7;
  const root = options.keepDir ?? mkdtempSync(join(tmpdir(), 'bundle-sizes-'));
  const rows: BundleMeasure[] = [];
  try {
    for (const name of options.names ?? (Object.keys(ENTRIES) as EntryName[])) {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      const outfile = join(dir, 'index.mjs');
      const result = await build({
        ...esbuildOptions(ENTRIES[name], outfile),
        absWorkingDir: REPO_ROOT,
        write: false,
        metafile: true,
        logLevel: 'error',
      });
      for (const file of result.outputFiles) writeFileSync(join(dir, basename(file.path)), file.contents);
      const size = (suffix: string) =>
        result.outputFiles.filter((file) => file.path.endsWith(suffix)).reduce((total, file) => total + file.contents.length, 0);
      const row: BundleMeasure = { name, bytes: size('.mjs'), mapBytes: size('.mjs.map'), initMs: undefined, metafile: result.metafile };
      try {
        if (runs > 0) {
          const samples: ChildResult[] = [];
          for (let run = 0; run < runs; run++) samples.push(await importOnce(outfile, DEPLOYED_ENV[name]));
          row.initMs = summary(samples.map((sample) => sample.importMs));
          row.sinceStartMs = summary(samples.map((sample) => sample.sinceStartMs)).median;
          row.cpuMs = summary(samples.map((sample) => sample.cpuMs)).median;
        }
        if (options.cpuProfileDir !== undefined) {
          mkdirSync(options.cpuProfileDir, { recursive: true });
          await importOnce(outfile, DEPLOYED_ENV[name], ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`, `--cpu-prof-name=${name}.cpuprofile`]);
        }
      } catch (error) {
        row.initMs = undefined;
        row.error = error instanceof Error ? error.message : String(error);
      }
      rows.push(row);
    }
  } finally {
    if (options.keepDir === undefined) rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

/** The rows as a table, targets beside the figures (what `npm run bundle-sizes` and the bench print). */
export function formatBundleTable(rows: readonly BundleMeasure[]): string[] {
  const table: string[][] = [['function', 'index.mjs', `(≤ ${kib(TARGETS.bytes)})`, 'init median', 'min–max', `(≤ ${TARGETS.initMs} ms)`, 'cpu', 'start→imported', 'source map']];
  for (const row of rows) {
    const init = row.initMs;
    table.push([
      row.name,
      kib(row.bytes),
      row.bytes <= TARGETS.bytes ? 'ok' : 'over',
      init === undefined ? (row.error === undefined ? 'not run' : 'unknown') : ms(init.median),
      init === undefined ? '' : `${init.min.toFixed(0)}–${init.max.toFixed(0)}`,
      init === undefined ? '' : init.median <= TARGETS.initMs ? 'ok' : 'over',
      row.cpuMs === undefined ? '' : ms(row.cpuMs),
      row.sinceStartMs === undefined ? '' : ms(row.sinceStartMs),
      kib(row.mapBytes),
    ]);
  }
  const widths = table[0]?.map((_, column) => Math.max(...table.map((cells) => cells[column]?.length ?? 0))) ?? [];
  const lines = table.map((cells) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  '),
  );
  for (const row of rows) if (row.error !== undefined) lines.push(`${row.name}: ${row.error}`);
  return lines;
}

/** Each bundle's `top` largest inputs and packages (bytes in the output), from the metafile. */
export function largestInputs(row: BundleMeasure, top: number): string[] {
  const output = Object.values(row.metafile.outputs).find((candidate) => candidate.entryPoint !== undefined);
  const inputs = Object.entries(output?.inputs ?? {});
  const all = inputs.map(([path, input]) => [path.replace(/^node_modules\//, ''), input.bytesInOutput] as const);
  const largest = (entries: Iterable<readonly [string, number]>) =>
    [...entries].sort((a, b) => b[1] - a[1]).slice(0, top).map(([path, bytes]) => `  ${kib(bytes).padStart(10)}  ${path}`);
  const packages = new Map<string, number>();
  for (const [path, input] of inputs) {
    // A package (`@scope/name` or `name`), or for the project's own code its folder (`functions/enrich/src`).
    const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path.slice(path.lastIndexOf('node_modules/')));
    const key = inPackage?.[1] ?? path.split('/').slice(0, 3).join('/');
    packages.set(key, (packages.get(key) ?? 0) + input.bytesInOutput);
  }
  return [`\n${row.name}: largest packages`, ...largest(packages), `${row.name}: largest inputs`, ...largest(all)];
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      top: { type: 'string', default: '0' },
      runs: { type: 'string', default: '7' },
      only: { type: 'string', multiple: true },
      'cpu-prof': { type: 'string' },
      keep: { type: 'string' },
    },
  });
  const unknown = (values.only ?? []).filter((name) => !(name in ENTRIES));
  if (unknown.length > 0) {
    console.error(`--only: no function named ${unknown.join(', ')} (functions: ${Object.keys(ENTRIES).join(', ')})`);
    process.exit(2);
  }
  const rows = await measureBundles({
    runs: Number(values.runs),
    ...(values.only === undefined ? {} : { names: values.only as EntryName[] }),
    ...(values['cpu-prof'] === undefined ? {} : { cpuProfileDir: values['cpu-prof'] }),
    ...(values.keep === undefined ? {} : { keepDir: values.keep }),
  });
  console.log(`module init: ${Number(values.runs)} fresh \`node\` ${process.version} processes per function, import timed inside each`);
  for (const line of formatBundleTable(rows)) console.log(line);
  const top = Number(values.top);
  if (top > 0) for (const row of rows) for (const line of largestInputs(row, top)) console.log(line);
  if (rows.some((row) => row.error !== undefined)) process.exitCode = 1;
}
