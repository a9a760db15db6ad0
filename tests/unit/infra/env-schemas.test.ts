/**
 * Each function's own configuration schema (the zod schema it parses its environment with at cold start)
 * accepts the environment the template gives it, plus the variables Lambda sets itself, on both targets: a
 * missing or malformed variable fails here, not at the first invocation. A variable no schema reads (a
 * misspelt name, which the schema's default would silently replace) fails too. The schemas are imported from
 * the functions, so a variable added there is checked without touching this test.
 */
import type { z } from 'zod';
import { kafkaEnv } from '#shared/config.ts';
import { topicsEnv as createTopicsEnv } from '../../../infra/cdk/lambda/create-topics.ts';
import { enrichConfig, reenrichEnv } from '../../../functions/enrich/config.ts';
import { ingestEnv } from '../../../functions/ingest/config.ts';
import { metadataEnv } from '../../../functions/metadata/config.ts';
import { migrateEnv } from '../../../functions/metadata/migrate.ts';
import { FAKE, TemplateModel, type Templates } from './template-eval.ts';
import { type FunctionInfo, functions } from './template-match.ts';
import { removeAssembly, SYNTH_TIMEOUT_MS, synthApp, templatesOf } from './synth-app.ts';

/**
 * The schema each function (by POWERTOOLS_SERVICE_NAME) reads. Enrich reads its config and, for its own
 * publisher, kafkaEnv (functions/enrich/dependencies.ts); the re-enricher reads enrich's, plus its policy
 * (reenrichEnv); the topic trigger reads kafkaEnv and KAFKA_TOPICS.
 */
const SCHEMAS: Record<string, z.ZodType> = {
  ingest: ingestEnv,
  enrich: enrichConfig.and(kafkaEnv),
  reenrich: enrichConfig.and(reenrichEnv).and(kafkaEnv),
  metadata: metadataEnv,
  migrate: migrateEnv,
  'create-topics': kafkaEnv.and(createTopicsEnv),
};

/** Set by the house construct or by Lambda, read by Node or by libraries rather than by a schema. */
const ALLOWED = [/^NODE_OPTIONS$/, /^POWERTOOLS_/, /^AWS_/];

/** Lambda sets these in every execution environment and refuses a function that sets one itself. */
const RESERVED = [
  '_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
];

function runtimeVariables(fn: FunctionInfo): Record<string, string> {
  const name = fn.loc.id;
  return {
    AWS_REGION: FAKE.region,
    AWS_DEFAULT_REGION: FAKE.region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.loc.resource.Properties?.MemorySize ?? 128),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/01/[$LATEST]0123456789abcdef',
    AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
    AWS_ACCESS_KEY_ID: 'ASIAFAKEFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_SESSION_TOKEN: 'fake',
    LAMBDA_TASK_ROOT: '/var/task',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    TZ: ':UTC',
    _HANDLER: 'index.handler',
  };
}

/** Top-level keys a schema reads: object shapes, through intersections and pipes (zod 4). */
function schemaKeys(schema: z.ZodType): Set<string> {
  const s = schema as unknown as { shape?: Record<string, unknown>; _zod: { def: Record<string, unknown> } };
  if (s.shape !== undefined) return new Set(Object.keys(s.shape));
  const def = s._zod.def;
  if (def.type === 'intersection') {
    return new Set([...schemaKeys(def.left as z.ZodType), ...schemaKeys(def.right as z.ZodType)]);
  }
  if (def.type === 'pipe') return schemaKeys(def.in as z.ZodType);
  throw new Error(`cannot list the keys of a zod ${String(def.type)}`);
}

