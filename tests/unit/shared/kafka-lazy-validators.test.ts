/**
 * @platformatic/kafka's option validators, made lazy by `#shared/kafka/lazy-validators.ts`: the library's own
 * validators are the lazy ones once the client is imported through `#shared/kafka/producer-client.ts` or
 * `admin-client.ts`, and a lazy validator answers exactly as the eager one (result, errors, messages), so
 * `strict: true` clients still refuse bad options with the library's message.
 */
import { execFileSync } from 'node:child_process';
import { jest } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Admin } from '#shared/kafka/admin-client.ts';
import { ProduceAcks, Producer } from '#shared/kafka/producer-client.ts';
import { LAZY_VALIDATOR, makeCompileLazy } from '#shared/kafka/lazy-validators.ts';

/** Options as the library's own validators see them, the way `ajv` is set up there (utils.js). */
function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, coerceTypes: false, strict: true });
  ajv.addKeyword({ keyword: 'buffer', validate: (_: unknown, value: unknown) => Buffer.isBuffer(value), error: { message: 'must be Buffer' } });
  return ajv;
}

const schema = {
  type: 'object',
  properties: {
    clientId: { type: 'string', minLength: 1 },
    retries: { oneOf: [{ type: 'boolean' }, { type: 'number', minimum: 0 }] },
    key: { buffer: true },
    brokers: { type: 'array', items: { type: 'string' }, minItems: 1 },
  },
  required: ['clientId'],
  additionalProperties: false,
};

const samples: unknown[] = [
  { clientId: 'a' },
  { clientId: 'a', retries: 3, key: Buffer.from('k'), brokers: ['h:1'] },
  {},
  { clientId: '' },
  { clientId: 'a', retries: -1 },
  { clientId: 'a', key: 'not a buffer' },
  { clientId: 'a', brokers: [] },
  { clientId: 'a', extra: true },
  { clientId: 7, retries: 'x', brokers: [1] },
  'not an object',
];

describe('makeCompileLazy', () => {
  it('answers as ajv compiled eagerly: same result, same errors, same message, for every sample', () => {
    const eagerAjv = newAjv();
    const lazyAjv = newAjv();
    makeCompileLazy(lazyAjv as never);
    const eager = eagerAjv.compile(schema);
    const lazy = lazyAjv.compile(schema);
    for (const sample of samples) {
      const expected = eager(sample);
      expect([sample, lazy(sample)]).toEqual([sample, expected]);
      expect(lazy.errors ?? null).toEqual(eager.errors ?? null);
      expect(lazyAjv.errorsText(lazy.errors)).toBe(eagerAjv.errorsText(eager.errors));
    }
  });

  it('compiles nothing until the validator is first called, then once', () => {
    const ajv = newAjv();
    const compile = jest.spyOn(ajv, 'compile');
    makeCompileLazy(ajv as never);
    const validate = ajv.compile(schema);
    expect(compile).not.toHaveBeenCalled();
    validate({ clientId: 'a' });
    validate({});
    expect(compile).toHaveBeenCalledTimes(1);
    expect((validate as unknown as Record<symbol, unknown>)[LAZY_VALIDATOR]).toBe(true);
  });

  it('is idempotent', () => {
    const ajv = newAjv();
    makeCompileLazy(ajv as never);
    const once = ajv.compile;
    makeCompileLazy(ajv as never);
    expect(ajv.compile).toBe(once);
  });
});

/**
 * Which of the library's validators are lazy after importing only `entry`, in a fresh process (in this one,
 * whichever entry point ran first would have patched `ajv` for both).
 */
function lazyAfterImporting(entry: string): Record<string, boolean> {
  const dist = new URL('../../../node_modules/@platformatic/kafka/dist/clients/', import.meta.url).href;
  const script = `
    await import(${JSON.stringify(new URL(`../../../layers/shared/src/kafka/${entry}`, import.meta.url).href)});
    const marker = Symbol.for('log-enrichment.lazy-ajv-validator');
    const answer = {};
    for (const file of ['base/options.js', 'producer/options.js', 'admin/options.js']) {
      for (const [name, value] of Object.entries(await import(${JSON.stringify(dist)} + file))) {
        if (name.endsWith('Validator')) answer[name] = value[marker] === true;
      }
    }
    console.log(JSON.stringify(answer));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return JSON.parse(output) as Record<string, boolean>;
}

describe("@platformatic/kafka's validators through the project's entry points", () => {
  it.each(['producer-client.ts', 'admin-client.ts'])('all of them are lazy after importing only %s', (entry) => {
    const lazy = lazyAfterImporting(entry);
    expect(Object.keys(lazy)).toEqual(expect.arrayContaining(['baseOptionsValidator', 'producerOptionsValidator', 'sendOptionsValidator', 'createTopicsOptionsValidator']));
    expect(Object.entries(lazy).filter(([, isLazy]) => !isLazy)).toEqual([]);
  });

  it('a strict producer still refuses bad options, with the library message', () => {
    // Not idempotent: an idempotent producer sets acks=all itself before validating.
    const make = () => new Producer({ clientId: 'lazy-test', bootstrapBrokers: ['127.0.0.1:1'], strict: true, acks: 7 as never });
    expect(make).toThrow(/\/options\/acks/);
  });

  it('a strict producer with good options is created (idempotent, acks=all)', async () => {
    const producer = new Producer({
      clientId: 'lazy-test',
      bootstrapBrokers: ['127.0.0.1:1'],
      strict: true,
      idempotent: true,
      acks: ProduceAcks.ALL,
      retries: 2,
    });
    await producer.close();
  });

  it('a strict admin refuses bad options too', async () => {
    const admin = new Admin({ clientId: 'lazy-test', bootstrapBrokers: ['127.0.0.1:1'], strict: true });
    try {
      await expect(admin.createTopics({ topics: [''], partitions: -2 } as never)).rejects.toThrow(/options/);
    } finally {
      await admin.close();
    }
  });
});
