/**
 * `BreakerReports` over Redis: one hash per breaker, `<prefix><name>` = { epoch, reportedAt, instanceId },
 * holding the latest "opened" report of any instance (see ../breaker.ts for what instances do with it).
 *
 * Reports are written by a script so that Redis, not the instances, orders them: HINCRBY gives each report
 * a new epoch and TIME stamps it with the server's clock (instance clocks differ and are never compared).
 * The hash expires `reportTtlMs` after the latest report, so evidence lives only while someone still fails.
 */
import type { Redis } from 'ioredis';
import { ensureConnected } from '#shared/clients/redis.ts';
import type { BreakerReports, SharedOpenReport } from '../ports.ts';

/** KEYS[1] = the breaker's hash; ARGV[1] = instance id, ARGV[2] = time to live (ms). Returns { epoch, server ms }. */
const REPORT_OPEN = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'reportedAt', ms, 'instanceId', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return { epoch, ms }
`;

const FIELDS = ['epoch', 'reportedAt', 'instanceId'] as const;

export interface RedisBreakerReportsOptions {
  keyPrefix: string;
  /** How long a report stays evidence (the wiring uses twice the breaker reset time). */
  reportTtlMs: number;
}

/**
 * @example
 * const reports = new RedisBreakerReports(redis, { keyPrefix: 'enrich:breaker:v2:', reportTtlMs: 10_000 });
 * await reports.reportOpen('postgres', 'instance-a');
 * await reports.read(['postgres']); // [{ name: 'postgres', epoch: 1, reportedAt: 1764…, instanceId: 'instance-a' }]
 */
export class RedisBreakerReports implements BreakerReports {
  readonly #redis: Redis;
  readonly #options: RedisBreakerReportsOptions;

  constructor(redis: Redis, options: RedisBreakerReportsOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * One HMGET per name, all written before any answer (ioredis sends without waiting for replies): one round
   * trip. The lookup has the PostgreSQL breaker refresh while its cache read is out on the same client, so
   * a batch waits one round trip for both (../tiered-lookup.ts).
   */
  async read(names: readonly string[]): Promise<SharedOpenReport[]> {
    await ensureConnected(this.#redis);
    const answers = await Promise.all(names.map((name) => this.#redis.hmget(this.#options.keyPrefix + name, ...FIELDS)));
    const reports: SharedOpenReport[] = [];
    for (let i = 0; i < names.length; i++) {
      const report = decodeReport(names[i] as string, answers[i] ?? []);
      if (report !== undefined) reports.push(report);
    }
    return reports;
  }

  async reportOpen(name: string, instanceId: string): Promise<SharedOpenReport> {
    await ensureConnected(this.#redis);
    const answer = (await this.#redis.eval(REPORT_OPEN, 1, this.#options.keyPrefix + name, instanceId, String(this.#options.reportTtlMs))) as [number, number];
    return { name, epoch: Number(answer[0]), reportedAt: Number(answer[1]), instanceId };
  }
}

function decodeReport(name: string, [epoch, reportedAt, instanceId]: (string | null)[]): SharedOpenReport | undefined {
  if (epoch === null || epoch === undefined || reportedAt === null || reportedAt === undefined || !instanceId) return undefined;
  const report = { name, epoch: Number(epoch), reportedAt: Number(reportedAt), instanceId };
  return Number.isFinite(report.epoch) && Number.isFinite(report.reportedAt) ? report : undefined;
}