/** What the function's schema says about its template environment (empty when it would start). */
function problems(fn: FunctionInfo, env: Record<string, string> = fn.env): string[] {
  const service = fn.service ?? '(no POWERTOOLS_SERVICE_NAME)';
  const schema = SCHEMAS[service];
  if (schema === undefined) return [`${service}: no configuration schema is known for this function`];
  const found: string[] = [];
  for (const name of Object.keys(env)) {
    if (RESERVED.includes(name)) found.push(`${name} is reserved by Lambda`);
  }
  const parsed = schema.safeParse({ ...env, ...runtimeVariables(fn) });
  if (!parsed.success) {
    found.push(...parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
  }
  const known = schemaKeys(schema);
  for (const name of Object.keys(env)) {
    if (!known.has(name) && !ALLOWED.some((pattern) => pattern.test(name))) found.push(`${name}: no schema reads it`);
  }
  return found;
}

const models: Partial<Record<'aws' | 'local', TemplateModel>> = {};

beforeAll(() => {
  for (const target of ['aws', 'local'] as const) {
    const built = synthApp({ target });
    try {
      models[target] = new TemplateModel(templatesOf(built) as Templates);
    } finally {
      removeAssembly(built);
    }
  }
}, SYNTH_TIMEOUT_MS);

/** The house construct's functions (they set POWERTOOLS_SERVICE_NAME); CDK's own handlers read no schema. */
function houseFunctions(target: 'aws' | 'local'): FunctionInfo[] {
  const model = models[target];
  if (model === undefined) throw new Error(`no ${target} synth`);
  return functions(model).filter((fn) => fn.service !== undefined);
}

function houseFunction(target: 'aws' | 'local', service: string): FunctionInfo {
  const fn = houseFunctions(target).find((f) => f.service === service);
  if (fn === undefined) throw new Error(`no ${service} function on ${target}`);
  return fn;
}

describe.each([
  ['aws', ['create-topics', 'enrich', 'ingest', 'metadata', 'migrate', 'reenrich']],
  ['local', ['enrich', 'ingest', 'metadata', 'reenrich']],
] as const)('%s target', (target, services) => {
  it('has a schema for every function, and every function the target should have', () => {
    expect(houseFunctions(target).map((fn) => fn.service).sort()).toEqual([...services]);
  });

  it.each(services)('%s starts with the environment the template gives it', (service) => {
    expect(problems(houseFunction(target, service))).toEqual([]);
  });
});

describe('mistakes the schemas catch', () => {
  it('a required variable dropped (DATABASE_SECRET_ARN)', () => {
    const fn = houseFunction('aws', 'metadata');
    const { DATABASE_SECRET_ARN: _dropped, ...env } = fn.env;
    expect(fn.env.DATABASE_SECRET_ARN).toBeDefined();
    expect(problems(fn, env)).toEqual([expect.stringContaining('DATABASE_URL: set DATABASE_URL, or DATABASE_HOST')]);
  });

  it('a malformed variable (REDIS_URL=http://x)', () => {
    const fn = houseFunction('aws', 'enrich');
    expect(problems(fn, { ...fn.env, REDIS_URL: 'http://x' })).toContain('REDIS_URL: must be a redis:// or rediss:// URL');
  });

  it('a misspelt variable (RAW_TOPIC renamed RAW_TOPICS), which the default would hide', () => {
    const fn = houseFunction('aws', 'enrich');
    const { RAW_TOPIC: topic, ...env } = fn.env;
    expect(topic).toBeDefined();
    expect(problems(fn, { ...env, RAW_TOPICS: topic ?? '' })).toEqual(['RAW_TOPICS: no schema reads it']);
  });

  it('an output encoding enrich does not write (OUTPUT_ENCODING=protobuf)', () => {
    const fn = houseFunction('aws', 'enrich');
    expect(fn.env.OUTPUT_ENCODING).toBe('json');
    expect(problems(fn, { ...fn.env, OUTPUT_ENCODING: 'protobuf' })).toEqual([expect.stringMatching(/^OUTPUT_ENCODING: .*"json"\|"otlp_json"\|"otlp_proto"/)]);
  });

  it('KAFKA_AUTH=none next to MSK_CLUSTER_ARN', () => {
    const fn = houseFunction('aws', 'ingest');
    expect(problems(fn, { ...fn.env, KAFKA_AUTH: 'none' }).join('\n')).toMatch(/^KAFKA_AUTH: /m);
  });

  it('a variable Lambda reserves', () => {
    const fn = houseFunction('aws', 'ingest');
    expect(problems(fn, { ...fn.env, AWS_REGION: 'us-east-1' })).toEqual(['AWS_REGION is reserved by Lambda']);
  });
});
