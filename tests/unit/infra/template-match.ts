/**
 * Matchers over a `TemplateModel`: what a role's policies allow, whether security groups open a path on a
 * port, and the functions of the app with their resolved environment, role, subnets and security groups.
 */
import { type Located, type TemplateModel, TemplateError } from './template-eval.ts';

// --- IAM -------------------------------------------------------------------------------------------------------

export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly NotResource?: string | string[];
  readonly Condition?: unknown;
}

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM wildcard match (`*` any run, `?` one character). */
export function wildcard(pattern: string, value: string, caseInsensitive = false): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, caseInsensitive ? 'i' : '').test(value);
}

function statementMatches(statement: Statement, action: string, resource: string): boolean {
  const actionOk =
    statement.Action !== undefined
      ? list(statement.Action).some((a) => wildcard(a, action, true))
      : statement.NotAction !== undefined && !list(statement.NotAction).some((a) => wildcard(a, action, true));
  if (!actionOk) return false;
  if (statement.Resource !== undefined) return list(statement.Resource).some((r) => wildcard(r, resource));
  return statement.NotResource !== undefined && !list(statement.NotResource).some((r) => wildcard(r, resource));
}

/**
 * Whether `statements` allow `action` on `resource`: an Allow statement matches (wildcards, Action lists) and
 * no Deny does. Conditions are not evaluated (an Allow with a condition counts as allowing).
 *
 * @example
 * allows(policiesOfRole(model, role), 'kafka-cluster:AlterGroup', groupArn)
 */
export function allows(statements: readonly Statement[], action: string, resource: string): boolean {
  if (statements.some((s) => s.Effect === 'Deny' && statementMatches(s, action, resource))) return false;
  return statements.some((s) => s.Effect === 'Allow' && statementMatches(s, action, resource));
}

/** Every statement of the inline and customer-managed policies attached to a role, resolved. */
export function policiesOfRole(model: TemplateModel, role: Located): Statement[] {
  const roleName = model.ref(role);
  const documents: unknown[] = [];
  for (const inline of (model.prop(role, 'Policies') as { PolicyDocument: unknown }[] | undefined) ?? []) {
    documents.push(inline.PolicyDocument);
  }
  for (const policy of model.resources(/^AWS::IAM::(Policy|ManagedPolicy)$/)) {
    const roles = (model.prop(policy, 'Roles') as string[] | undefined) ?? [];
    if (roles.includes(roleName)) documents.push(model.prop(policy, 'PolicyDocument'));
  }
  return documents.flatMap((doc) => {
    const statements = (doc as { Statement: Statement | Statement[] }).Statement;
    return Array.isArray(statements) ? statements : [statements];
  });
}

export function managedPolicyArnsOfRole(model: TemplateModel, role: Located): string[] {
  return (model.prop(role, 'ManagedPolicyArns') as string[] | undefined) ?? [];
}

// --- Security groups -------------------------------------------------------------------------------------------

interface Rule {
  readonly protocol: string;
  readonly from: number;
  readonly to: number;
  readonly peerGroup?: string;
  readonly cidr?: string;
}

function rule(model: TemplateModel, raw: Record<string, unknown>, stack: string, peerKey: string): Rule {
  const r = model.resolve(raw, stack) as Record<string, unknown>;
  return {
    protocol: String(r.IpProtocol),
    from: Number(r.FromPort ?? -1),
    to: Number(r.ToPort ?? -1),
    ...(r[peerKey] === undefined ? {} : { peerGroup: String(r[peerKey]) }),
    ...(r.CidrIp === undefined ? {} : { cidr: String(r.CidrIp) }),
  };
}

/** The security group resource behind a group id (undefined for a group from outside the templates). */
export function securityGroup(model: TemplateModel, groupId: string): Located | undefined {
  return model.resources('AWS::EC2::SecurityGroup').find((sg) => model.ref(sg) === groupId);
}

