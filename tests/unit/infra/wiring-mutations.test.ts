/**
 * Each wiring check fails on the mistake it guards against. A test deep-copies the AWS target's templates,
 * makes one mistake the way a source change would show up in the template, and expects the named check to
 * throw. The first five are the mistakes that once passed every template test (issue 10); the rest are of
 * the same kind. Every mutation first asserts that it found something to change, so a mutation that no longer
 * applies fails instead of passing vacuously.
 */
import { type Located, TemplateModel, type Templates } from './template-eval.ts';
import {
  directDependencies,
  type FunctionInfo,
  functionByName,
  functions,
  kafkaMappings,
  mskClusters,
  WiringError,
} from './template-match.ts';
import { apiMethods, integratedFunction } from './wiring-checks-access.ts';
import { type Check, CHECKS } from './wiring-checks.ts';
import { removeAssembly, SYNTH_TIMEOUT_MS, synthApp, templatesOf } from './synth-app.ts';

let original: Templates;

beforeAll(() => {
  const built = synthApp();
  try {
    original = templatesOf(built) as Templates;
  } finally {
    removeAssembly(built);
  }
}, SYNTH_TIMEOUT_MS);

/** A fresh deep copy of the templates, as a model to mutate. */
function copy(): TemplateModel {
  return new TemplateModel(structuredClone(original));
}

function check(name: keyof typeof CHECKS): Check {
  const found = CHECKS[name];
  if (found === undefined) throw new Error(`no check ${name}`);
  return found.check;
}

/** Asserts the mutation changed something, then that `name` throws a WiringError matching `message`. */
function expectFailure(model: TemplateModel, changed: number, name: keyof typeof CHECKS, message: RegExp): void {
  expect(changed).toBeGreaterThan(0);
  expect(() => check(name)(model)).toThrow(WiringError);
  expect(() => check(name)(model)).toThrow(message);
}

function props(loc: Located): Record<string, unknown> {
  loc.resource.Properties ??= {};
  return loc.resource.Properties;
}

function variables(fn: FunctionInfo): Record<string, unknown> {
  return (props(fn.loc).Environment as { Variables: Record<string, unknown> }).Variables;
}

function remove(model: TemplateModel, locs: readonly Located[]): number {
  for (const loc of locs) delete model.templates[loc.stack]?.Resources?.[loc.id];
  return locs.length;
}

/** Applies `edit` to every object in `value` (depth first); returns how many edits reported a change. */
function walk(value: unknown, edit: (node: Record<string, unknown>) => boolean): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + walk(v, edit), 0);
  if (typeof value !== 'object' || value === null) return 0;
  const node = value as Record<string, unknown>;
  return (edit(node) ? 1 : 0) + Object.values(node).reduce((n: number, v) => n + walk(v, edit), 0);
}

/** Raw statements of the policies attached to a role (to edit in place). */
function rawStatements(model: TemplateModel, role: Located): Record<string, unknown>[] {
  const name = model.ref(role);
  return model
    .resources(/^AWS::IAM::(Policy|ManagedPolicy)$/)
    .filter((p) => ((model.prop(p, 'Roles') as string[] | undefined) ?? []).includes(name))
    .flatMap((p) => (props(p).PolicyDocument as { Statement: Record<string, unknown>[] }).Statement);
}

/** The MSK event source mapping of a function (enrich's unless told), by its service name. */
function mapping(model: TemplateModel, of = 'enrich') {
  const found = kafkaMappings(model).find((m) => m.fn.service === of);
  if (found === undefined) throw new Error(`no MSK event source mapping of ${of}`);
  return found;
}

function service(model: TemplateModel, name: string): FunctionInfo {
  const fn = functions(model).find((f) => f.service === name);
  if (fn === undefined) throw new Error(`no ${name} function`);
  return fn;
}

/** Security-group rule resources of `type` whose GroupId and peer satisfy the predicates. */
function rules(model: TemplateModel, type: 'Ingress' | 'Egress', group: (id: string) => boolean, peer: (id: string) => boolean) {
  const peerKey = type === 'Ingress' ? 'SourceSecurityGroupId' : 'DestinationSecurityGroupId';
  return model
    .resources(`AWS::EC2::SecurityGroup${type}`)
    .filter((r) => group(String(model.prop(r, 'GroupId'))) && peer(String(model.prop(r, peerKey))));
}

