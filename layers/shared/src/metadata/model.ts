/**
 * Metadata as the domain sees it (camelCase, as the metadata API speaks it). The metadata function writes
 * it; the enricher reads it through Redis and PostgreSQL.
 */
export type Tags = Record<string, string>;

export interface Host {
  hostname: string;
  ipAddress: string;
  datacenter: string;
  environment: string;
  costCenter: string;
  tags: Tags;
}

export interface Service {
  name: string;
  team: string;
  owner: string;
  tier: string;
  version: string;
  costCenter: string;
  tags: Tags;
}

export interface Network {
  cidr: string;
  datacenter: string;
  environment: string;
  zone: string;
  description: string | null;
}
