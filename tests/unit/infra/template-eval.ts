/**
 * A small CloudFormation evaluator for template tests: resolves Ref, Fn::GetAtt, Fn::Join, Fn::Select,
 * Fn::Split, Fn::Sub, Fn::ImportValue (through the exporting stack's Output), Fn::FindInMap, Fn::If and
 * Fn::GetAZs over a set of synthesized stacks, giving each resource type fake but consistent attribute values:
 * an MSK cluster ARN ends in `/<name>/<uuid>`, a security group's Ref equals its GroupId, a secret attachment's
 * Ref is the secret's ARN, as in a real deployment. Wiring checks compare resolved strings, so a value that
 * reaches another stack through an export compares equal to the original.
 */

export const FAKE = { region: 'eu-west-1', account: '123456789012', partition: 'aws', urlSuffix: 'amazonaws.com' } as const;
export const FAKE_AZS = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] as const;

export interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
  Metadata?: Record<string, unknown>;
}

export interface Template {
  Resources?: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
  Parameters?: Record<string, { Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

/** Every stack's template by stack name. Checks never assume which stack holds what. */
export type Templates = Record<string, Template>;

/** A resource and where it lives. `resource` is the template's own object: mutations edit it in place. */
export interface Located {
  readonly stack: string;
  readonly id: string;
  readonly resource: Resource;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Deterministic hex digits from a string (FNV-1a), for fake ids that differ per resource. */
function hex(text: string, length: number): string {
  let out = '';
  for (let round = 0; out.length < length; round += 1) {
    let hash = 0x811c9dc5 ^ round;
    for (const char of text) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
    out += hash.toString(16).padStart(8, '0');
  }
  return out.slice(0, length);
}

function fakeUuid(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function fakeArn(service: string, resource: string, region: string = FAKE.region): string {
  return `arn:${FAKE.partition}:${service}:${region}:${FAKE.account}:${resource}`;
}

const PSEUDO: Record<string, string> = {
  'AWS::Region': FAKE.region,
  'AWS::AccountId': FAKE.account,
  'AWS::Partition': FAKE.partition,
  'AWS::URLSuffix': FAKE.urlSuffix,
};

const NO_VALUE = Symbol('AWS::NoValue');

function isIntrinsic(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || (keys[0]?.startsWith('Fn::') ?? false));
}

export class TemplateModel {
  readonly templates: Templates;
  private exportsByName: Map<string, { stack: string; value: unknown }> | undefined;
  private byValueIndex: Map<string, Located> | undefined;

  constructor(templates: Templates) {
    this.templates = templates;
  }

  /** Resources of a type (all when omitted), across stacks, in template order. */
  resources(type?: string | RegExp): Located[] {
    const found: Located[] = [];
    for (const [stack, template] of Object.entries(this.templates)) {
      for (const [id, resource] of Object.entries(template.Resources ?? {})) {
        if (type === undefined || (typeof type === 'string' ? resource.Type === type : type.test(resource.Type))) {
          found.push({ stack, id, resource });
        }
      }
    }
    return found;
  }

  locate(stack: string, id: string): Located {
    const resource = this.templates[stack]?.Resources?.[id];
    if (resource === undefined) throw new TemplateError(`no resource ${id} in ${stack}`);
    return { stack, id, resource };
  }

  /** A property of a resource, resolved in its stack (undefined when absent). */
  prop(loc: Located, name: string): unknown {
    const raw = loc.resource.Properties?.[name];
    return raw === undefined ? undefined : this.resolve(raw, loc.stack);
  }

  /** Resolves every intrinsic in `value` as deployed in `stack` (nested objects and lists too). */
  resolve(value: unknown, stack: string): unknown {
    const out = this.eval(value, stack);
    return out === NO_VALUE ? undefined : out;
  }

  /** `resolve`, asserting a string. */
  str(value: unknown, stack: string): string {
    const out = this.resolve(value, stack);
    if (typeof out === 'number' || typeof out === 'boolean') return String(out);
    if (typeof out !== 'string') throw new TemplateError(`expected a string, got ${JSON.stringify(out)}`);
    return out;
  }

  /** What `Ref` of the resource gives. */
  ref(loc: Located): string {
    const { stack, id, resource } = loc;
    const p = (name: string): string | undefined => {
      const v = loc.resource.Properties?.[name];
      return v === undefined ? undefined : this.str(v, stack);
    };
    const slug = `${stack}-${id}`;
    switch (resource.Type) {
      case 'AWS::MSK::ServerlessCluster':
      case 'AWS::MSK::Cluster':
        return this.att(loc, 'Arn');
      case 'AWS::SecretsManager::Secret':
        return fakeArn('secretsmanager', `secret:${p('Name') ?? slug}-AbCdEf`);
      case 'AWS::SecretsManager::SecretTargetAttachment':
        return this.str(resource.Properties?.SecretId, stack);
      case 'AWS::EC2::SecurityGroup':
        return `sg-${slug}`;
      case 'AWS::EC2::VPC':
        return `vpc-${slug}`;
      case 'AWS::EC2::Subnet':
        return `subnet-${slug}`;
      case 'AWS::EC2::VPCEndpoint':
        return `vpce-${hex(slug, 17)}`;
      case 'AWS::EC2::InternetGateway':
        return `igw-${slug}`;
      case 'AWS::IAM::Role':
      case 'AWS::IAM::Policy':
        return p(resource.Type === 'AWS::IAM::Role' ? 'RoleName' : 'PolicyName') ?? slug;
      case 'AWS::IAM::ManagedPolicy':
        return fakeArn('iam', `policy/${p('ManagedPolicyName') ?? slug}`, '');
      case 'AWS::Lambda::Function':
        return p('FunctionName') ?? slug;
      case 'AWS::Lambda::Version':
        return `${this.str({ 'Fn::GetAtt': [this.refTarget(resource.Properties?.FunctionName), 'Arn'] }, stack)}:1`;
      case 'AWS::ElastiCache::ReplicationGroup':
        return p('ReplicationGroupId') ?? id.toLowerCase();
      case 'AWS::ElastiCache::User':
        return p('UserId') ?? slug;
      case 'AWS::ElastiCache::UserGroup':
        return p('UserGroupId') ?? slug;
      case 'AWS::RDS::DBProxy':
        return p('DBProxyName') ?? id.toLowerCase();
      case 'AWS::RDS::DBCluster':
        return p('DBClusterIdentifier') ?? id.toLowerCase();
      case 'AWS::RDS::DBInstance':
        return p('DBInstanceIdentifier') ?? id.toLowerCase();
      case 'AWS::ApiGateway::RestApi':
        return hex(slug, 10);
      case 'AWS::ApiGateway::Stage':
        return p('StageName') ?? slug;
      case 'AWS::KMS::Key':
        return fakeUuid(slug);
      case 'AWS::Logs::LogGroup':
        return p('LogGroupName') ?? `/fake/${slug}`;
      default:
        return slug;
    }
  }

  /** What `Fn::GetAtt` of the resource gives. */
  att(loc: Located, attribute: string): string {
    const { stack, id, resource } = loc;
    const prop = (name: string): unknown => this.resolve(resource.Properties?.[name], stack);
    const slug = `${stack}-${id}`;
    const key = `${resource.Type}.${attribute}`;
    switch (key) {
      case 'AWS::MSK::ServerlessCluster.Arn':
      case 'AWS::MSK::Cluster.Arn': {
        const suffix = resource.Type === 'AWS::MSK::ServerlessCluster' ? 's1' : '2';
        return fakeArn('kafka', `cluster/${this.str(prop('ClusterName'), stack)}/${fakeUuid(slug)}-${suffix}`);
      }
      case 'AWS::EC2::SecurityGroup.GroupId':
        return this.ref(loc);
      case 'AWS::EC2::SecurityGroup.VpcId':
        return this.str(prop('VpcId'), stack);
      case 'AWS::EC2::VPC.CidrBlock':
        return this.str(prop('CidrBlock'), stack);
      case 'AWS::EC2::Subnet.SubnetId':
        return this.ref(loc);
      case 'AWS::EC2::Subnet.AvailabilityZone':
        return this.str(prop('AvailabilityZone'), stack);
      case 'AWS::IAM::Role.Arn':
        return fakeArn('iam', `role/${this.ref(loc)}`, '');
      case 'AWS::Lambda::Function.Arn':
        return fakeArn('lambda', `function:${this.ref(loc)}`);
      case 'AWS::ElastiCache::ReplicationGroup.PrimaryEndPoint.Address':
        return `master.${this.ref(loc)}.fake.cache.${FAKE.urlSuffix}`;
      case 'AWS::ElastiCache::ReplicationGroup.ReaderEndPoint.Address':
        return `replica.${this.ref(loc)}.fake.cache.${FAKE.urlSuffix}`;
      case 'AWS::ElastiCache::ReplicationGroup.ConfigurationEndPoint.Address':
        return `clustercfg.${this.ref(loc)}.fake.cache.${FAKE.urlSuffix}`;
      case 'AWS::ElastiCache::ReplicationGroup.PrimaryEndPoint.Port':
      case 'AWS::ElastiCache::ReplicationGroup.ReaderEndPoint.Port':
      case 'AWS::ElastiCache::ReplicationGroup.ConfigurationEndPoint.Port':
        return String(prop('Port') ?? 6379);
      case 'AWS::ElastiCache::User.Arn':
        return fakeArn('elasticache', `user:${this.ref(loc)}`);
      case 'AWS::ElastiCache::UserGroup.Arn':
        return fakeArn('elasticache', `usergroup:${this.ref(loc)}`);
      case 'AWS::RDS::DBProxy.Endpoint':
        return `${this.ref(loc)}.proxy-fake.${FAKE.region}.rds.${FAKE.urlSuffix}`;
      case 'AWS::RDS::DBProxy.DBProxyArn':
        return fakeArn('rds', `db-proxy:prx-${hex(slug, 17)}`);
      case 'AWS::RDS::DBCluster.Endpoint.Address':
        return `${this.ref(loc)}.cluster-fake.${FAKE.region}.rds.${FAKE.urlSuffix}`;
      case 'AWS::RDS::DBCluster.ReadEndpoint.Address':
        return `${this.ref(loc)}.cluster-ro-fake.${FAKE.region}.rds.${FAKE.urlSuffix}`;
      case 'AWS::RDS::DBCluster.Endpoint.Port':
        return String(prop('Port') ?? 5432);
      case 'AWS::RDS::DBCluster.DBClusterArn':
        return fakeArn('rds', `cluster:${this.ref(loc)}`);
      case 'AWS::RDS::DBCluster.DBClusterResourceId':
        return `cluster-${hex(slug, 26).toUpperCase()}`;
      case 'AWS::RDS::DBInstance.Endpoint.Address':
        return `${this.ref(loc)}.fake.${FAKE.region}.rds.${FAKE.urlSuffix}`;
      case 'AWS::ApiGateway::RestApi.RootResourceId':
        return `root-${hex(slug, 6)}`;
      case 'AWS::KMS::Key.Arn':
        return fakeArn('kms', `key/${this.ref(loc)}`);
      case 'AWS::Logs::LogGroup.Arn':
        return fakeArn('logs', `log-group:${this.ref(loc)}:*`);
      default:
        if (attribute === 'Arn') return fakeArn('fake', `${resource.Type}/${slug}`);
        return `fake-${slug}-${attribute}`;
    }
  }

  /** The resource whose Ref or a well-known attribute resolves to `value` (reverse lookup). */
  byValue(value: string): Located | undefined {
    if (this.byValueIndex === undefined) {
      const index = new Map<string, Located>();
      const attributes: Record<string, string[]> = {
        'AWS::IAM::Role': ['Arn'],
        'AWS::Lambda::Function': ['Arn'],
        'AWS::ElastiCache::ReplicationGroup': ['PrimaryEndPoint.Address', 'ReaderEndPoint.Address'],
        'AWS::ElastiCache::User': ['Arn'],
        'AWS::RDS::DBProxy': ['Endpoint', 'DBProxyArn'],
        'AWS::RDS::DBCluster': ['Endpoint.Address', 'ReadEndpoint.Address', 'DBClusterArn'],
        'AWS::KMS::Key': ['Arn'],
      };
      for (const loc of this.resources()) {
        const values = [this.safe(() => this.ref(loc))];
        for (const attribute of attributes[loc.resource.Type] ?? []) values.push(this.safe(() => this.att(loc, attribute)));
        for (const v of values) if (v !== undefined && !index.has(v)) index.set(v, loc);
      }
      this.byValueIndex = index;
    }
    return this.byValueIndex.get(value);
  }

  private safe(fn: () => string): string | undefined {
    try {
      return fn();
    } catch {
      return undefined;
    }
  }

  private refTarget(value: unknown): string {
    if (isIntrinsic(value) && typeof value.Ref === 'string') return value.Ref;
    throw new TemplateError(`expected a Ref, got ${JSON.stringify(value)}`);
  }

  private exportValue(name: string): unknown {
    if (this.exportsByName === undefined) {
      this.exportsByName = new Map();
      for (const [stack, template] of Object.entries(this.templates)) {
        for (const output of Object.values(template.Outputs ?? {})) {
          if (output.Export !== undefined) {
            this.exportsByName.set(this.str(output.Export.Name, stack), { stack, value: output.Value });
          }
        }
      }
    }
    const found = this.exportsByName.get(name);
    if (found === undefined) throw new TemplateError(`Fn::ImportValue of ${name}: no stack exports it`);
    return this.eval(found.value, found.stack);
  }

  private refValue(name: string, stack: string): unknown {
    if (name === 'AWS::NoValue') return NO_VALUE;
    if (name === 'AWS::StackName') return stack;
    if (name === 'AWS::StackId') return fakeArn('cloudformation', `stack/${stack}/${fakeUuid(stack)}`);
    const pseudo = PSEUDO[name];
    if (pseudo !== undefined) return pseudo;
    const template = this.templates[stack];
    const parameter = template?.Parameters?.[name];
    if (parameter !== undefined) return parameter.Default ?? `param-${name}`;
    if (template?.Resources?.[name] === undefined) throw new TemplateError(`Ref ${name}: not in ${stack}`);
    return this.ref(this.locate(stack, name));
  }

  private condition(name: string, stack: string): boolean {
    const expr = this.templates[stack]?.Conditions?.[name];
    if (expr === undefined) throw new TemplateError(`condition ${name}: not in ${stack}`);
    return this.truth(expr, stack);
  }

  private truth(expr: unknown, stack: string): boolean {
    const e = expr as Record<string, unknown[]> & { Condition?: string };
    if (typeof e.Condition === 'string') return this.condition(e.Condition, stack);
    if (e['Fn::Equals'] !== undefined) {
      const [a, b] = e['Fn::Equals'].map((x) => this.eval(x, stack));
      return JSON.stringify(a) === JSON.stringify(b);
    }
    if (e['Fn::Not'] !== undefined) return !this.truth(e['Fn::Not'][0], stack);
    if (e['Fn::And'] !== undefined) return e['Fn::And'].every((x) => this.truth(x, stack));
    if (e['Fn::Or'] !== undefined) return e['Fn::Or'].some((x) => this.truth(x, stack));
    throw new TemplateError(`unsupported condition ${JSON.stringify(expr)}`);
  }

  private evalList(value: unknown, stack: string): unknown[] {
    const out = this.eval(value, stack);
    if (!Array.isArray(out)) throw new TemplateError(`expected a list, got ${JSON.stringify(out)}`);
    return out;
  }

  private evalString(value: unknown, stack: string): string {
    const out = this.eval(value, stack);
    if (typeof out === 'number') return String(out);
    if (typeof out !== 'string') throw new TemplateError(`expected a string, got ${JSON.stringify(out)}`);
    return out;
  }

  private sub(text: string, vars: Record<string, unknown>, stack: string): string {
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_match, bang: string, name: string) => {
      if (bang === '!') return `\${${name}}`;
      if (name in vars) return this.evalString(vars[name], stack);
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) {
        return this.att(this.locate(stack, name.slice(0, dot)), name.slice(dot + 1));
      }
      return String(this.refValue(name, stack));
    });
  }

