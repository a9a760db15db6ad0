/**
 * `npm run bundle-sizes`: bundles every Lambda entry exactly as the CDK house construct does (same options,
 * from infra/cdk/lib/bundling.ts) and prints each bundle's size, plus its largest inputs with `--top N`.
 * Nothing is written to disk.
 */
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { esbuildOptions } from '../infra/cdk/lib/bundling.ts';
import { ENTRIES, REPO_ROOT } from '../infra/cdk/lib/paths.ts';

const { values } = parseArgs({ options: { top: { type: 'string', default: '0' } } });
const top = Number(values.top);

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

const rows: string[][] = [['function', 'index.mjs', 'source map']];
const details: string[] = [];
for (const [name, entry] of Object.entries(ENTRIES)) {
  const result = await build({
    ...esbuildOptions(entry, `/bundle/${name}/index.mjs`),
    absWorkingDir: REPO_ROOT,
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const size = (suffix: string) =>
    result.outputFiles.filter((file) => file.path.endsWith(suffix)).reduce((total, file) => total + file.contents.length, 0);
  rows.push([name, kib(size('.mjs')), kib(size('.mjs.map'))]);
  if (top > 0) {
    const output = Object.values(result.metafile.outputs).find((candidate) => candidate.entryPoint !== undefined);
    const inputs = Object.entries(output?.inputs ?? {})
      .map(([path, input]) => [path.replace(/^node_modules\//, ''), input.bytesInOutput] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
    details.push(`\n${name}: largest inputs`, ...inputs.map(([path, bytes]) => `  ${kib(bytes).padStart(10)}  ${path}`));
  }
}

const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
for (const row of rows) console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  '));
for (const line of details) console.log(line);
