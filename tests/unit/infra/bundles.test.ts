/**
 * The bundles as deployed (scripts/bundle-sizes.ts bundles with infra/cdk/lib/bundling.ts): each one imports
 * in a fresh `node` with its function's AWS environment, and what made them smaller stays so: zod reached only
 * through shakeable imports (no locale but English), @platformatic/kafka through its client files with lazy
 * validators (never its index, its consumer or its schema registries), the MSK IAM signer with the project's
 * stand-ins for the two AWS SDK packages it requires whole (infra/cdk/lib/bundling.ts). Sizes and times are
 * printed by `npm run bundle-sizes`, not asserted here, except the functions within the 1 MiB target stay so.
 */
import { type BundleMeasure, measureBundles, TARGETS } from '../../../scripts/bundle-sizes.ts';

let rows: BundleMeasure[] = [];

/**
 * The functions whose own code consumes: the re-enricher reads raw-logs records back by offset
 * (functions/enrich/src/adapters/kafka-record-reader.ts), so @platformatic/kafka's consumer is its to bundle;
 * its index and registries still are not.
 */
const CONSUMERS = ['reenrich'];

beforeAll(async () => {
  rows = await measureBundles({ runs: 1 });
}, 120_000);

const inputsOf = (row: BundleMeasure): string[] => {
  const output = Object.values(row.metafile.outputs).find((candidate) => candidate.entryPoint !== undefined);
  return Object.keys(output?.inputs ?? {});
};

it('bundles every function', () => {
  expect(rows.map((row) => row.name)).toEqual(['ingest', 'metadata', 'enrich', 'reenrich', 'migrate', 'createTopics']);
});

it('imports every bundle in its deployed environment without an error', () => {
  expect(rows.filter((row) => row.error !== undefined).map((row) => `${row.name}: ${row.error}`)).toEqual([]);
  for (const row of rows) expect(row.initMs).toBeDefined();
});

it("bundles none of zod's locales but English (`import * as z`, never `z.core.…`)", () => {
  for (const row of rows) {
    const locales = inputsOf(row).filter((path) => path.includes('node_modules/zod/v4/locales/') && !path.endsWith('/en.js'));
    expect([row.name, locales]).toEqual([row.name, []]);
  }
});

it("reaches @platformatic/kafka through the project's client files, never its index, consumer (but where the code consumes) or registries", () => {
  const kafkaRows = rows.filter((row) => inputsOf(row).some((path) => path.includes('node_modules/@platformatic/kafka/')));
  expect(kafkaRows.map((row) => row.name)).toEqual(['ingest', 'enrich', 'reenrich', 'createTopics']);
  for (const row of kafkaRows) {
    const inputs = inputsOf(row);
    const consumer = CONSUMERS.includes(row.name) ? [] : ['clients\\/consumer\\/consumer\\.js'];
    const pattern = new RegExp(
      `node_modules\\/@platformatic\\/kafka\\/dist\\/(${['index\\.js', ...consumer, 'registries\\/confluent'].join('|')})|node_modules\\/avsc\\/`,
    );
    const unwanted = inputs.filter((path) => pattern.test(path));
    expect([row.name, unwanted]).toEqual([row.name, []]);
    expect([row.name, inputs.includes('layers/shared/src/kafka/lazy-validators.ts')]).toEqual([row.name, true]);
  }
});

it("gives the MSK IAM signer the project's small modules for credential-providers and client-sts, and only it", () => {
  const aliased = /^@aws-sdk\/(client-sts|credential-providers)(\/|$)/;
  for (const row of rows) {
    const packages = inputsOf(row).filter((path) => /node_modules\/@aws-sdk\/(client-sts|credential-providers)\//.test(path));
    expect([row.name, packages]).toEqual([row.name, []]);
    // esbuild's aliases are global: anything else importing these names would get the signer's stand-ins.
    const importers = Object.entries(row.metafile.inputs)
      .filter(([, input]) => input.imports.some((entry) => aliased.test(entry.original ?? '')))
      .map(([path]) => path)
      .filter((path) => !path.startsWith('node_modules/aws-msk-iam-sasl-signer-js/'));
    expect([row.name, importers]).toEqual([row.name, []]);
  }
  const signerRows = rows.filter((row) => inputsOf(row).includes('layers/shared/src/kafka/signer-deps/credential-providers.ts'));
  expect(signerRows.map((row) => row.name)).toEqual(['ingest', 'enrich', 'reenrich', 'createTopics']);
});

it('keeps the functions that are within the 1 MiB target within it', () => {
  for (const name of ['metadata', 'migrate']) {
    const row = rows.find((candidate) => candidate.name === name);
    expect([name, (row?.bytes ?? Infinity) <= TARGETS.bytes]).toEqual([name, true]);
  }
});
