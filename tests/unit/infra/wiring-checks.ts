/**
 * Wiring checks: pure functions over every stack's template (`TemplateModel`) that throw a `WiringError`
 * listing what would break in AWS, and otherwise return how many things they verified (a check that finds
 * nothing to verify returns 0, so a test can tell "passed" from "did not apply"). They find resources by type
 * and by their properties and environment variables, never by stack or logical id.
 *
 * This file: Kafka (IAM resource names, the event source mapping's role, topics, auth) and the registry.
 * Elsewhere: wiring-checks-network.ts, wiring-checks-access.ts, wiring-checks-credentials.ts.
 */
import type { TemplateModel } from './template-eval.ts';
import {
  allows,
  functionByName,
  functions,
  kafkaMappings,
  kafkaResourceArn,
  managedPolicyArnsOfRole,
  mskClusters,
  nameOf,
  policiesOfRole,
  statementsOf,
  verdict,
} from './template-match.ts';
import { apiRoutesIntegrate, boundSecretsGranted, usagePlanCoversKeyedMethods } from './wiring-checks-access.ts';
import { appDbRolesBound, cacheIamWired } from './wiring-checks-credentials.ts';
import {
  bindingNetworkPaths,
  esmApiEndpoints,
  esmPollerNetwork,
  functionApiEndpoints,
  functionsInPrivateSubnets,
  rotationNetwork,
} from './wiring-checks-network.ts';

export type Check = (model: TemplateModel) => number;

const KAFKA_DATA_PLANE = /^arn:[^:]+:kafka:[^:]*:[^:]*:(topic|group|transactional-id)\//;

/**
 * Every `kafka-cluster:*` grant on a topic, group or transactional id names it as MSK does:
 * `…:topic/<cluster name>/<cluster uuid>/<name>` of a cluster in the templates (a grant that repeats the
 * name, or names another cluster, matches nothing and every call is denied).
 */
export const kafkaArnsUseClusterUuid: Check = (model) => {
  const clusters = mskClusters(model);
  const problems: string[] = [];
  let verified = 0;
  for (const role of model.resources('AWS::IAM::Role')) {
    for (const statement of policiesOfRole(model, role)) {
      const actions = [statement.Action ?? []].flat();
      if (!actions.some((a) => a.startsWith('kafka-cluster:'))) continue;
      for (const resource of [statement.Resource ?? []].flat()) {
        const kind = KAFKA_DATA_PLANE.exec(resource)?.[1];
        if (kind === undefined) continue;
        verified += 1;
        const named = clusters.some((c) => {
          const prefix = kafkaResourceArn(c, kind, '');
          return resource.startsWith(prefix) && resource.length > prefix.length;
        });
        if (!named) problems.push(`${role.id}: grant on ${resource} does not name <cluster name>/<cluster uuid>/<${kind}> of a cluster`);
      }
    }
  }
  return verdict(problems, verified);
};

/**
 * The role of a function read by an MSK event source mapping (IAM auth) holds what the mapping does as that
 * role: connect and read the cluster's dynamic configuration, describe and read each topic, describe and alter
 * (commit offsets of) its consumer group, write an on-failure topic (WriteData, with the DescribeTopic MSK wants
 * alongside), discover the cluster (DescribeClusterV2, GetBootstrapBrokers) and manage its network interfaces
 * (both in AWSLambdaMSKExecutionRole).
 */