function rulesOf(model: TemplateModel, groupId: string, direction: 'ingress' | 'egress'): Rule[] {
  const inlineKey = direction === 'ingress' ? 'SecurityGroupIngress' : 'SecurityGroupEgress';
  const peerKey = direction === 'ingress' ? 'SourceSecurityGroupId' : 'DestinationSecurityGroupId';
  const rules: Rule[] = [];
  const group = securityGroup(model, groupId);
  const inline = group?.resource.Properties?.[inlineKey] as Record<string, unknown>[] | undefined;
  for (const raw of inline ?? []) rules.push(rule(model, raw, group?.stack ?? '', peerKey));
  const type = direction === 'ingress' ? 'AWS::EC2::SecurityGroupIngress' : 'AWS::EC2::SecurityGroupEgress';
  for (const loc of model.resources(type)) {
    if (model.prop(loc, 'GroupId') === groupId) rules.push(rule(model, loc.resource.Properties ?? {}, loc.stack, peerKey));
  }
  if (group !== undefined && direction === 'egress' && rules.length === 0) {
    // A VPC group given no egress rule at all keeps EC2's default one, all traffic out; CloudFormation drops
    // that default once any egress rule is specified (inline or as a separate resource).
    rules.push({ protocol: '-1', from: -1, to: -1, cidr: '0.0.0.0/0' });
  }
  return rules;
}

function ipv4(cidr: string): { base: number; bits: number } {
  const [address, bits] = cidr.split('/');
  const octets = (address ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o))) throw new TemplateError(`not an IPv4 CIDR: ${cidr}`);
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { base, bits: Number(bits ?? 32) };
}

/** Whether CIDR `outer` contains every address of CIDR `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = ipv4(outer);
  const i = ipv4(inner);
  if (i.bits < o.bits) return false;
  const size = 2 ** (32 - o.bits);
  return Math.floor(i.base / size) === Math.floor(o.base / size);
}

/** The CIDR of the VPC a security group belongs to (where its members' addresses come from). */
function addressSpace(model: TemplateModel, groupId: string): string | undefined {
  const group = securityGroup(model, groupId);
  if (group === undefined) return undefined;
  const vpcId = model.prop(group, 'VpcId');
  const vpc = model.resources('AWS::EC2::VPC').find((v) => model.ref(v) === vpcId);
  return vpc === undefined ? undefined : String(model.prop(vpc, 'CidrBlock'));
}

function coversPort(r: Rule, port: number): boolean {
  if (r.protocol === '-1') return true;
  return (r.protocol === 'tcp' || r.protocol === '6') && r.from <= port && port <= r.to;
}

function reaches(r: Rule, peerGroup: string, peerSpace: string | undefined): boolean {
  if (r.peerGroup !== undefined) return r.peerGroup === peerGroup;
  if (r.cidr === undefined) return false;
  return r.cidr === '0.0.0.0/0' || (peerSpace !== undefined && cidrContains(r.cidr, peerSpace));
}

/**
 * Whether TCP traffic on `port` can flow from members of group `from` to members of group `to`: an egress
 * rule of `from` (to `to` itself, or a CIDR that covers `to`'s VPC) and an ingress rule of `to` (from `from`,
 * or a CIDR that covers `from`'s VPC).
 *
 * @example
 * sgPath(model, kafkaGroup, kafkaGroup, 9098) // the mapping's pollers reach the brokers
 */
export function sgPath(model: TemplateModel, from: string, to: string, port: number): boolean {
  const out = rulesOf(model, from, 'egress').some((r) => coversPort(r, port) && reaches(r, to, addressSpace(model, to)));
  const into = rulesOf(model, to, 'ingress').some((r) => coversPort(r, port) && reaches(r, from, addressSpace(model, from)));
  return out && into;
}

export function anySgPath(model: TemplateModel, from: readonly string[], to: readonly string[], port: number): boolean {
  return from.some((f) => to.some((t) => sgPath(model, f, t, port)));
}

/** Whether a group lets its members send anything anywhere (the CDK `allowAllOutbound` default). */
export function allowsAllEgress(model: TemplateModel, groupId: string): boolean {
  return rulesOf(model, groupId, 'egress').some((r) => r.protocol === '-1' && r.cidr === '0.0.0.0/0');
}

// --- Functions --------------------------------------------------------------------------------------------------

export interface FunctionInfo {
  readonly loc: Located;
  /** Environment.Variables, resolved to strings. */
  readonly env: Record<string, string>;
  /** POWERTOOLS_SERVICE_NAME: set on every function of the house construct. */
  readonly service: string | undefined;
  readonly role: Located | undefined;
  readonly arn: string;
  readonly subnetIds: string[];
  readonly securityGroupIds: string[];
  readonly inVpc: boolean;
}

