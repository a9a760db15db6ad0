/**
 * Wiring checks, network: where functions run, the security-group paths their bindings need (cache, database,
 * brokers, interface endpoints), the event source mapping's pollers, and secret rotation.
 */
import type { Located, TemplateModel } from './template-eval.ts';
import {
  allowsAllEgress,
  anySgPath,
  type FunctionInfo,
  functions,
  kafkaMappings,
  MSK_IAM_PORT,
  mskClusters,
  nameOf,
  securityGroup,
  verdict,
} from './template-match.ts';

/** Variables that point a function at something only reachable inside the VPC. */
const VPC_BOUND = ['MSK_CLUSTER_ARN', 'REDIS_URL', 'DATABASE_HOST'];

function subnet(model: TemplateModel, subnetId: string): Located | undefined {
  return model.resources('AWS::EC2::Subnet').find((s) => model.ref(s) === subnetId);
}

/** A subnet with a public IP on launch, or a route to an internet gateway. */
function isPublic(model: TemplateModel, sub: Located): boolean {
  if (model.prop(sub, 'MapPublicIpOnLaunch') === true) return true;
  const subnetId = model.ref(sub);
  const tables = model
    .resources('AWS::EC2::SubnetRouteTableAssociation')
    .filter((a) => model.prop(a, 'SubnetId') === subnetId)
    .map((a) => model.prop(a, 'RouteTableId'));
  return model
    .resources('AWS::EC2::Route')
    .some((r) => tables.includes(model.prop(r, 'RouteTableId')) && String(model.prop(r, 'GatewayId') ?? '').startsWith('igw-'));
}

function vpcOfSubnets(model: TemplateModel, subnetIds: readonly string[]): string | undefined {
  const first = subnetIds.map((id) => subnet(model, id)).find((s) => s !== undefined);
  return first === undefined ? undefined : String(model.prop(first, 'VpcId'));
}

function vpcOfGroups(model: TemplateModel, groupIds: readonly string[]): string | undefined {
  const group = groupIds.map((id) => securityGroup(model, id)).find((g) => g !== undefined);
  return group === undefined ? undefined : String(model.prop(group, 'VpcId'));
}

function hasNat(model: TemplateModel, vpcId: string | undefined): boolean {
  return model.resources('AWS::EC2::NatGateway').some((nat) => {
    const sub = subnet(model, String(model.prop(nat, 'SubnetId')));
    return sub !== undefined && model.prop(sub, 'VpcId') === vpcId;
  });
}

/**
 * Functions that use VPC-only resources run in the VPC, in private subnets (no public IP, no route to an
 * internet gateway) of at least two AZs, behind security groups that do not allow all egress.
 */
export const functionsInPrivateSubnets = (model: TemplateModel): number => {
  if (model.resources('AWS::EC2::VPC').length === 0) return 0;
  const problems: string[] = [];
  let verified = 0;
  for (const fn of functions(model)) {
    const bound = VPC_BOUND.filter((name) => fn.env[name] !== undefined);
    if (fn.service === undefined && bound.length === 0) continue;
    verified += 1;
    if (!fn.inVpc) {
      problems.push(`${nameOf(fn)}: not in the VPC${bound.length > 0 ? ` but given ${bound.join(', ')}` : ''}`);
      continue;
    }
    const azs = new Set<string>();
    for (const subnetId of fn.subnetIds) {
      const sub = subnet(model, subnetId);
      if (sub === undefined) {
        problems.push(`${nameOf(fn)}: subnet ${subnetId} is not in the templates`);
        continue;
      }
      if (isPublic(model, sub)) problems.push(`${nameOf(fn)}: subnet ${sub.id} is public`);
      azs.add(String(model.prop(sub, 'AvailabilityZone') ?? model.prop(sub, 'AvailabilityZoneId')));
    }
    if (azs.size < 2) problems.push(`${nameOf(fn)}: subnets in ${azs.size} availability zone(s), not two`);
    if (fn.securityGroupIds.length === 0) problems.push(`${nameOf(fn)}: no security group`);
    for (const group of fn.securityGroupIds) {
      if (allowsAllEgress(model, group)) problems.push(`${nameOf(fn)}: security group ${group} allows all egress`);
    }
  }
  return verdict(problems, verified);
};

function urlHostPort(url: string, fallbackPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port === '' ? fallbackPort : Number(parsed.port) };
}

/** Security groups of a data store resource found by one of its endpoint addresses. */
function groupsOf(model: TemplateModel, loc: Located): string[] {
  const key = { 'AWS::ElastiCache::ReplicationGroup': 'SecurityGroupIds' }[loc.resource.Type] ?? 'VpcSecurityGroupIds';
  return (model.prop(loc, key) as string[] | undefined) ?? [];
}

