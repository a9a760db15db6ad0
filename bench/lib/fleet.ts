/**
 * A fleet of hosts for the bench. The demo metadata knows four hosts; a load mix drawing 60 % of its logs
 * from four addresses puts them on at most four partitions of `raw-logs` (the key is the source IP), which
 * measures the hottest partition rather than the pipeline. A fleet of a few hundred registered hosts inside
 * a demo network spreads the keys the way a real estate of machines does.
 */
import type { MixCatalog } from '../../load/lib/mix.ts';
import type { DemoMetadata } from '../../functions/metadata/src/schemas.ts';

/** Addresses 10.20.200.1 onwards: inside the demo network 10.20.0.0/16, clear of its demo hosts. */
export function fleetHosts(count: number): DemoMetadata['hosts'] {
  return Array.from({ length: count }, (_, index) => {
    const n = index + 1;
    return {
      hostname: `bench-fleet-${String(n).padStart(4, '0')}`,
      ipAddress: `10.20.${200 + Math.floor(n / 254)}.${1 + (n % 254)}`,
      datacenter: 'us-west-2',
      environment: 'production',
      costCenter: 'commerce',
      tags: { role: 'bench' },
    };
  });
}

/** The demo catalog with the fleet's hosts added to its known hosts. */
export function withFleet(catalog: MixCatalog, fleet: DemoMetadata['hosts']): MixCatalog {
  return { ...catalog, hosts: [...catalog.hosts, ...fleet.map((host) => ({ hostname: host.hostname, ip: host.ipAddress }))] };
}
