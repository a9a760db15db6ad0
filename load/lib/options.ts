/**
 * Command-line options of `npm run load`, parsed and checked in one place (every problem listed at once).
 * Pure: argv in, options or an error out.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

const positive = z.coerce.number().positive();

const LoadOptionsSchema = z.object({
  rate: positive.default(100),
  duration: positive.default(60),
  url: z.url().default(DEFAULT_URL),
  apiKey: z.string().min(1).optional(),
  batch: z.coerce.number().int().min(1).max(1000).default(1),
  /** Kafka brokers for end-to-end accounting; defaults to 127.0.0.1:9092 when the target is local. */
  brokers: z
    .string()
    .regex(/^\s*[^\s:,]+:\d+\s*(,\s*[^\s:,]+:\d+\s*)*$/, 'must be a comma-separated host:port list')
    .optional(),
  /** Requests allowed in flight before due ones are dropped (client overload). */
  maxInFlight: z.coerce.number().int().min(1).default(1024),
  /** How long to wait after the last response for accepted logs to come out of the pipeline. */
  drainTimeout: positive.default(30),
  /** Skip end-to-end accounting even when Kafka is reachable. */
  accounting: z.boolean().default(true),
});
export type LoadOptions = z.infer<typeof LoadOptionsSchema>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `usage: npm run load -- [--rate LOGS_PER_S] [--duration S] [--url URL] [--api-key KEY] [--batch N]
                      [--brokers HOST:PORT,...] [--max-in-flight N] [--drain-timeout S] [--no-accounting]
defaults: --rate 100 --duration 60 --url ${DEFAULT_URL} --batch 1 --max-in-flight 1024 --drain-timeout 30
A local target with nothing listening gets the local pipeline started in this process (and stopped after).`;

/**
 * @example
 * parseLoadOptions(['--rate', '500', '--duration', '10']); // { rate: 500, duration: 10, url: 'http://127.0.0.1:8080', ... }
 */
export function parseLoadOptions(argv: readonly string[]): LoadOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        rate: { type: 'string' },
        duration: { type: 'string' },
        url: { type: 'string' },
        'api-key': { type: 'string' },
        batch: { type: 'string' },
        brokers: { type: 'string' },
        'max-in-flight': { type: 'string' },
        'drain-timeout': { type: 'string' },
        'no-accounting': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  if (values.help === true) throw new UsageError(USAGE);
  // Empty strings come from the shell wrapper's unset variables: they mean "default".
  const given = (key: string) => (values[key] === '' ? undefined : values[key]);
  const parsed = LoadOptionsSchema.safeParse({
    rate: given('rate'),
    duration: given('duration'),
    url: given('url'),
    apiKey: given('api-key'),
    batch: given('batch'),
    brokers: given('brokers'),
    maxInFlight: given('max-in-flight'),
    drainTimeout: given('drain-timeout'),
    accounting: values['no-accounting'] === true ? false : undefined,
  });
  if (!parsed.success) {
    const flag = (key: PropertyKey) => `--${String(key).replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
    const problems = parsed.error.issues.map((issue) => `${flag(issue.path[0] ?? '')}: ${issue.message}`);
    throw new UsageError(`${problems.join('\n')}\n${USAGE}`);
  }
  return parsed.data;
}

/** Whether `url` points at this machine (then the load command may start the pipeline and read Kafka). */
export function isLocalTarget(url: string): boolean {
  const { hostname } = new URL(url);
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]' || hostname === '::1';
}