/**
 * Each binding of a VPC function has a security-group path: REDIS_URL's host (an ElastiCache endpoint) on its
 * port, DATABASE_HOST (RDS Proxy or the cluster) on DATABASE_PORT, and from a proxy on to its cluster, and
 * MSK_CLUSTER_ARN's brokers on the IAM port.
 */
export const bindingNetworkPaths = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  const path = (fn: FunctionInfo, what: string, to: string[], port: number) => {
    verified += 1;
    if (to.length === 0) problems.push(`${nameOf(fn)}: ${what} has no security group`);
    else if (!anySgPath(model, fn.securityGroupIds, to, port)) problems.push(`${nameOf(fn)}: no path to ${what} on ${port}`);
  };
  for (const fn of functions(model).filter((f) => f.inVpc)) {
    if (fn.env.REDIS_URL !== undefined) {
      const { host, port } = urlHostPort(fn.env.REDIS_URL, 6379);
      const cache = model.byValue(host);
      if (cache === undefined) problems.push(`${nameOf(fn)}: REDIS_URL host ${host} is no cache of the app`);
      else path(fn, `the cache (${cache.id})`, groupsOf(model, cache), port);
    }
    if (fn.env.DATABASE_HOST !== undefined) {
      const db = model.byValue(fn.env.DATABASE_HOST);
      const port = Number(fn.env.DATABASE_PORT ?? 5432);
      if (db === undefined) problems.push(`${nameOf(fn)}: DATABASE_HOST ${fn.env.DATABASE_HOST} is no database of the app`);
      else path(fn, `the database (${db.id})`, groupsOf(model, db), port);
      if (db?.resource.Type === 'AWS::RDS::DBProxy') verified += proxyToCluster(model, db, problems);
    }
    if (fn.env.MSK_CLUSTER_ARN !== undefined) {
      const cluster = mskClusters(model).find((c) => c.arn === fn.env.MSK_CLUSTER_ARN);
      if (cluster !== undefined) path(fn, 'the MSK brokers', cluster.securityGroupIds, MSK_IAM_PORT);
    }
  }
  return verdict(problems, verified);
};

function proxyToCluster(model: TemplateModel, proxy: Located, problems: string[]): number {
  const proxyName = model.ref(proxy);
  const targets = model.resources('AWS::RDS::DBProxyTargetGroup').filter((t) => model.prop(t, 'DBProxyName') === proxyName);
  const clusters = targets.flatMap((t) => (model.prop(t, 'DBClusterIdentifiers') as string[] | undefined) ?? []);
  if (clusters.length === 0) problems.push(`${proxy.id}: the proxy has no target cluster`);
  for (const id of clusters) {
    const cluster = model.resources('AWS::RDS::DBCluster').find((c) => model.ref(c) === id);
    if (cluster === undefined) continue;
    const port = Number(model.att(cluster, 'Endpoint.Port'));
    if (!anySgPath(model, groupsOf(model, proxy), groupsOf(model, cluster), port)) {
      problems.push(`${proxy.id}: no path from the proxy to ${cluster.id} on ${port}`);
    }
  }
  return clusters.length;
}

interface Endpoint {
  readonly loc: Located;
  readonly service: string;
  readonly vpcId: string;
  readonly privateDns: boolean;
  readonly groups: string[];
}

function interfaceEndpoints(model: TemplateModel): Endpoint[] {
  return model.resources('AWS::EC2::VPCEndpoint').map((loc) => ({
    loc,
    service: String(model.prop(loc, 'ServiceName')).split('.').pop() ?? '',
    vpcId: String(model.prop(loc, 'VpcId')),
    privateDns: model.prop(loc, 'PrivateDnsEnabled') === true,
    groups: (model.prop(loc, 'SecurityGroupIds') as string[] | undefined) ?? [],
  }));
}

/** Problems reaching `service` over an interface endpoint of `vpcId` with private DNS, from `groups` on 443. */
function endpointProblems(model: TemplateModel, who: string, vpcId: string | undefined, groups: string[], service: string): string[] {
  const candidates = interfaceEndpoints(model).filter((e) => e.service === service && e.vpcId === vpcId);
  if (candidates.length === 0) return [`${who}: no ${service} interface endpoint in its VPC (no NAT either)`];
  if (!candidates.some((e) => e.privateDns)) return [`${who}: the ${service} endpoint has no private DNS`];
  if (!candidates.some((e) => anySgPath(model, groups, e.groups, 443))) return [`${who}: no path to the ${service} endpoint on 443`];
  return [];
}

