/**
 * The PostgreSQL tier: ONE statement per batch for every entity kind (`= ANY($n)` / `unnest`, the kinds
 * UNION ALL'ed under a `kind` column), bounded by a client-side query timeout of tens of ms. One statement,
 * not one per kind side by side: a batch then costs one socket write, one round trip and one pooled connection
 * instead of up to three (the per-query client work and `writev` were a visible share of the drain's CPU
 * profile). Kinds with no keys pass empty arrays, which select nothing. IPs are echoed back as given (`q.ip`)
 * so results map onto the batch's keys whatever text form PostgreSQL would print.
 *
 * Unnamed statements on purpose: a named (server-side prepared) one would pin the client's connection behind
 * RDS Proxy.
 */
import type pg from 'pg';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { hostFromRow, networkFromRow, serviceFromRow } from '#shared/metadata/rows.ts';
import type { MetadataSource, SourceRequest, SourceResult } from '../ports.ts';

/** `kind` of a row: which key of the request it answers. */
const HOST_BY_IP = 1;
const HOST_BY_NAME = 2;
const NETWORK = 3;
const SERVICE = 4;

// $1 host IPs, $2 hostnames, $3 network IPs (most specific containing network each: DISTINCT ON, served by
// the GiST inet_ops index on `>>=`), $4 service names. Columns a kind does not have are NULL; the first
// branch gives every column its type.
const LOOKUP_SQL = `
SELECT ${HOST_BY_IP} AS kind, q.ip AS lookup, h.hostname, host(h.ip_address) AS ip_address, h.datacenter, h.environment, h.cost_center, h.tags,
       NULL::text AS cidr, NULL::text AS zone, NULL::text AS description, NULL::text AS team, NULL::text AS owner, NULL::text AS tier, NULL::text AS version, NULL::text AS name
  FROM unnest($1::text[]) AS q(ip) JOIN hosts h ON h.ip_address = q.ip::inet
UNION ALL
SELECT ${HOST_BY_NAME}, h.hostname, h.hostname, host(h.ip_address), h.datacenter, h.environment, h.cost_center, h.tags,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM hosts h WHERE h.hostname = ANY($2::text[])
UNION ALL
SELECT ${NETWORK}, m.lookup, NULL, NULL, m.datacenter, m.environment, NULL, NULL,
       m.cidr, m.zone, m.description, NULL, NULL, NULL, NULL, NULL
  FROM (SELECT DISTINCT ON (q.ip) q.ip AS lookup, n.cidr::text AS cidr, n.datacenter, n.environment, n.zone, n.description
          FROM unnest($3::text[]) AS q(ip) JOIN networks n ON n.cidr >>= q.ip::inet
         ORDER BY q.ip, masklen(n.cidr) DESC) AS m
UNION ALL
SELECT ${SERVICE}, s.name, NULL, NULL, NULL, NULL, s.cost_center, s.tags,
       NULL, NULL, NULL, s.team, s.owner, s.tier, s.version, s.name
  FROM services s WHERE s.name = ANY($4::text[])`;

/** One row of LOOKUP_SQL: the key it answers (`lookup`), its kind, and the columns of that kind (others NULL). */
interface LookupRow {
  kind: number;
  lookup: string;
  hostname: string;
  ip_address: string;
  datacenter: string;
  environment: string;
  cost_center: string;
  tags: Host['tags'];
  cidr: string;
  zone: string;
  description: string | null;
  team: string;
  owner: string;
  tier: string;
  version: string;
  name: string;
}

export class PostgresMetadataSource implements MetadataSource {
  readonly #pool: pg.Pool;
  readonly #timeoutMs: number;

  constructor(pool: pg.Pool, options: { queryTimeoutMs: number }) {
    this.#pool = pool;
    this.#timeoutMs = options.queryTimeoutMs;
  }

  async fetch(request: SourceRequest): Promise<SourceResult> {
    const hostsByIp = new Map<string, Host>();
    const hostsByName = new Map<string, Host>();
    const networks = new Map<string, Network>();
    const services = new Map<string, Service>();
    const result = { hostsByIp, hostsByName, networks, services };
    if (request.hostIps.length + request.hostnames.length + request.networkIps.length + request.services.length === 0) return result;
    const config: pg.QueryConfig & { query_timeout: number } = {
      text: LOOKUP_SQL,
      values: [request.hostIps, request.hostnames, request.networkIps, request.services],
      query_timeout: this.#timeoutMs,
    };
    const { rows } = await this.#pool.query<LookupRow>(config);
    for (const row of rows) {
      if (row.kind === HOST_BY_IP) hostsByIp.set(row.lookup, hostFromRow(row));
      else if (row.kind === HOST_BY_NAME) hostsByName.set(row.lookup, hostFromRow(row));
      else if (row.kind === NETWORK) networks.set(row.lookup, networkFromRow(row));
      else if (row.kind === SERVICE) services.set(row.lookup, serviceFromRow(row));
    }
    return result;
  }
}
