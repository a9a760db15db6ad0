/**
 * Metadata rows as the SQL of both readers selects them (the tables' column names; addresses as `host(ip_address)`
 * and networks as `cidr::text`, so both are PostgreSQL's text) and the one mapping between rows and the model: the
 * enricher's PostgreSQL tier and the metadata repository both read rows through it, and the repository writes them.
 */
import type { Host, Network, Service, Tags } from './model.ts';

export interface HostRow {
  hostname: string;
  ip_address: string;
  datacenter: string;
  environment: string;
  cost_center: string;
  tags: Tags;
}

export interface ServiceRow {
  name: string;
  team: string;
  owner: string;
  tier: string;
  version: string;
  cost_center: string;
  tags: Tags;
}

export interface NetworkRow {
  cidr: string;
  datacenter: string;
  environment: string;
  zone: string;
  description: string | null;
}

/**
 * @example
 * hostFromRow({ hostname: 'web-1', ip_address: '10.0.0.5', datacenter: 'eu-1', environment: 'prod', cost_center: 'ops', tags: {} });
 * // { hostname: 'web-1', ipAddress: '10.0.0.5', datacenter: 'eu-1', environment: 'prod', costCenter: 'ops', tags: {} }
 */
export function hostFromRow({ hostname, ip_address, datacenter, environment, cost_center, tags }: HostRow): Host {
  return { hostname, ipAddress: ip_address, datacenter, environment, costCenter: cost_center, tags };
}

export function serviceFromRow({ name, team, owner, tier, version, cost_center, tags }: ServiceRow): Service {
  return { name, team, owner, tier, version, costCenter: cost_center, tags };
}

export function networkFromRow({ cidr, datacenter, environment, zone, description }: NetworkRow): Network {
  return { cidr, datacenter, environment, zone, description };
}

/** The columns the metadata repository writes for a host (the inverse of `hostFromRow`). */
export function hostToRow({ hostname, ipAddress, datacenter, environment, costCenter, tags }: Host): HostRow {
  return { hostname, ip_address: ipAddress, datacenter, environment, cost_center: costCenter, tags };
}

export function serviceToRow({ name, team, owner, tier, version, costCenter, tags }: Service): ServiceRow {
  return { name, team, owner, tier, version, cost_center: costCenter, tags };
}

export function networkToRow({ cidr, datacenter, environment, zone, description }: Network): NetworkRow {
  return { cidr, datacenter, environment, zone, description };
}