/**
 * VPC functions reach the AWS APIs they call through interface endpoints when the VPC has no NAT: MSK
 * (GetBootstrapBrokers, for MSK_CLUSTER_ARN) and Secrets Manager (for any secret ARN in their environment).
 */
export const functionApiEndpoints = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  for (const fn of functions(model).filter((f) => f.inVpc)) {
    const vpcId = vpcOfSubnets(model, fn.subnetIds);
    if (hasNat(model, vpcId)) continue;
    const services = [
      ...(fn.env.MSK_CLUSTER_ARN === undefined ? [] : ['kafka']),
      ...(Object.values(fn.env).some((v) => v.includes(':secretsmanager:')) ? ['secretsmanager'] : []),
    ];
    for (const service of services) {
      verified += 1;
      problems.push(...endpointProblems(model, nameOf(fn), vpcId, fn.securityGroupIds, service));
    }
  }
  return verdict(problems, verified);
};

/**
 * The mapping's pollers run in the cluster's subnets with the cluster's security groups, so those groups must
 * let members reach the brokers on the IAM port (a self-referencing rule).
 */
export const esmPollerNetwork = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  for (const mapping of kafkaMappings(model)) {
    verified += 1;
    const groups = mapping.cluster.securityGroupIds;
    if (!anySgPath(model, groups, groups, MSK_IAM_PORT)) {
      problems.push(`${mapping.loc.id}: the cluster's security groups do not let its pollers reach the brokers on ${MSK_IAM_PORT}`);
    }
  }
  return verdict(problems, verified);
};

/**
 * An on-demand mapping (no provisioned pollers) in a VPC without NAT calls Lambda and STS from the cluster's
 * subnets: both need interface endpoints with private DNS reachable from the cluster's security groups (AWS
 * documents this for on-demand mode; provisioned mode needs neither).
 */
export const esmApiEndpoints = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  for (const mapping of kafkaMappings(model)) {
    verified += 1;
    const vpcId = vpcOfGroups(model, mapping.cluster.securityGroupIds);
    if (mapping.provisioned || hasNat(model, vpcId)) continue;
    for (const service of ['lambda', 'sts']) {
      problems.push(...endpointProblems(model, `${mapping.loc.id} (on-demand)`, vpcId, mapping.cluster.securityGroupIds, service));
    }
  }
  return verdict(problems, verified);
};

/**
 * Each rotation function of a database secret (a Secrets Manager application in the VPC) reaches the
 * database the secret is attached to, on its port, and the Secrets Manager endpoint it is given.
 */
export const rotationNetwork = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  for (const app of model.resources('AWS::Serverless::Application')) {
    const parameters = model.prop(app, 'Parameters') as Record<string, string> | undefined;
    if (parameters?.vpcSecurityGroupIds === undefined) continue;
    verified += 1;
    const groups = parameters.vpcSecurityGroupIds.split(',');
    const rotationArn = model.att(app, 'Outputs.RotationLambdaARN');
    const schedules = model.resources('AWS::SecretsManager::RotationSchedule').filter((s) => model.prop(s, 'RotationLambdaARN') === rotationArn);
    if (schedules.length === 0) problems.push(`${app.id}: rotates no secret`);
    for (const schedule of schedules) {
      const secretArn = model.prop(schedule, 'SecretId');
      const attachment = model.resources('AWS::SecretsManager::SecretTargetAttachment').find((a) => model.prop(a, 'SecretId') === secretArn);
      const target = attachment === undefined ? undefined : model.byValue(String(model.prop(attachment, 'TargetId')));
      if (target === undefined) {
        problems.push(`${schedule.id}: the rotated secret is attached to no database of the app`);
        continue;
      }
      const port = Number(target.resource.Type === 'AWS::RDS::DBCluster' ? model.att(target, 'Endpoint.Port') : 5432);
      if (!anySgPath(model, groups, groupsOf(model, target), port)) problems.push(`${app.id}: no path to ${target.id} on ${port}`);
    }
    const endpoint = interfaceEndpoints(model).find((e) => parameters.endpoint?.includes(model.ref(e.loc)));
    if (endpoint === undefined) problems.push(`${app.id}: its Secrets Manager endpoint is not an interface endpoint of the app`);
    else if (!anySgPath(model, groups, endpoint.groups, 443)) problems.push(`${app.id}: no path to ${endpoint.loc.id} on 443`);
  }
  return verdict(problems, verified);
};
