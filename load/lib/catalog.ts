/**
 * The mix's catalog, read from the demo metadata that `npm start` seeds (scripts/demo-metadata.json), so
 * "known host" in a load run means a host the pipeline really knows. Against a deployed stack with other
 * metadata the same file still gives a realistic spread; the accounting does not depend on it.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { MixCatalog } from './mix.ts';

export const DEMO_METADATA_URL = new URL('../../scripts/demo-metadata.json', import.meta.url);

// Field spellings accepted: the seed file's own (snake or camel case), whichever it uses.
const HostEntry = z
  .object({ hostname: z.string(), ip_address: z.string().optional(), ipAddress: z.string().optional(), ip: z.string().optional() })
  .transform((host) => ({ hostname: host.hostname, ip: host.ip_address ?? host.ipAddress ?? host.ip }));
const NetworkEntry = z.union([z.string(), z.object({ cidr: z.string() }).transform((network) => network.cidr)]);
const ServiceEntry = z.union([z.string(), z.object({ name: z.string() }).transform((service) => service.name)]);
const DemoMetadata = z.object({
  hosts: z.array(HostEntry).default([]),
  networks: z.array(NetworkEntry).default([]),
  services: z.array(ServiceEntry).default([]),
});

/** Used when the demo metadata file is missing: the addresses the README's examples use. */
export const FALLBACK_CATALOG: MixCatalog = {
  hosts: [{ hostname: 'web-server-01', ip: '192.168.1.100' }],
  networks: ['192.168.1.0/24', '10.0.0.0/8', '10.20.0.0/16'],
  services: ['payment-service'],
};

/**
 * The demo metadata as a mix catalog; {@link FALLBACK_CATALOG} when the file does not exist.
 *
 * @example
 * const catalog = await loadCatalog(); // { hosts: [{ hostname: 'web-server-01', ip: '192.168.1.100' }, ...], ... }
 */
export async function loadCatalog(url: URL = DEMO_METADATA_URL): Promise<MixCatalog> {
  let text: string;
  try {
    text = await readFile(url, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return FALLBACK_CATALOG;
    throw error;
  }
  const parsed = DemoMetadata.parse(JSON.parse(text));
  return {
    hosts: parsed.hosts.flatMap((host) => (host.ip === undefined ? [] : [{ hostname: host.hostname, ip: stripMask(host.ip) }])),
    networks: parsed.networks,
    services: parsed.services,
  };
}

/** PostgreSQL `inet` text may carry a /32. */
function stripMask(ip: string): string {
  return ip.replace(/\/(32|128)$/, '');
}
