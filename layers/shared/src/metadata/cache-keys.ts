/**
 * The Redis key layout shared by the metadata writer (which deletes keys) and the enricher (which reads
 * and fills them). Change it in one place or the two drift and invalidation silently stops working.
 */
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
   * Bumped (INCR) by every metadata write. The enricher reads it once per batch and drops its in-process
   * cache when it moves, so an instance never serves a value older than the last write it could see.
   */
  version: `${PREFIX}:version`,
} as const;