function endpoints(model: TemplateModel, service: string): Located[] {
  return model.resources('AWS::EC2::VPCEndpoint').filter((e) => String(model.prop(e, 'ServiceName')).endsWith(`.${service}`));
}

describe('the five mistakes of issue 10', () => {
  it('topic and group ARNs with the cluster name where the UUID belongs fail kafkaArnsUseClusterUuid', () => {
    const model = copy();
    const changed = walk(model.templates, (node) => {
      const select = node['Fn::Select'] as [number, { 'Fn::Split'?: unknown }] | undefined;
      if (select?.[0] !== 2 || select[1]?.['Fn::Split'] === undefined) return false;
      select[0] = 1;
      return true;
    });
    expectFailure(model, changed, 'kafkaArnsUseClusterUuid', /does not name <cluster name>\/<cluster uuid>/);
    expect(() => check('esmRolePermissions')(model)).toThrow(WiringError);
  });

  it('kafka-cluster:AlterGroup dropped from the mapped function fails esmRolePermissions', () => {
    const model = copy();
    const { role } = mapping(model).fn;
    if (role === undefined) throw new Error('the mapped function has no role');
    let changed = 0;
    for (const statement of rawStatements(model, role)) {
      const actions = [statement.Action].flat() as string[];
      if (!actions.includes('kafka-cluster:AlterGroup')) continue;
      statement.Action = actions.filter((a) => a !== 'kafka-cluster:AlterGroup');
      changed += 1;
    }
    expectFailure(model, changed, 'esmRolePermissions', /lacks kafka-cluster:AlterGroup on .*:group\//);
  });

  it("the Kafka security group's self-ingress on 9098 removed fails esmPollerNetwork", () => {
    const model = copy();
    const groups = mskClusters(model).flatMap((c) => c.securityGroupIds);
    const self = rules(model, 'Ingress', (g) => groups.includes(g), (p) => groups.includes(p));
    expectFailure(model, remove(model, self), 'esmPollerNetwork', /pollers reach the brokers on 9098/);
  });

  it("the usage plan's API stage removed fails usagePlanCoversKeyedMethods", () => {
    const model = copy();
    const plans = model.resources('AWS::ApiGateway::UsagePlan');
    for (const plan of plans) delete props(plan).ApiStages;
    expectFailure(model, plans.length, 'usagePlanCoversKeyedMethods', /POST \/api\/logs: requires an API key, but no usage plan/);
  });

  it('KAFKA_AUTH=none on the AWS target fails kafkaAuthMatchesCluster', () => {
    const model = copy();
    const kafkaFunctions = functions(model).filter((f) => f.env.MSK_CLUSTER_ARN !== undefined);
    for (const fn of kafkaFunctions) variables(fn).KAFKA_AUTH = 'none';
    expectFailure(model, kafkaFunctions.length, 'kafkaAuthMatchesCluster', /MSK_CLUSTER_ARN with KAFKA_AUTH=none/);
  });
});

describe('endpoints and subnets', () => {
  it('an on-demand mapping needs the STS and Lambda endpoints (esmApiEndpoints)', () => {
    const model = copy();
    const mappings = model.resources('AWS::Lambda::EventSourceMapping');
    for (const m of mappings) delete props(m).ProvisionedPollerConfig;
    expect(check('esmApiEndpoints')(model)).toBeGreaterThan(0);

    expectFailure(model, remove(model, endpoints(model, 'sts')), 'esmApiEndpoints', /no sts interface endpoint/);
    remove(model, endpoints(model, 'lambda'));
    expect(() => check('esmApiEndpoints')(model)).toThrow(/no lambda interface endpoint/);
  });

  it('without the MSK API endpoint, Kafka functions cannot discover brokers (functionApiEndpoints)', () => {
    const model = copy();
    expectFailure(model, remove(model, endpoints(model, 'kafka')), 'functionApiEndpoints', /no kafka interface endpoint/);
  });

  it('an endpoint without private DNS is not used by the SDK (functionApiEndpoints)', () => {
    const model = copy();
    const sm = endpoints(model, 'secretsmanager');
    for (const e of sm) props(e).PrivateDnsEnabled = false;
    expectFailure(model, sm.length, 'functionApiEndpoints', /secretsmanager endpoint has no private DNS/);
  });

  it('a function without egress to the endpoints fails functionApiEndpoints', () => {
    const model = copy();
    const enrich = mapping(model).fn;
    const endpointGroups = endpoints(model, 'kafka').flatMap((e) => model.prop(e, 'SecurityGroupIds') as string[]);
    const egress = rules(model, 'Egress', (g) => enrich.securityGroupIds.includes(g), (p) => endpointGroups.includes(p));
    expectFailure(model, remove(model, egress), 'functionApiEndpoints', /no path to the kafka endpoint on 443/);
  });

  it('a function taken out of the VPC fails functionsInPrivateSubnets', () => {
    const model = copy();
    const enrich = mapping(model).fn;
    delete props(enrich.loc).VpcConfig;
    expectFailure(model, 1, 'functionsInPrivateSubnets', /not in the VPC but given MSK_CLUSTER_ARN/);
  });

  it('a function in a public subnet, or behind a group open to all egress, fails functionsInPrivateSubnets', () => {
    const model = copy();
    const ingest = service(model, 'ingest');
    const subnets = model.resources('AWS::EC2::Subnet').filter((s) => ingest.subnetIds.includes(model.ref(s)));
    for (const s of subnets) props(s).MapPublicIpOnLaunch = true;
    expectFailure(model, subnets.length, 'functionsInPrivateSubnets', /ingest: subnet .* is public/);

    const clean = copy();
    const groups = service(clean, 'ingest').securityGroupIds;
    const group = clean.resources('AWS::EC2::SecurityGroup').find((g) => groups.includes(clean.ref(g)));
    if (group === undefined) throw new Error('no ingest security group');
    props(group).SecurityGroupEgress = [{ CidrIp: '0.0.0.0/0', IpProtocol: '-1' }];
    expect(() => check('functionsInPrivateSubnets')(clean)).toThrow(/ingest: security group .* allows all egress/);
  });
});

describe('secrets', () => {
  it('a bound secret without its grant fails boundSecretsGranted', () => {
    const model = copy();
    const metadata = service(model, 'metadata');
    if (metadata.role === undefined) throw new Error('no metadata role');
    let changed = 0;
    for (const statement of rawStatements(model, metadata.role)) {
      const actions = [statement.Action].flat() as string[];
      if (!actions.includes('secretsmanager:GetSecretValue')) continue;
      statement.Action = actions.filter((a) => a !== 'secretsmanager:GetSecretValue');
      changed += 1;
    }
    expectFailure(model, changed, 'boundSecretsGranted', /metadata: cannot read secret arn:aws:secretsmanager:/);
  });

  it('a grant on a secret the function is not given fails boundSecretsGranted', () => {
    const model = copy();
    const ingest = service(model, 'ingest');
    if (ingest.role === undefined) throw new Error('no ingest role');
    const roleName = model.ref(ingest.role);
    const policy = model.resources('AWS::IAM::Policy').find((p) => (model.prop(p, 'Roles') as string[]).includes(roleName));
    if (policy === undefined) throw new Error('no ingest policy');
    const document = props(policy).PolicyDocument as { Statement: unknown[] };
    document.Statement.push({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' });
    expectFailure(model, 1, 'boundSecretsGranted', /ingest: may read secret \*, which it is not given/);
  });
});

describe('network paths of the bindings', () => {
  const cases: [string, (model: TemplateModel) => Located[], keyof typeof CHECKS, RegExp][] = [
    [
      'the cache no longer admits enrich',
      (model) => {
        const enrich = mapping(model).fn;
        const cacheGroups = model.resources('AWS::ElastiCache::ReplicationGroup').flatMap((c) => model.prop(c, 'SecurityGroupIds') as string[]);
        return rules(model, 'Ingress', (g) => cacheGroups.includes(g), (p) => enrich.securityGroupIds.includes(p));
      },
      'bindingNetworkPaths',
      /enrich: no path to the cache .* on 6379/,
    ],
    [
      'metadata has no egress to the database endpoint',
      (model) => {
        const metadata = service(model, 'metadata');
        const dbGroups = model.resources(/^AWS::RDS::(DBProxy|DBCluster)$/).flatMap((d) => model.prop(d, 'VpcSecurityGroupIds') as string[]);
        return rules(model, 'Egress', (g) => metadata.securityGroupIds.includes(g), (p) => dbGroups.includes(p));
      },
      'bindingNetworkPaths',
      /metadata: no path to the database .* on 5432/,
    ],
    [
      'ingest has no egress to the brokers',
      (model) => {
        const ingest = service(model, 'ingest');
        const groups = mskClusters(model).flatMap((c) => c.securityGroupIds);
        return rules(model, 'Egress', (g) => ingest.securityGroupIds.includes(g), (p) => groups.includes(p));
      },
      'bindingNetworkPaths',
      /ingest: no path to the MSK brokers on 9098/,
    ],
    [
      'the database no longer admits the rotation function',
      (model) => {
        const rotation = model.resources('AWS::Serverless::Application').flatMap((a) => String((model.prop(a, 'Parameters') as Record<string, string>).vpcSecurityGroupIds).split(','));
        const dbGroups = model.resources('AWS::RDS::DBCluster').flatMap((d) => model.prop(d, 'VpcSecurityGroupIds') as string[]);
        return rules(model, 'Ingress', (g) => dbGroups.includes(g), (p) => rotation.includes(p));
      },
      'rotationNetwork',
      /no path to .* on 5432/,
    ],
  ];
  it.each(cases)('%s', (_label, select, name, message) => {
    const model = copy();
    expectFailure(model, remove(model, select(model)), name, message);
  });

  it('RDS Proxy no longer admitted by the cluster fails bindingNetworkPaths', () => {
    const model = copy();
    const proxyGroups = model.resources('AWS::RDS::DBProxy').flatMap((p) => model.prop(p, 'VpcSecurityGroupIds') as string[]);
    const clusterGroups = model.resources('AWS::RDS::DBCluster').flatMap((d) => model.prop(d, 'VpcSecurityGroupIds') as string[]);
    const ingress = rules(model, 'Ingress', (g) => clusterGroups.includes(g), (p) => proxyGroups.includes(p));
    expectFailure(model, remove(model, ingress), 'bindingNetworkPaths', /no path from the proxy to .* on 5432/);
  });
});

describe('topics and batch responses', () => {
  it('a mapping on a topic that is not created fails esmTopicsMatch', () => {
    const model = copy();
    const m = mapping(model);
    props(m.loc).Topics = ['raw-logz'];
    expectFailure(model, 1, 'esmTopicsMatch', /reads raw-logz, which is not created/);
  });

  it('enrich told another RAW_TOPIC than its mapping reads fails esmTopicsMatch', () => {
    const model = copy();
    variables(mapping(model).fn).RAW_TOPIC = 'enriched-logs-complete';
    expectFailure(model, 1, 'esmTopicsMatch', /but enrich has RAW_TOPIC=enriched-logs-complete/);
  });

  it('the on-failure topic missing from KAFKA_TOPICS fails esmTopicsMatch', () => {
    const model = copy();
    const m = mapping(model);
    const creators = functions(model).filter((f) => f.env.KAFKA_TOPICS !== undefined);
    for (const fn of creators) {
      const topics = (JSON.parse(fn.env.KAFKA_TOPICS ?? '[]') as { name: string }[]).filter((t) => t.name !== m.onFailureTopic);
      variables(fn).KAFKA_TOPICS = JSON.stringify(topics);
    }
    expectFailure(model, creators.length, 'esmTopicsMatch', /on-failure topic .* is not created/);
  });

  it('partial batch responses on one side only fail partialBatchResponseMatches', () => {
    const model = copy();
    delete props(mapping(model).loc).FunctionResponseTypes;
    expectFailure(model, 1, 'partialBatchResponseMatches', /ReportBatchItemFailures=false but enrich has ENRICH_REPORT_BATCH_ITEM_FAILURES=true/);

    const other = copy();
    variables(mapping(other).fn).ENRICH_REPORT_BATCH_ITEM_FAILURES = 'false';
    expect(() => check('partialBatchResponseMatches')(other)).toThrow(/ReportBatchItemFailures=true but enrich/);
  });
});

describe('the re-enricher', () => {
  /** Takes the resources whose ARN ends with `suffix` out of the re-enricher's statements that grant `action`. */
  function dropGrant(model: TemplateModel, action: string, suffix: string): number {
    const { role } = mapping(model, 'reenrich').fn;
    if (role === undefined) throw new Error('the re-enricher has no role');
    let changed = 0;
    for (const statement of rawStatements(model, role)) {
      if (!([statement.Action].flat() as string[]).includes(action)) continue;
      const resources = [statement.Resource].flat();
      const kept = resources.filter((resource) => !JSON.stringify(resource).endsWith(`${suffix}"]]}`));
      changed += resources.length - kept.length;
      statement.Resource = kept;
    }
    return changed;
  }

  it('ReadData on enriched-logs-partial dropped fails esmRolePermissions', () => {
    const model = copy();
    expectFailure(model, dropGrant(model, 'kafka-cluster:ReadData', '/enriched-logs-partial'), 'esmRolePermissions', /reenrich: role lacks kafka-cluster:ReadData on .*:topic\/.*\/enriched-logs-partial/);
  });

  it('its mapping committing as a group its role may not alter fails esmRolePermissions', () => {
    const model = copy();
    const config = props(mapping(model, 'reenrich').loc).AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId: string };
    config.ConsumerGroupId = 'reenrich-v2';
    expectFailure(model, 1, 'esmRolePermissions', /reenrich: role lacks kafka-cluster:AlterGroup on .*:group\/.*\/reenrich-v2/);
  });

  it("its mapping in enrich's consumer group fails esmConsumerGroupsDistinct", () => {
    const model = copy();
    const config = props(mapping(model, 'reenrich').loc).AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId: string };
    config.ConsumerGroupId = String(mapping(model).consumerGroupId);
    expectFailure(model, 1, 'esmConsumerGroupsDistinct', /both commit as consumer group log-enrichment-enrich/);
  });

  it('PARTIAL_TOPIC other than the topic its mapping reads fails esmTopicsMatch', () => {
    const model = copy();
    variables(mapping(model, 'reenrich').fn).PARTIAL_TOPIC = 'enriched-logs-complete';
    expectFailure(model, 1, 'esmTopicsMatch', /reads enriched-logs-partial but reenrich has PARTIAL_TOPIC=enriched-logs-complete/);
  });

  it('partial batch responses its function does not return fail partialBatchResponseMatches', () => {
    const model = copy();
    variables(mapping(model, 'reenrich').fn).ENRICH_REPORT_BATCH_ITEM_FAILURES = 'false';
    expectFailure(model, 1, 'partialBatchResponseMatches', /ReportBatchItemFailures=true but reenrich has ENRICH_REPORT_BATCH_ITEM_FAILURES=false/);
  });

  it("a third function on enrich's database role fails appDbRolesBound, the re-enricher alone may share it", () => {
    const model = copy();
    expect(check('appDbRolesBound')(model)).toBeGreaterThan(0);
    const enrich = service(model, 'enrich');
    const metadata = variables(service(model, 'metadata'));
    metadata.DATABASE_USER = enrich.env.DATABASE_USER;
    metadata.DATABASE_SECRET_ARN = structuredClone(variables(enrich).DATABASE_SECRET_ARN);
    expectFailure(model, 1, 'appDbRolesBound', new RegExp(`(enrich and metadata|metadata and enrich) both log in as ${enrich.env.DATABASE_USER}`));
  });
});

describe('API', () => {
  function method(model: TemplateModel, verb: string, path: string) {
    const found = apiMethods(model).find((m) => m.httpMethod === verb && m.path === path);
    if (found === undefined) throw new Error(`no ${verb} ${path}`);
    return found;
  }

  it('POST /api/logs integrating the metadata function fails apiRoutesIntegrate', () => {
    const model = copy();
    const post = method(model, 'POST', '/api/logs');
    const metadata = service(model, 'metadata');
    const integration = props(post.loc).Integration as { Uri: unknown };
    const ingestId = integratedFunction(model, post)?.loc.id;
    const changed = walk(integration, (node) => {
      const att = node['Fn::GetAtt'] as string[] | undefined;
      if (att === undefined || att[0] !== ingestId) return false;
      att[0] = metadata.loc.id;
      return true;
    });
    expectFailure(model, changed, 'apiRoutesIntegrate', /POST \/api\/logs: integrates metadata, not ingest/);
  });

  it('a Lambda permission removed fails apiRoutesIntegrate', () => {
    const model = copy();
    const ingest = service(model, 'ingest');
    const permissions = model.resources('AWS::Lambda::Permission').filter((p) => model.prop(p, 'FunctionName') === ingest.arn);
    expectFailure(model, remove(model, permissions), 'apiRoutesIntegrate', /POST \/api\/logs: no Lambda permission/);
  });

  it('POST /api/logs without an API key, or a plan without its key, fails usagePlanCoversKeyedMethods', () => {
    const model = copy();
    props(method(model, 'POST', '/api/logs').loc).ApiKeyRequired = false;
    expectFailure(model, 1, 'usagePlanCoversKeyedMethods', /POST \/api\/logs: requires no API key/);

    const other = copy();
    const keys = other.resources('AWS::ApiGateway::UsagePlanKey');
    expectFailure(other, remove(other, keys), 'usagePlanCoversKeyedMethods', /the usage plan covering it has no API key/);
  });
});

describe('cache IAM authentication', () => {
  function cacheClients(model: TemplateModel): FunctionInfo[] {
    const found = functions(model).filter((f) => f.env.REDIS_URL !== undefined);
    if (found.length < 2) throw new Error('expected enrich and metadata to use the cache');
    return found;
  }

  /** The statements of enrich's role that grant elasticache:Connect. */
  function enrichConnect(model: TemplateModel): Record<string, unknown>[] {
    const { role } = service(model, 'enrich');
    if (role === undefined) throw new Error('no enrich role');
    return rawStatements(model, role).filter((s) => [s.Action].flat().includes('elasticache:Connect'));
  }

  it('REDIS_AUTH removed fails cacheIamWired', () => {
    const model = copy();
    const clients = cacheClients(model);
    for (const fn of clients) delete variables(fn).REDIS_AUTH;
    expectFailure(model, clients.length, 'cacheIamWired', /enrich: REDIS_URL without REDIS_AUTH=aws-iam \(REDIS_AUTH=\(unset\)\)/);
  });

  it("the replication group's UserGroupIds removed fails cacheIamWired", () => {
    const model = copy();
    const caches = model.resources('AWS::ElastiCache::ReplicationGroup');
    for (const cache of caches) delete props(cache).UserGroupIds;
    expectFailure(model, caches.length, 'cacheIamWired', /no user group \(UserGroupIds\)/);
    expect(() => check('cacheIamWired')(model)).toThrow(/metadata: its cache user .* is in no user group of/);
  });

  it("enrich's elasticache:Connect grant removed fails cacheIamWired", () => {
    const model = copy();
    const statements = enrichConnect(model);
    for (const statement of statements) statement.Action = [];
    expectFailure(model, statements.length, 'cacheIamWired', /enrich: role lacks elasticache:Connect on arn:aws:elasticache:.*:replicationgroup:/);
  });

  it("enrich's grant on metadata's cache user instead of its own fails cacheIamWired", () => {
    const model = copy();
    const own = service(model, 'enrich').env.REDIS_USER;
    const other = service(model, 'metadata').env.REDIS_USER;
    const changed = walk(enrichConnect(model), (node) => {
      const parts = (node['Fn::Join'] as [string, unknown[]] | undefined)?.[1];
      const index = parts?.findIndex((p) => typeof p === 'string' && p.endsWith(`:user:${own}`)) ?? -1;
      if (parts === undefined || index < 0) return false;
      parts[index] = String(parts[index]).replace(`:user:${own}`, `:user:${other}`);
      return true;
    });
    expectFailure(model, changed, 'cacheIamWired', new RegExp(`enrich: may connect as cache user ${other}`));
    expect(() => check('cacheIamWired')(model)).toThrow(new RegExp(`enrich: role lacks elasticache:Connect on .*:user:${own}`));
  });

  it("the group's default user switched on fails cacheIamWired", () => {
    const model = copy();
    const defaults = model.resources('AWS::ElastiCache::User').filter((u) => props(u).UserName === 'default');
    for (const user of defaults) props(user).AccessString = 'on ~* +@all';
    expectFailure(model, defaults.length, 'cacheIamWired', /its default user .* is not switched off \(AccessString "on ~\* \+@all"\)/);
  });
});

describe('PostgreSQL login roles', () => {
  function migration(model: TemplateModel): FunctionInfo {
    const found = functions(model).find((f) => f.env.DATABASE_APP_ROLES !== undefined);
    if (found === undefined) throw new Error('no function with DATABASE_APP_ROLES');
    return found;
  }

  it('enrich given the master secret fails appDbRolesBound', () => {
    const model = copy();
    variables(service(model, 'enrich')).DATABASE_SECRET_ARN = structuredClone(variables(migration(model)).DATABASE_SECRET_ARN);
    expectFailure(model, 1, 'appDbRolesBound', /enrich: given the master secret arn:aws:secretsmanager:/);
    expect(() => check('appDbRolesBound')(model)).toThrow(/enrich: DATABASE_SECRET_ARN .* is not the secret of role /);
  });

  it("metadata's DATABASE_USER set to enrich's role fails appDbRolesBound", () => {
    const model = copy();
    const enrich = service(model, 'enrich');
    variables(service(model, 'metadata')).DATABASE_USER = enrich.env.DATABASE_USER;
    const role = String(enrich.env.DATABASE_USER);
    expectFailure(model, 1, 'appDbRolesBound', new RegExp(`metadata: DATABASE_SECRET_ARN .* is not the secret of role ${role}`));

    // With enrich's secret too, the binding is consistent but shared.
    const shared = copy();
    const sharedEnrich = variables(service(shared, 'enrich'));
    const sharedMetadata = variables(service(shared, 'metadata'));
    sharedMetadata.DATABASE_USER = sharedEnrich.DATABASE_USER;
    sharedMetadata.DATABASE_SECRET_ARN = structuredClone(sharedEnrich.DATABASE_SECRET_ARN);
    expect(() => check('appDbRolesBound')(shared)).toThrow(new RegExp(`(metadata and enrich|enrich and metadata) both log in as ${role}`));
  });

  it("a role's rotation schedule no longer waiting for the migration trigger fails appDbRolesBound", () => {
    const model = copy();
    const trigger = model
      .resources('Custom::Trigger')
      .find((t) => functionByName(model, String(model.prop(t, 'HandlerArn')))?.env.DATABASE_APP_ROLES !== undefined);
    if (trigger === undefined) throw new Error('no trigger runs the migration');
    const [role] = JSON.parse(migration(model).env.DATABASE_APP_ROLES ?? '[]') as { role: string; secretArn: string }[];
    if (role === undefined) throw new Error('no login role');
    const schedules = model.resources('AWS::SecretsManager::RotationSchedule').filter((s) => model.prop(s, 'SecretId') === role.secretArn);
    const dropTrigger = (locs: readonly Located[]) =>
      locs.filter((loc) => {
        const before = [loc.resource.DependsOn ?? []].flat();
        loc.resource.DependsOn = before.filter((id) => id !== trigger.id);
        return before.includes(trigger.id);
      }).length;

    // The schedule's own DependsOn alone: it still waits, through its rotation application.
    expect(dropTrigger(schedules)).toBeGreaterThan(0);
    expect(check('appDbRolesBound')(model)).toBeGreaterThan(0);

    const applications = schedules.flatMap((s) => directDependencies(model, s)).filter((d) => d.resource.Type === 'AWS::Serverless::Application');
    expectFailure(model, dropTrigger(applications), 'appDbRolesBound', new RegExp(`role ${role.role}: rotation schedule .* never waits for the migration trigger`));
  });
});
