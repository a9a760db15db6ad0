/**
 * Availability zones by ID. A zone name (`us-east-1a`) maps to a different physical zone in each account; a
 * zone ID (`use1-az1`) is the same zone everywhere, and some services are missing from some zone IDs. With
 * `availabilityZoneIds` set, the isolated subnets are created in exactly those zones; without it, in the
 * region's first two zone names, which synth refuses where that can land in a zone the app cannot use.
 */
import { Annotations, type Stack } from 'aws-cdk-lib';
import { CfnSubnet, type ISubnet } from 'aws-cdk-lib/aws-ec2';
import { ConfigError } from '#shared/config.ts';

export interface UnsupportedZone {
  readonly id: string;
  readonly region: string;
  /** The service of this app that the zone does not offer. */
  readonly missing: string;
}

/**
 * Zone IDs where a service of this app is not offered. use1-az3: the RDS user guide ("RDS Proxy quotas and
 * limitations") says US East (N. Virginia) does not support RDS Proxy there; a proxy given a subnet in it
 * leaves that subnet out without an error, and with two subnets its creation fails. It is refused in every
 * cost profile: the subnets cannot move later without replacing the data stores.
 */
export const UNSUPPORTED_ZONES: readonly UnsupportedZone[] = [{ id: 'use1-az3', region: 'us-east-1', missing: 'RDS Proxy' }];

const ZONE_ID = /^[a-z]{2,5}\d-az\d+$/;
export const ZONE_COUNT = 2;

const listZones = (region: string) =>
  `aws ec2 describe-availability-zones --region ${region} --query 'AvailabilityZones[].[ZoneName,ZoneId]' --output text`;

/**
 * Checks `availabilityZoneIds` against the pinned region (undefined: environment-agnostic templates).
 * Returns the IDs to use, or undefined for the region's first two zones; throws ConfigError naming the setting.
 *
 * @example
 * const ids = checkZoneIds(['use1-az1', 'use1-az2'], 'us-east-1'); // ['use1-az1', 'use1-az2']
 */
export function checkZoneIds(ids: readonly string[] | undefined, region: string | undefined): readonly string[] | undefined {
  if (ids === undefined || ids.length === 0) {
    const affected = UNSUPPORTED_ZONES.filter((zone) => zone.region === region);
    if (region !== undefined && affected.length > 0) {
      const names = affected.map((zone) => `${zone.id} has no ${zone.missing}`).join(', ');
      throw new ConfigError(
        `availabilityZoneIds: region ${region} has zones this app cannot use (${names}), and which zone name is ` +
          `which zone differs per account. Choose two other zone IDs and pass them, e.g. ` +
          `-c availabilityZoneIds=use1-az1,use1-az2 (list yours: ${listZones(region)})`,
      );
    }
    return undefined;
  }
  const problems: string[] = [];
  const malformed = ids.filter((id) => !ZONE_ID.test(id));
  if (malformed.length > 0) problems.push(`${malformed.join(', ')}: not a zone ID (like use1-az1)`);
  if (ids.length !== ZONE_COUNT) problems.push(`give exactly ${ZONE_COUNT} zone IDs (one per isolated subnet), got ${ids.length}`);
  if (new Set(ids).size !== ids.length) problems.push('the zone IDs must differ');
  if (new Set(ids.map((id) => id.split('-')[0])).size > 1) problems.push('the zones must be in one region');
  for (const zone of UNSUPPORTED_ZONES.filter((candidate) => ids.includes(candidate.id))) {
    problems.push(`${zone.id} does not offer ${zone.missing}; choose another zone of ${zone.region} (${listZones(zone.region)})`);
  }
  if (problems.length > 0) throw new ConfigError(`availabilityZoneIds: ${problems.join('; ')}`);
  return ids;
}

/** Without zone IDs and without a pinned region, synth cannot tell where the subnets land: a warning. */
export function warnUnpinnedZones(stack: Stack): void {
  const zones = UNSUPPORTED_ZONES.map((zone) => `${zone.id} (${zone.region}) has no ${zone.missing}`).join('; ');
  Annotations.of(stack).addWarningV2(
    'log-enrichment:availabilityZoneIds',
    `The subnets go to the first two zone names of the deploy region, whichever zones those are in your account. ` +
      `${zones}: when deploying there, set -c availabilityZoneIds=<id>,<id> (or pin -c region=… to have synth check).`,
  );
}

/**
 * Moves each subnet to its zone ID (AvailabilityZoneId replaces the AvailabilityZone name) and returns the
 * zones the subnets end up in, as `Fn::GetAtt` of each subnet: what resources that name zones (the cache's
 * preferred zones) must follow, IDs given or not.
 */
export function placeSubnets(subnets: readonly ISubnet[], ids: readonly string[] | undefined): string[] {
  return subnets.map((subnet, index) => {
    const cfn = subnet.node.defaultChild;
    if (!(cfn instanceof CfnSubnet)) throw new Error(`${subnet.node.path} has no CfnSubnet`);
    const id = ids?.[index];
    if (id !== undefined) {
      cfn.availabilityZone = undefined;
      cfn.availabilityZoneId = id;
    }
    return cfn.attrAvailabilityZone;
  });
}