  private eval(value: unknown, stack: string): unknown {
    if (Array.isArray(value)) return value.map((v) => this.eval(v, stack)).filter((v) => v !== NO_VALUE);
    if (typeof value !== 'object' || value === null) return value;
    if (!isIntrinsic(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const resolved = this.eval(v, stack);
        if (resolved !== NO_VALUE) out[k] = resolved;
      }
      return out;
    }
    const [fn, arg] = Object.entries(value)[0] as [string, unknown];
    const args = arg as unknown[];
    switch (fn) {
      case 'Ref':
        return this.refValue(arg as string, stack);
      case 'Fn::GetAtt': {
        const [id, ...rest] = typeof arg === 'string' ? arg.split('.') : (args as string[]);
        return this.att(this.locate(stack, id as string), rest.join('.'));
      }
      case 'Fn::Join':
        return this.evalList(args[1], stack)
          .map((v) => (typeof v === 'number' ? String(v) : v))
          .join(this.evalString(args[0], stack));
      case 'Fn::Select': {
        const list = this.evalList(args[1], stack);
        const index = Number(this.eval(args[0], stack));
        if (!(index in list)) throw new TemplateError(`Fn::Select ${index} of ${JSON.stringify(list)}`);
        return list[index];
      }
      case 'Fn::Split':
        return this.evalString(args[1], stack).split(this.evalString(args[0], stack));
      case 'Fn::Sub':
        return typeof arg === 'string'
          ? this.sub(arg, {}, stack)
          : this.sub(args[0] as string, (args[1] ?? {}) as Record<string, unknown>, stack);
      case 'Fn::ImportValue':
        return this.exportValue(this.evalString(arg, stack));
      case 'Fn::GetAZs':
        return [...FAKE_AZS];
      case 'Fn::FindInMap': {
        const [map, first, second] = args.map((a) => this.evalString(a, stack));
        const found = this.templates[stack]?.Mappings?.[map as string]?.[first as string]?.[second as string];
        if (found === undefined) throw new TemplateError(`Fn::FindInMap ${map}.${first}.${second}: absent`);
        return found;
      }
      case 'Fn::If':
        return this.eval(this.condition(args[0] as string, stack) ? args[1] : args[2], stack);
      case 'Fn::Base64':
        return this.eval(arg, stack);
      default:
        throw new TemplateError(`unsupported intrinsic ${fn}`);
    }
  }
}