export function environmentOf(model: TemplateModel, loc: Located): Record<string, string> {
  const variables = (model.prop(loc, 'Environment') as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  return Object.fromEntries(
    Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
}

export function functionInfo(model: TemplateModel, loc: Located): FunctionInfo {
  const env = environmentOf(model, loc);
  const vpc = model.prop(loc, 'VpcConfig') as { SubnetIds?: string[]; SecurityGroupIds?: string[] } | undefined;
  const role = model.byValue(String(model.prop(loc, 'Role')));
  return {
    loc,
    env,
    service: env.POWERTOOLS_SERVICE_NAME,
    role: role?.resource.Type === 'AWS::IAM::Role' ? role : undefined,
    arn: model.att(loc, 'Arn'),
    subnetIds: vpc?.SubnetIds ?? [],
    securityGroupIds: vpc?.SecurityGroupIds ?? [],
    inVpc: vpc !== undefined && (vpc.SubnetIds?.length ?? 0) > 0,
  };
}

export function functions(model: TemplateModel): FunctionInfo[] {
  return model.resources('AWS::Lambda::Function').map((loc) => functionInfo(model, loc));
}

/** The function a FunctionName property (name, ARN, or an alias/version ARN) designates. */
export function functionByName(model: TemplateModel, name: string): FunctionInfo | undefined {
  // arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
  const parts = name.split(':');
  const bare = name.startsWith('arn:') && parts.length === 8 ? parts.slice(0, 7).join(':') : name;
  return functions(model).find((fn) => model.ref(fn.loc) === bare || fn.arn === bare);
}

export function statementsOf(model: TemplateModel, fn: FunctionInfo): Statement[] {
  if (fn.role === undefined) throw new TemplateError(`${fn.loc.id} has no execution role in the templates`);
  return policiesOfRole(model, fn.role);
}

/** A readable name for messages: service name, else the logical id. */
export function nameOf(fn: FunctionInfo): string {
  return fn.service ?? `${fn.loc.stack}/${fn.loc.id}`;
}

// --- MSK and its event source mappings ---------------------------------------------------------------------------

export interface MskCluster {
  readonly loc: Located;
  readonly arn: string;
  readonly name: string;
  /** The ARN's last segment, which topic and group ARNs repeat after the name. */
  readonly uuid: string;
  readonly iam: boolean;
  readonly securityGroupIds: string[];
  readonly subnetIds: string[];
}

/** The port of MSK's IAM listener inside the VPC (provisioned and Serverless). */
export const MSK_IAM_PORT = 9098;

export function mskClusters(model: TemplateModel): MskCluster[] {
  return model.resources(/^AWS::MSK::(ServerlessCluster|Cluster)$/).map((loc) => {
    const arn = model.att(loc, 'Arn');
    const [, name = '', uuid = ''] = arn.split('/');
    const auth = model.prop(loc, 'ClientAuthentication') as { Sasl?: { Iam?: { Enabled?: boolean } } } | undefined;
    let securityGroupIds: string[];
    let subnetIds: string[];
    if (loc.resource.Type === 'AWS::MSK::ServerlessCluster') {
      const configs = (model.prop(loc, 'VpcConfigs') as { SubnetIds: string[]; SecurityGroups?: string[] }[]) ?? [];
      securityGroupIds = configs.flatMap((c) => c.SecurityGroups ?? []);
      subnetIds = configs.flatMap((c) => c.SubnetIds);
    } else {
      const brokers = model.prop(loc, 'BrokerNodeGroupInfo') as { ClientSubnets: string[]; SecurityGroups?: string[] };
      securityGroupIds = brokers.SecurityGroups ?? [];
      subnetIds = brokers.ClientSubnets;
    }
    return { loc, arn, name, uuid, iam: auth?.Sasl?.Iam?.Enabled === true, securityGroupIds, subnetIds };
  });
}

export interface KafkaMapping {
  readonly loc: Located;
  readonly cluster: MskCluster;
  readonly fn: FunctionInfo;
  readonly topics: string[];
  readonly consumerGroupId: string | undefined;
  /** The topic of a `kafka://<topic>` on-failure destination. */
  readonly onFailureTopic: string | undefined;
  /** Provisioned pollers (ProvisionedPollerConfig) rather than on-demand. */
  readonly provisioned: boolean;
}

/** The event source mappings that read an MSK cluster of the templates. */
export function kafkaMappings(model: TemplateModel): KafkaMapping[] {
  const clusters = mskClusters(model);
  const mappings: KafkaMapping[] = [];
  for (const loc of model.resources('AWS::Lambda::EventSourceMapping')) {
    const cluster = clusters.find((c) => c.arn === model.prop(loc, 'EventSourceArn'));
    if (cluster === undefined) continue;
    const fn = functionByName(model, String(model.prop(loc, 'FunctionName')));
    if (fn === undefined) throw new TemplateError(`${loc.id}: its function is not in the templates`);
    const destination = (model.prop(loc, 'DestinationConfig') as { OnFailure?: { Destination?: string } } | undefined)
      ?.OnFailure?.Destination;
    const config = model.prop(loc, 'AmazonManagedKafkaEventSourceConfig') as { ConsumerGroupId?: string } | undefined;
    mappings.push({
      loc,
      cluster,
      fn,
      topics: (model.prop(loc, 'Topics') as string[] | undefined) ?? [],
      consumerGroupId: config?.ConsumerGroupId,
      onFailureTopic: destination?.startsWith('kafka://') ? destination.slice('kafka://'.length) : undefined,
      provisioned: model.prop(loc, 'ProvisionedPollerConfig') !== undefined,
    });
  }
  return mappings;
}

/** `arn:…:kafka:…:<kind>/<cluster name>/<cluster uuid>/<name>`, as MSK IAM access control names them. */
export function kafkaResourceArn(cluster: MskCluster, kind: string, name: string): string {
  const prefix = cluster.arn.slice(0, cluster.arn.indexOf(':cluster/'));
  return `${prefix}:${kind}/${cluster.name}/${cluster.uuid}/${name}`;
}

// --- Dependencies ---------------------------------------------------------------------------------------------

/**
 * The resources `loc` waits for in CloudFormation: its DependsOn, and what its properties reference (Ref,
 * Fn::GetAtt, Fn::Sub names), through Fn::ImportValue to the resources behind the exporting stack's output.
 */
export function directDependencies(model: TemplateModel, loc: Located): Located[] {
  const found: Located[] = [];
  const add = (stack: string, id: string) => {
    const resource = model.templates[stack]?.Resources?.[id];
    if (resource !== undefined) found.push({ stack, id, resource });
  };
  for (const id of [loc.resource.DependsOn ?? []].flat()) add(loc.stack, id);
  const visit = (value: unknown, stack: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v, stack);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const node = value as Record<string, unknown>;
    if (typeof node.Ref === 'string') add(stack, node.Ref);
    const att = node['Fn::GetAtt'];
    if (att !== undefined) add(stack, String(typeof att === 'string' ? att.split('.')[0] : (att as unknown[])[0]));
    const sub = node['Fn::Sub'];
    const text = typeof sub === 'string' ? sub : Array.isArray(sub) ? sub[0] : undefined;
    for (const [, name] of String(text ?? '').matchAll(/\$\{([^!}][^}.]*)/g)) if (name !== undefined) add(stack, name);
    const imported = node['Fn::ImportValue'];
    if (imported !== undefined) {
      const name = model.str(imported, stack);
      for (const [exporter, template] of Object.entries(model.templates)) {
        for (const output of Object.values(template.Outputs ?? {})) {
          if (output.Export !== undefined && model.str(output.Export.Name, exporter) === name) visit(output.Value, exporter);
        }
      }
    }
    for (const v of Object.values(node)) visit(v, stack);
  };
  visit(loc.resource.Properties, loc.stack);
  return found;
}

/** Whether CloudFormation creates `target` before `from`: a chain of dependencies leads from one to the other. */
export function dependsOn(model: TemplateModel, from: Located, target: Located): boolean {
  const key = (l: Located) => `${l.stack}/${l.id}`;
  const goal = key(target);
  const seen = new Set<string>([key(from)]);
  const queue = [from];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const dep of directDependencies(model, next)) {
      if (key(dep) === goal) return true;
      if (!seen.has(key(dep))) {
        seen.add(key(dep));
        queue.push(dep);
      }
    }
  }
  return false;
}

// --- Results ------------------------------------------------------------------------------------------------------

export class WiringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WiringError';
  }
}

/** Throws every problem at once; otherwise returns how many things the check verified. */
export function verdict(problems: readonly string[], verified: number): number {
  if (problems.length > 0) throw new WiringError(problems.join('\n'));
  return verified;
}
