/**
 * What the metadata API accepts, as zod schemas built once at load. Bodies are strict (an unknown field,
 * such as `ip_address` for `ipAddress`, is a 422, not silently dropped); keys are validated wherever they
 * come from (body, path, cursor), so nothing unvalidated reaches SQL.
 */
import * as z from 'zod';
import { ValidationError } from '#shared/errors.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { formatCidr, parseCidr } from '#shared/net/ip.ts';
import { IpAddress, ServiceName } from '#shared/schemas/log.ts';

export const LIMITS = {
  bodyBytes: 64 * 1024,
  tags: 50,
  tagKeyChars: 128,
  tagValueChars: 256,
  pageDefault: 50,
  pageMax: 500,
} as const;

// Control characters (U+0000–U+001F, U+007F–U+009F) have no business in metadata, and PostgreSQL rejects
// NUL in text and jsonb: letting one through would turn a client mistake into a 500.
const NO_CONTROL_CHARACTERS = /^\P{Cc}*$/u;

/** A trimmed, non-empty, single-line string of at most `max` characters. */
const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters');

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';

/** RFC 1123 host name: dot-separated labels of 1–63 letters, digits and inner hyphens; 253 characters at most. */
export const hostname = z
  .string({ error: 'must be a string' })
  .max(253, 'must be at most 253 characters')
  .regex(
    new RegExp(`^${LABEL}(?:\\.${LABEL})*$`),
    'must be an RFC 1123 hostname: dot-separated labels of 1-63 letters, digits or "-", not starting or ending with "-"',
  );

// The same rules as the log's `service` and `source_ip`: a service or host registered here is one a log
// can name, and an address ingest accepts is one a host can have.
export const serviceName = ServiceName;
export const ipAddress = IpAddress;

/**
 * An IPv4 or IPv6 network in canonical form. A CIDR with host bits set (`10.20.1.0/16`) is refused rather
 * than silently widened: the client may have meant 10.20.1.0/24 just as well as 10.20.0.0/16.
 */
export const cidr = z
  .union([z.cidrv4(), z.cidrv6()], { error: 'must be an IPv4 or IPv6 CIDR such as 10.20.0.0/16' })
  .transform((value, context) => {
    const parsed = parseCidr(value);
    if (parsed === undefined) {
      context.issues.push({ code: 'custom', input: value, message: 'must be an IPv4 or IPv6 CIDR such as 10.20.0.0/16' });
      return z.NEVER;
    }
    if (parsed.hostBitsSet) {
      const network = formatCidr(parsed);
      context.issues.push({
        code: 'custom',
        input: value,
        message: `has host bits set: the address of a /${parsed.prefix} network is ${network}`,
      });
      return z.NEVER;
    }
    return formatCidr(parsed);
  });

const tags = z
  .record(
    z.string().regex(/^\P{Cc}{1,128}$/u, `must be 1-${LIMITS.tagKeyChars} characters without control characters`),
    z
      .string({ error: 'must be a string' })
      .max(LIMITS.tagValueChars, `must be at most ${LIMITS.tagValueChars} characters`)
      .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters'),
    { error: 'must be an object of string values' },
  )
  .refine((value) => Object.keys(value).length <= LIMITS.tags, `must have at most ${LIMITS.tags} entries`)
  .default({});

// Accepted and ignored, so that a record fetched with GET can be edited and sent back with PUT.
const readOnly = {
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
};

const hostFields = {
  ipAddress,
  datacenter: text(64),
  environment: text(64),
  costCenter: text(64),
  tags,
  ...readOnly,
};
export const HostCreate = z.strictObject({ hostname, ...hostFields });
export type HostCreate = z.infer<typeof HostCreate>;
/** PUT body: the key may be left out (the path names the record); if present it must match. */
export const HostReplace = z.strictObject({ hostname: hostname.optional(), ...hostFields });
export type HostReplace = z.infer<typeof HostReplace>;

