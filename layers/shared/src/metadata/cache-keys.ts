/**
 * The Redis key layout shared by the metadata writer (which deletes keys) and the enricher (which reads
 * and fills them). Change it in one place or the two drift and invalidation silently stops working.
 */
import { getRandomValues } from 'node:crypto';

const PREFIX = 'meta:v1';

export const cacheKeys = {
  /** Host registered with exactly this IP. */
  hostByIp: (ip: string) => `${PREFIX}:host:ip:${ip}`,
  /** Host by hostname. */
  hostByName: (hostname: string) => `${PREFIX}:host:name:${hostname}`,
  /** Service by name. */
  service: (name: string) => `${PREFIX}:service:${name}`,
  /** Most specific network containing this IP. Any network write invalidates all of them (`networkPattern`). */
  networkForIp: (ip: string) => `${PREFIX}:net:${ip}`,
  networkPattern: `${PREFIX}:net:*`,
  /**
   * The metadata version: an opaque random token that every metadata write replaces (`newVersionToken`).
   * The enricher reads it once per batch and drops its in-process cache when it differs, so an instance never
   * serves a value older than the last write it could see. Compared for equality only, never order.
   *
   * Not a counter: a Redis without persistence that restarts (or a failover that loses the last writes) would
   * count again from the same numbers, and an instance frozen through it would take its old entries for
   * current (ABA). A random token is never seen twice. When the key is missing (such a restart), the first
   * reader creates one (SET NX), so "no version" is never a state anyone caches under.
   */
  version: `${PREFIX}:version`,
  /** Every key of this layout: the key pattern of the ElastiCache users' grants (infra/cdk/lib/cache-users.ts). */
  everyKey: `${PREFIX}:*`,
} as const;

/**
 * A fresh value for `cacheKeys.version`: 62 random bits, so no two writes (nor two Redis incarnations) share
 * one. Written as a decimal integer only so that a metadata function deployed before tokens (which INCRs)
 * keeps working during a rolling deploy instead of failing every invalidation; nobody reads it as a number.
 *
 * @example
 * await redis.set(cacheKeys.version, newVersionToken()); // '2739116043598243417'
 */
export function newVersionToken(): string {
  const [high = 0, low = 0] = getRandomValues(new Uint32Array(2));
  return ((BigInt(high & 0x3fffffff) << 32n) | BigInt(low)).toString();
}
