/**
 * Availability zones by ID (`-c availabilityZoneIds=use1-az1,use1-az2`): the subnets go to exactly those
 * zones and the cache follows them; zone IDs where a service of the app is missing are refused at synth, and
 * so is a pinned region that has such a zone when no IDs are given.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ConfigError } from '#shared/config.ts';
import { buildApp } from '../../../infra/cdk/lib/app.ts';
import { checkZoneIds, UNSUPPORTED_ZONES } from '../../../infra/cdk/lib/availability-zones.ts';
import { removeAssembly, SYNTH_TIMEOUT_MS, type SynthesizedApp, synthApp } from './synth-app.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

const ACCOUNT = '123456789012';
/** What a lookup would have cached in cdk.context.json for a pinned us-east-1: synth then needs no credentials. */
const PINNED_US_EAST_1 = {
  account: ACCOUNT,
  region: 'us-east-1',
  [`availability-zones:account=${ACCOUNT}:region=us-east-1`]: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
};

describe('checkZoneIds', () => {
  it('accepts two zone IDs of one region, pinned or not', () => {
    expect(checkZoneIds(['use1-az1', 'use1-az2'], 'us-east-1')).toEqual(['use1-az1', 'use1-az2']);
    expect(checkZoneIds(['euw1-az3', 'euw1-az1'], undefined)).toEqual(['euw1-az3', 'euw1-az1']);
  });

  it('leaves the zones to the region when none are given and no known gap applies', () => {
    expect(checkZoneIds(undefined, undefined)).toBeUndefined();
    expect(checkZoneIds(undefined, 'eu-west-1')).toBeUndefined();
    expect(checkZoneIds([], 'eu-west-1')).toBeUndefined();
  });

  it('refuses use1-az3, which has no RDS Proxy, naming the setting and the service', () => {
    expect(UNSUPPORTED_ZONES).toContainEqual({ id: 'use1-az3', region: 'us-east-1', missing: 'RDS Proxy' });
    const check = () => checkZoneIds(['use1-az1', 'use1-az3'], 'us-east-1');
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(/availabilityZoneIds: use1-az3 does not offer RDS Proxy/);
  });

  it('refuses a pinned us-east-1 without zone IDs, saying which IDs to pass and how to list them', () => {
    const check = () => checkZoneIds(undefined, 'us-east-1');
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(/availabilityZoneIds: region us-east-1 .*use1-az3 has no RDS Proxy.*-c availabilityZoneIds=.*describe-availability-zones/);
  });

  it.each([
    [['us-east-1a', 'us-east-1b'], /not a zone ID/],
    [['use1-az1'], /exactly 2 zone IDs/],
    [['use1-az1', 'use1-az2', 'use1-az4'], /exactly 2 zone IDs/],
    [['use1-az1', 'use1-az1'], /must differ/],
    [['use1-az1', 'usw2-az1'], /one region/],
  ])('refuses %p', (ids, message) => {
    const check = () => checkZoneIds(ids, undefined);
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(message);
  });
});

it('fails the build of a pinned us-east-1 app without zone IDs before any stack exists', () => {
  const app = new App({ context: PINNED_US_EAST_1 });
  expect(() => buildApp(app)).toThrow(/availabilityZoneIds/);
  expect(app.node.children).toHaveLength(0);
});

it('reads the zone IDs from a comma-separated -c value or a cdk.json list', () => {
  const fromCli = () => buildApp(new App({ context: { ...PINNED_US_EAST_1, availabilityZoneIds: 'use1-az1, use1-az3' } }));
  const fromJson = () => buildApp(new App({ context: { ...PINNED_US_EAST_1, availabilityZoneIds: ['use1-az3', 'use1-az2'] } }));
  expect(fromCli).toThrow(/use1-az3 does not offer RDS Proxy/);
  expect(fromJson).toThrow(/use1-az3 does not offer RDS Proxy/);
});

describe('a pinned us-east-1 with zone IDs', () => {
  let built: SynthesizedApp;
  let stateful: Template;

  beforeAll(() => {
    built = synthApp({ ...PINNED_US_EAST_1, availabilityZoneIds: 'use1-az4,use1-az6' });
    if (built.stateful === undefined) throw new Error('no stateful stack');
    stateful = Template.fromStack(built.stateful);
  }, SYNTH_TIMEOUT_MS);

  afterAll(() => removeAssembly(built));

  it('creates the subnets by zone ID, with no zone name left', () => {
    const subnets = Object.entries(stateful.findResources('AWS::EC2::Subnet') as Record<string, Resource>).sort(([a], [b]) =>
      a.localeCompare(b),
    );
    expect(subnets.map(([, subnet]) => subnet.Properties.AvailabilityZoneId)).toEqual(['use1-az4', 'use1-az6']);
    for (const [, subnet] of subnets) expect(subnet.Properties.AvailabilityZone).toBeUndefined();
  });

  it('puts the cache nodes in the zones the subnets ended up in', () => {
    const subnetIds = Object.keys(stateful.findResources('AWS::EC2::Subnet')).sort();
    stateful.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      PreferredCacheClusterAZs: subnetIds.map((id) => ({ 'Fn::GetAtt': [id, 'AvailabilityZone'] })),
    });
  });

  it('gives the other services the same subnets: MSK, the database, the endpoints, the proxy', () => {
    const subnetRefs = Object.keys(stateful.findResources('AWS::EC2::Subnet'))
      .sort()
      .map((id) => ({ Ref: id }));
    stateful.hasResourceProperties('AWS::MSK::ServerlessCluster', { VpcConfigs: [{ SubnetIds: subnetRefs }] });
    stateful.hasResourceProperties('AWS::RDS::DBSubnetGroup', { SubnetIds: subnetRefs });
    stateful.hasResourceProperties('AWS::EC2::VPCEndpoint', { SubnetIds: subnetRefs });
    if (built.setup === undefined) throw new Error('no setup stack');
    const proxy = Object.values(Template.fromStack(built.setup).findResources('AWS::RDS::DBProxy') as Record<string, Resource>);
    expect(proxy[0]?.Properties.VpcSubnetIds).toHaveLength(2);
  });
});
