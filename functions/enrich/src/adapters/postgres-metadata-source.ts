/**
 * The PostgreSQL tier: one query per entity kind per batch (`= ANY($1)` / `unnest`), each bounded by a
 * client-side query timeout of tens of ms. IPs are echoed back as given (`q.ip`) so results map onto the
 * batch's keys whatever text form PostgreSQL would print.
 */
import type pg from 'pg';
import type { Host } from '#shared/metadata/model.ts';
import { type HostRow, hostFromRow, type NetworkRow, networkFromRow, type ServiceRow, serviceFromRow } from '#shared/metadata/rows.ts';
import type { MetadataSource, SourceRequest, SourceResult } from '../ports.ts';

const HOSTS_SQL = `
SELECT q.ip AS lookup, true AS by_ip, h.hostname, host(h.ip_address) AS ip_address, h.datacenter, h.environment, h.cost_center, h.tags
  FROM unnest($1::text[]) AS q(ip) JOIN hosts h ON h.ip_address = q.ip::inet
UNION ALL
SELECT h.hostname AS lookup, false AS by_ip, h.hostname, host(h.ip_address) AS ip_address, h.datacenter, h.environment, h.cost_center, h.tags
  FROM hosts h WHERE h.hostname = ANY($2::text[])`;

// Most specific containing network per IP (GiST inet_ops index serves `>>=`).
const NETWORKS_SQL = `
SELECT DISTINCT ON (q.ip) q.ip AS lookup, n.cidr::text AS cidr, n.datacenter, n.environment, n.zone, n.description
  FROM unnest($1::text[]) AS q(ip) JOIN networks n ON n.cidr >>= q.ip::inet
 ORDER BY q.ip, masklen(n.cidr) DESC`;

const SERVICES_SQL = `
SELECT name, team, owner, tier, version, cost_center, tags FROM services WHERE name = ANY($1::text[])`;

/** Rows with the key each answers (`q.ip` or the hostname) and, for hosts, which of the two it was. */
interface HostLookupRow extends HostRow {
  lookup: string;
  by_ip: boolean;
}
interface NetworkLookupRow extends NetworkRow {
  lookup: string;
}

const EMPTY: ReadonlyMap<string, never> = new Map<string, never>();

export class PostgresMetadataSource implements MetadataSource {
  readonly #pool: pg.Pool;
  readonly #timeoutMs: number;

  constructor(pool: pg.Pool, options: { queryTimeoutMs: number }) {
    this.#pool = pool;
    this.#timeoutMs = options.queryTimeoutMs;
  }

  async fetch(request: SourceRequest): Promise<SourceResult> {
    const [hosts, networks, services] = await Promise.all([
      request.hostIps.length + request.hostnames.length > 0 ? this.#query<HostLookupRow>(HOSTS_SQL, [request.hostIps, request.hostnames]) : [],
      request.networkIps.length > 0 ? this.#query<NetworkLookupRow>(NETWORKS_SQL, [request.networkIps]) : [],
      request.services.length > 0 ? this.#query<ServiceRow>(SERVICES_SQL, [request.services]) : [],
    ]);
    const hostsByIp = new Map<string, Host>();
    const hostsByName = new Map<string, Host>();
    for (const row of hosts) (row.by_ip ? hostsByIp : hostsByName).set(row.lookup, hostFromRow(row));
    return {
      hostsByIp,
      hostsByName,
      networks: networks.length === 0 ? EMPTY : new Map(networks.map((row) => [row.lookup, networkFromRow(row)])),
      services: services.length === 0 ? EMPTY : new Map(services.map((row) => [row.name, serviceFromRow(row)])),
    };
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    const config: pg.QueryConfig & { query_timeout: number } = { text, values, query_timeout: this.#timeoutMs };
    const result = await this.#pool.query<R>(config);
    return result.rows;
  }
}