const serviceFields = {
  team: text(128),
  owner: text(256),
  tier: text(64),
  version: text(64),
  costCenter: text(64),
  tags,
  ...readOnly,
};
export const ServiceCreate = z.strictObject({ name: serviceName, ...serviceFields });
export type ServiceCreate = z.infer<typeof ServiceCreate>;
export const ServiceReplace = z.strictObject({ name: serviceName.optional(), ...serviceFields });
export type ServiceReplace = z.infer<typeof ServiceReplace>;

const networkFields = {
  datacenter: text(64),
  environment: text(64),
  zone: text(64),
  description: text(1024).nullable().default(null),
  ...readOnly,
};
export const NetworkCreate = z.strictObject({ cidr, ...networkFields });
export type NetworkCreate = z.infer<typeof NetworkCreate>;
export const NetworkReplace = z.strictObject({ cidr: cidr.optional(), ...networkFields });
export type NetworkReplace = z.infer<typeof NetworkReplace>;

const limitMessage = `must be an integer from 1 to ${LIMITS.pageMax}`;
const pageQuery = {
  limit: z.coerce
    .number({ error: limitMessage })
    .int(limitMessage)
    .min(1, limitMessage)
    .max(LIMITS.pageMax, limitMessage)
    .default(LIMITS.pageDefault),
  cursor: z.string().min(1, 'must not be empty').optional(),
};
/** `?ip=` filters the list down to the one matching record (0 or 1 item). */
export const HostListQuery = z.strictObject({ ...pageQuery, ip: ipAddress.optional() });
export const ServiceListQuery = z.strictObject(pageQuery);
export const NetworkListQuery = z.strictObject({ ...pageQuery, ip: ipAddress.optional() });
export type ListQuery = { limit: number; cursor?: string | undefined; ip?: string | undefined };

/** `POST /{kind}:import?mode=`: all or nothing (default), or apply the valid rows and report the others. */
export const ImportQuery = z.strictObject({
  mode: z.enum(['all-or-nothing', 'upsert-valid'], { error: 'must be all-or-nothing or upsert-valid' }).default('all-or-nothing'),
});
/** `GET /{kind}:export?format=&cursor=`: the cursor is the `x-next-cursor` of the previous page of a large export. */
export const ExportQuery = z.strictObject({
  format: z.enum(['csv', 'ndjson'], { error: 'must be csv or ndjson' }).default('csv'),
  cursor: z.string().min(1, 'must not be empty').optional(),
});

/** Demo data file (scripts/demo-metadata.json): records as the API's POST bodies. */
export const DemoMetadata = z.strictObject({
  hosts: z.array(HostCreate),
  services: z.array(ServiceCreate),
  networks: z.array(NetworkCreate),
});
export type DemoMetadata = z.infer<typeof DemoMetadata>;

export function toHost(input: HostCreate): Host {
  const { hostname, ipAddress, datacenter, environment, costCenter, tags } = input;
  return { hostname, ipAddress, datacenter, environment, costCenter, tags };
}

export function toService(input: ServiceCreate): Service {
  const { name, team, owner, tier, version, costCenter, tags } = input;
  return { name, team, owner, tier, version, costCenter, tags };
}

export function toNetwork(input: NetworkCreate): Network {
  const { cidr, datacenter, environment, zone, description } = input;
  return { cidr, datacenter, environment, zone, description };
}

/**
 * The PUT body's key, when present, must be the path's: a PUT never renames (delete and create instead).
 *
 * @example
 * withPathKey('hostname', body.hostname, 'web-1'); // 'web-1', or a 422 when body.hostname is another name
 */
export function withPathKey(field: string, bodyKey: string | undefined, pathKey: string): string {
  if (bodyKey !== undefined && bodyKey !== pathKey) {
    const reason = `must equal the ${field} in the path (${JSON.stringify(pathKey)}) when present; got ${JSON.stringify(bodyKey)}`;
    throw new ValidationError([{ field, reason }]);
  }
  return pathKey;
}
