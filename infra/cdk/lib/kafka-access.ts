/**
 * What a function needs to use Kafka, as one port with two adapters: MSK with IAM auth (AWS target), or a
 * plain broker list (LocalStack target, where the brokers are compose containers and IAM does not apply).
 * The house construct's `bindTopic`/`bindConsumerGroup` call it, so an env var never comes without its grant.
 */
import { Fn, Stack } from 'aws-cdk-lib';
import type { Connections, IConnectable } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';

export type TopicAccess = 'produce' | 'consume' | 'create';

export interface KafkaAccess {
  /** KAFKA_BROKERS or MSK_CLUSTER_ARN, KAFKA_AUTH: what `#shared/config.ts` `kafkaEnv` reads. */
  readonly environment: Readonly<Record<string, string>>;
  /** Network path to the brokers, broker discovery and `kafka-cluster:Connect`. */
  grantConnect(fn: IFunction): void;
  grantTopic(fn: IFunction, topic: string, access: TopicAccess): void;
  /**
   * Describe and alter (join, commit offsets of) `group`, which may end in `*` for groups named at run time.
   * @returns the resources granted (group ARNs; none without IAM), to acknowledge a wildcard against.
   */
  grantGroup(fn: IFunction, group: string): readonly string[];
}

/** The IAM port of MSK (provisioned and Serverless). */
export const MSK_IAM_PORT = 9098;

const TOPIC_ACTIONS: Record<TopicAccess, string[]> = {
  produce: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
  consume: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
  create: ['kafka-cluster:DescribeTopic', 'kafka-cluster:CreateTopic'],
};

/** MSK cluster with IAM access control: grants name the cluster, its topics and groups by ARN. */
export class MskIamAccess implements KafkaAccess, IConnectable {
  readonly environment: Readonly<Record<string, string>>;
  readonly clusterArn: string;
  readonly connections: Connections;

  constructor(clusterArn: string, connections: Connections) {
    this.clusterArn = clusterArn;
    this.connections = connections;
    this.environment = { MSK_CLUSTER_ARN: clusterArn, KAFKA_AUTH: 'aws-msk-iam' };
  }

  grantConnect(fn: IFunction): void {
    fn.connections.allowToDefaultPort(this, 'Kafka over MSK IAM (9098)');
    fn.addToRolePolicy(
      new PolicyStatement({
        // GetBootstrapBrokers: #shared/kafka/connection.ts discovers the IAM listener from the ARN at cold start.
        actions: ['kafka:GetBootstrapBrokers', 'kafka-cluster:Connect'],
        resources: [this.clusterArn],
      }),
    );
  }

  grantTopic(fn: IFunction, topic: string, access: TopicAccess): void {
    fn.addToRolePolicy(new PolicyStatement({ actions: TOPIC_ACTIONS[access], resources: [this.arn(fn, 'topic', topic)] }));
    if (access === 'produce') {
      // The shared publisher is idempotent (acks=all, no duplicates on retry): a cluster-level permission.
      fn.addToRolePolicy(
        new PolicyStatement({ actions: ['kafka-cluster:WriteDataIdempotently'], resources: [this.clusterArn] }),
      );
    }
    if (access === 'consume') {
      // The MSK event source mapping reads the cluster's dynamic configuration as the function's role.
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['kafka-cluster:DescribeClusterDynamicConfiguration'],
          resources: [this.clusterArn],
        }),
      );
    }
  }

  grantGroup(fn: IFunction, group: string): readonly string[] {
    // MSK matches `*` in the resource part of a group ARN, so `<prefix>*` covers the groups of that prefix.
    const resources = [this.arn(fn, 'group', group)];
    fn.addToRolePolicy(new PolicyStatement({ actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'], resources }));
    return resources;
  }

  /** `arn:…:kafka:…:topic/<cluster-name>/<cluster-uuid>/<name>` (same for `group`), from the cluster ARN. */
  private arn(fn: IFunction, resource: 'topic' | 'group', name: string): string {
    const part = (index: number) => Fn.select(index, Fn.split('/', this.clusterArn));
    return Stack.of(fn).formatArn({ service: 'kafka', resource, resourceName: `${part(1)}/${part(2)}/${name}` });
  }
}

/** A static broker list without auth: LocalStack's functions reach the compose Kafka; nothing to grant. */
export class PlainBrokers implements KafkaAccess {
  readonly environment: Readonly<Record<string, string>>;

  constructor(brokers: readonly string[]) {
    this.environment = { KAFKA_BROKERS: brokers.join(','), KAFKA_AUTH: 'none' };
  }

  grantConnect(): void {}
  grantTopic(): void {}
  grantGroup(): readonly string[] {
    return [];
  }
}