export const esmRolePermissions: Check = (model) => {
  const problems: string[] = [];
  let verified = 0;
  for (const mapping of kafkaMappings(model)) {
    const { cluster, fn } = mapping;
    const statements = statementsOf(model, fn);
    const managed = fn.role === undefined ? [] : managedPolicyArnsOfRole(model, fn.role);
    const need = (action: string, resource: string) => {
      verified += 1;
      if (!allows(statements, action, resource)) problems.push(`${nameOf(fn)}: role lacks ${action} on ${resource}`);
    };
    if (!cluster.iam) problems.push(`${mapping.loc.id}: the cluster has no IAM auth; only IAM mappings are modelled`);
    need('kafka-cluster:Connect', cluster.arn);
    need('kafka-cluster:DescribeClusterDynamicConfiguration', cluster.arn);
    if (!managed.some((arn) => arn.endsWith(':policy/service-role/AWSLambdaMSKExecutionRole'))) {
      for (const action of ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers']) need(action, cluster.arn);
      for (const action of ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface']) {
        need(action, '*');
      }
    }
    if (mapping.topics.length === 0) problems.push(`${mapping.loc.id}: no topic`);
    for (const topic of mapping.topics) {
      for (const action of ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData']) {
        need(action, kafkaResourceArn(cluster, 'topic', topic));
      }
    }
    if (mapping.consumerGroupId === undefined) {
      problems.push(`${mapping.loc.id}: no ConsumerGroupId (Lambda would use the mapping's UUID, which no grant can name)`);
    } else {
      for (const action of ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup']) {
        need(action, kafkaResourceArn(cluster, 'group', mapping.consumerGroupId));
      }
    }
    if (mapping.onFailureTopic !== undefined) {
      for (const action of ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData']) {
        need(action, kafkaResourceArn(cluster, 'topic', mapping.onFailureTopic));
      }
    }
  }
  return verdict(problems, verified);
};

/**
 * Kafka client settings agree with the cluster: a function given MSK_CLUSTER_ARN names a cluster of the
 * templates that has IAM auth and says KAFKA_AUTH=aws-msk-iam (plain text to the IAM listener fails); IAM auth
 * without a cluster ARN, and a static broker list in an app that has an MSK cluster, are mistakes too.
 */
export const kafkaAuthMatchesCluster: Check = (model) => {
  const clusters = mskClusters(model);
  const problems: string[] = [];
  let verified = 0;
  for (const fn of functions(model)) {
    const { MSK_CLUSTER_ARN: arn, KAFKA_AUTH: auth, KAFKA_BROKERS: brokers } = fn.env;
    if (arn === undefined && auth === undefined && brokers === undefined) continue;
    verified += 1;
    if (arn !== undefined) {
      const cluster = clusters.find((c) => c.arn === arn);
      if (cluster === undefined) problems.push(`${nameOf(fn)}: MSK_CLUSTER_ARN ${arn} is no cluster of the app`);
      else if (!cluster.iam) problems.push(`${nameOf(fn)}: its cluster has no IAM client authentication`);
      if (auth !== 'aws-msk-iam') problems.push(`${nameOf(fn)}: MSK_CLUSTER_ARN with KAFKA_AUTH=${auth ?? '(unset)'}`);
      if (brokers !== undefined) problems.push(`${nameOf(fn)}: both MSK_CLUSTER_ARN and KAFKA_BROKERS`);
    } else if (auth === 'aws-msk-iam') {
      problems.push(`${nameOf(fn)}: KAFKA_AUTH=aws-msk-iam without MSK_CLUSTER_ARN`);
    }
    if (brokers !== undefined && clusters.length > 0) {
      problems.push(`${nameOf(fn)}: KAFKA_BROKERS in an app with an MSK cluster (brokers are discovered from its ARN)`);
    }
  }
  return verdict(problems, verified);
};

/** Topic names in KAFKA_TOPICS (the deploy-time topic step's list) across every function. */
export function createdTopics(model: TemplateModel): Set<string> {
  const names = new Set<string>();
  for (const fn of functions(model)) {
    if (fn.env.KAFKA_TOPICS === undefined) continue;
    for (const topic of JSON.parse(fn.env.KAFKA_TOPICS) as { name: string }[]) names.add(topic.name);
  }
  return names;
}

/**
 * The variable naming the topic each mapped function processes, by POWERTOOLS_SERVICE_NAME: enrich reads
 * raw-logs, the re-enricher the partial outputs (it is given RAW_TOPIC too, to read raw records back).
 */
export const SOURCE_TOPIC_VARIABLE: Readonly<Record<string, string>> = { enrich: 'RAW_TOPIC', reenrich: 'PARTIAL_TOPIC' };

/**
 * Topics line up: the mapping reads a created topic from its function's own cluster, the one the function
 * calls its source (SOURCE_TOPIC_VARIABLE: RAW_TOPIC for enrich); its on-failure topic is created and is not
 * a source topic; every `*_TOPIC` a Kafka function is given is created.
 */
export const esmTopicsMatch: Check = (model) => {
  const created = createdTopics(model);
  const problems: string[] = [];
  let verified = 0;
  if (mskClusters(model).length === 0) return 0;
  if (created.size === 0) problems.push('no function creates topics (KAFKA_TOPICS) on the MSK cluster');
  for (const mapping of kafkaMappings(model)) {
    verified += 1;
    const { fn } = mapping;
    for (const topic of mapping.topics) if (!created.has(topic)) problems.push(`${mapping.loc.id} reads ${topic}, which is not created`);
    const source = SOURCE_TOPIC_VARIABLE[fn.service ?? ''];
    if (source === undefined) problems.push(`${mapping.loc.id}: no source topic variable is known for ${nameOf(fn)}`);
    else if (mapping.topics[0] !== fn.env[source]) {
      problems.push(`${mapping.loc.id} reads ${mapping.topics[0]} but ${nameOf(fn)} has ${source}=${fn.env[source]}`);
    }
    if (mapping.onFailureTopic !== undefined && !created.has(mapping.onFailureTopic)) {
      problems.push(`${mapping.loc.id}: on-failure topic ${mapping.onFailureTopic} is not created`);
    }
    if (mapping.onFailureTopic !== undefined && mapping.topics.includes(mapping.onFailureTopic)) {
      problems.push(`${mapping.loc.id}: on-failure topic ${mapping.onFailureTopic} is a source topic (Lambda refuses it)`);
    }
    if (fn.env.MSK_CLUSTER_ARN !== mapping.cluster.arn) {
      problems.push(`${mapping.loc.id}: reads ${mapping.cluster.arn}, ${nameOf(fn)} has MSK_CLUSTER_ARN=${fn.env.MSK_CLUSTER_ARN}`);
    }
  }
  for (const fn of functions(model)) {
    if (fn.env.MSK_CLUSTER_ARN === undefined) continue;
    for (const [name, topic] of Object.entries(fn.env)) {
      if (!name.endsWith('_TOPIC')) continue;
      verified += 1;
      if (!created.has(topic)) problems.push(`${nameOf(fn)}: ${name}=${topic} is not created`);
    }
  }
  return verdict(problems, verified);
};

/**
 * Each mapping of a cluster commits as a consumer group of its own: two mappings in one group would take
 * partitions from each other at every rebalance, and one would never see the records the other was given.
 */
export const esmConsumerGroupsDistinct: Check = (model) => {
  const problems: string[] = [];
  let verified = 0;
  const seen = new Map<string, string>();
  for (const mapping of kafkaMappings(model)) {
    if (mapping.consumerGroupId === undefined) continue;
    verified += 1;
    const key = `${mapping.cluster.arn} ${mapping.consumerGroupId}`;
    const other = seen.get(key);
    if (other !== undefined) problems.push(`${other} and ${mapping.loc.id} both commit as consumer group ${mapping.consumerGroupId}`);
    seen.set(key, mapping.loc.id);
  }
  return verdict(problems, verified);
};

const REPORT_FLAG = 'ENRICH_REPORT_BATCH_ITEM_FAILURES';

/**
 * A function returns `batchItemFailures` exactly when its mapping reads them: FunctionResponseTypes
 * ReportBatchItemFailures ⇔ ENRICH_REPORT_BATCH_ITEM_FAILURES=true (otherwise failed records are either
 * retried with the whole batch, or, with the flag but no response type, taken as processed).
 */
export const partialBatchResponseMatches: Check = (model) => {
  const problems: string[] = [];
  let verified = 0;
  const mapped = new Set<string>();
  for (const loc of model.resources('AWS::Lambda::EventSourceMapping')) {
    const fn = functionByName(model, String(model.prop(loc, 'FunctionName')));
    if (fn === undefined) continue;
    verified += 1;
    mapped.add(fn.arn);
    const types = (model.prop(loc, 'FunctionResponseTypes') as string[] | undefined) ?? [];
    const reads = types.includes('ReportBatchItemFailures');
    const returns = ['true', '1'].includes(fn.env[REPORT_FLAG] ?? 'false');
    if (reads !== returns) problems.push(`${loc.id}: ReportBatchItemFailures=${reads} but ${nameOf(fn)} has ${REPORT_FLAG}=${fn.env[REPORT_FLAG]}`);
  }
  for (const fn of functions(model)) {
    if (['true', '1'].includes(fn.env[REPORT_FLAG] ?? '') && !mapped.has(fn.arn)) {
      problems.push(`${nameOf(fn)}: ${REPORT_FLAG}=true without an event source mapping`);
    }
  }
  return verdict(problems, verified);
};

/** Every check, by name. `targets` says where it has something to verify. */
export const CHECKS: Record<string, { readonly check: Check; readonly targets: readonly ('aws' | 'local')[] }> = {
  kafkaArnsUseClusterUuid: { check: kafkaArnsUseClusterUuid, targets: ['aws'] },
  esmRolePermissions: { check: esmRolePermissions, targets: ['aws'] },
  esmPollerNetwork: { check: esmPollerNetwork, targets: ['aws'] },
  esmApiEndpoints: { check: esmApiEndpoints, targets: ['aws'] },
  esmTopicsMatch: { check: esmTopicsMatch, targets: ['aws'] },
  esmConsumerGroupsDistinct: { check: esmConsumerGroupsDistinct, targets: ['aws'] },
  partialBatchResponseMatches: { check: partialBatchResponseMatches, targets: ['aws'] },
  kafkaAuthMatchesCluster: { check: kafkaAuthMatchesCluster, targets: ['aws', 'local'] },
  functionsInPrivateSubnets: { check: functionsInPrivateSubnets, targets: ['aws'] },
  functionApiEndpoints: { check: functionApiEndpoints, targets: ['aws'] },
  bindingNetworkPaths: { check: bindingNetworkPaths, targets: ['aws'] },
  rotationNetwork: { check: rotationNetwork, targets: ['aws'] },
  boundSecretsGranted: { check: boundSecretsGranted, targets: ['aws'] },
  cacheIamWired: { check: cacheIamWired, targets: ['aws'] },
  appDbRolesBound: { check: appDbRolesBound, targets: ['aws'] },
  usagePlanCoversKeyedMethods: { check: usagePlanCoversKeyedMethods, targets: ['aws', 'local'] },
  apiRoutesIntegrate: { check: apiRoutesIntegrate, targets: ['aws', 'local'] },
};
