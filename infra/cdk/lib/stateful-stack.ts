/**
 * Stateful stack (AWS target): the network, MSK with IAM auth, ElastiCache (Valkey, TLS, primary + replica,
 * cluster mode disabled), Aurora PostgreSQL Serverless v2 behind RDS Proxy, and the deploy-time steps that
 * prepare them (topics, schema). Nothing here has a public address: the VPC has isolated subnets only (no
 * internet gateway, no NAT); AWS APIs are reached through interface endpoints. Encryption at rest uses one
 * customer-managed key with rotation.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  Connections,
  FlowLogDestination,
  type InterfaceVpcEndpoint,
  InterfaceVpcEndpointAwsService,
  IpAddresses,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Key } from 'aws-cdk-lib/aws-kms';
import { CfnReplicationGroup, CfnSubnetGroup } from 'aws-cdk-lib/aws-elasticache';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnCluster, CfnServerlessCluster } from 'aws-cdk-lib/aws-msk';
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  type DatabaseProxy,
} from 'aws-cdk-lib/aws-rds';
import { Trigger } from 'aws-cdk-lib/triggers';
import type { Construct } from 'constructs';
import type { PipelineResources, TopicSpec } from './endpoints.ts';
import { MSK_IAM_PORT, MskIamAccess } from './kafka-access.ts';
import { ENTRIES, MIGRATIONS_SOURCE } from './paths.ts';
import { acknowledge } from './nag-suppressions.ts';
import { PipelineFunction, TIMEOUTS } from './pipeline-function.ts';

export type MskMode = 'serverless' | 'provisioned';

export interface StatefulStackProps extends StackProps {
  /** MSK Serverless (pay per use, IAM only) or a provisioned cluster (fixed brokers, cheaper at steady load). */
  readonly mskMode: MskMode;
  /** Kafka version of a provisioned cluster (MSK Serverless picks its own). */
  readonly kafkaVersion: string;
  readonly brokerInstanceType: string;
  readonly topics: readonly TopicSpec[];
  /** Node type of the Valkey primary and its replica (`cache.t4g.small` by default). */
  readonly cacheNodeType: string;
  /** Deletion protection and snapshot-on-delete for the database; off only for throwaway environments. */
  readonly protectData: boolean;
}

export const DATABASE_NAME = 'log_enrichment';
const DATABASE_CLUSTER_ID = 'log-enrichment';
const DATABASE_USER = 'log_enrichment';
const REDIS_PORT = 6379;
const VALKEY_VERSION = '8.0';
const POSTGRES_PORT = 5432;
const VPC_CIDR = '10.40.0.0/16';

export class StatefulStack extends Stack {
  readonly resources: Required<Omit<PipelineResources, 'database' | 'redis'>> &
    Pick<PipelineResources, 'database' | 'redis'>;
  readonly proxy: DatabaseProxy;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);

    const dataKey = new Key(this, 'DataKey', {
      description: 'Encryption at rest of the log-enrichment data stores',
      enableKeyRotation: true,
      removalPolicy: props.protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // Two AZs: MSK needs subnets in at least two, and two is the cheapest highly available layout.
    const vpc = new Vpc(this, 'Vpc', {
      // A literal CIDR (not a token) so security-group rules that name it can be checked at synth.
      ipAddresses: IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      flowLogs: {
        rejected: {
          destination: FlowLogDestination.toCloudWatchLogs(
            new LogGroup(this, 'VpcFlowLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
          ),
        },
      },
    });
    const isolated = vpc.selectSubnets({ subnetType: SubnetType.PRIVATE_ISOLATED });

    // No NAT: every AWS API the VPC's code calls goes through an endpoint. The MSK event source mapping's
    // pollers run in the cluster's subnets and call Lambda and STS (its on-failure destination is a topic of
    // the cluster itself, so no SQS or SNS endpoint); the functions call MSK (GetBootstrapBrokers) and
    // Secrets Manager (database password).
    const endpoints = {
      lambda: InterfaceVpcEndpointAwsService.LAMBDA,
      sts: InterfaceVpcEndpointAwsService.STS,
      kafka: InterfaceVpcEndpointAwsService.KAFKA,
      secretsManager: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    const endpointSecurityGroup = new SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'Interface endpoints: HTTPS from inside the VPC',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(Peer.ipv4(VPC_CIDR), Port.tcp(443), 'HTTPS from the VPC');
    const endpointByName = Object.fromEntries(
      Object.entries(endpoints).map(([name, service]) => [
        name,
        vpc.addInterfaceEndpoint(`${name}Endpoint`, {
          service,
          subnets: isolated,
          privateDnsEnabled: true,
          open: false,
          securityGroups: [endpointSecurityGroup],
        }),
      ]),
    ) as Record<keyof typeof endpoints, InterfaceVpcEndpoint>;
    const apiEndpoints = new Connections({ securityGroups: [endpointSecurityGroup], defaultPort: Port.tcp(443) });

    // --- Kafka ---------------------------------------------------------------------------------------------
    const kafkaSecurityGroup = new SecurityGroup(this, 'KafkaSecurityGroup', {
      vpc,
      description: 'MSK brokers (IAM listener) and the event source mapping pollers',
    });
    // The event source mapping's pollers use the cluster's own security group to reach the brokers.
    kafkaSecurityGroup.addIngressRule(kafkaSecurityGroup, Port.tcp(MSK_IAM_PORT), 'ESM pollers to brokers (IAM)');
    const mskCluster =
      props.mskMode === 'serverless'
        ? this.serverlessCluster(isolated.subnetIds, kafkaSecurityGroup.securityGroupId)
        : this.provisionedCluster(props, isolated.subnetIds, kafkaSecurityGroup.securityGroupId, dataKey.keyArn);
    const clusterArn = mskCluster.attrArn;
    const kafka = new MskIamAccess(
      clusterArn,
      new Connections({ securityGroups: [kafkaSecurityGroup], defaultPort: Port.tcp(MSK_IAM_PORT) }),
    );

    // --- Redis (Valkey) --------------------------------------------------------------------------------------
    // A primary and one replica in the two AZs: Multi-AZ with automatic failover (the primary endpoint follows
    // the promoted replica), TLS required in transit, encrypted at rest with the data key.
    const redisSecurityGroup = new SecurityGroup(this, 'RedisSecurityGroup', { vpc, description: 'ElastiCache Valkey' });
    const cacheSubnets = new CfnSubnetGroup(this, 'CacheSubnets', {
      description: 'Isolated subnets of the log-enrichment metadata cache',
      subnetIds: isolated.subnetIds,
    });
    const cacheAzs = isolated.availabilityZones.slice(0, 2);
    if (cacheAzs.length < 2) throw new Error('the cache needs isolated subnets in two availability zones');
    // A new logical id: CloudFormation cannot change the type of the serverless cache that 'Cache' used to be.
    const cache = new CfnReplicationGroup(this, 'CacheReplicationGroup', {
      replicationGroupDescription: 'Metadata cache of the log-enrichment pipeline',
      engine: 'valkey',
      engineVersion: VALKEY_VERSION,
      // Disabled: the standalone client's MGET, MULTI and Lua span hash slots (CROSSSLOT/MOVED once sharded).
      clusterMode: 'disabled',
      cacheNodeType: props.cacheNodeType,
      numCacheClusters: 2,
      preferredCacheClusterAZs: cacheAzs,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: REDIS_PORT,
      cacheSubnetGroupName: cacheSubnets.ref,
      securityGroupIds: [redisSecurityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      kmsKeyId: dataKey.keyId,
    });
    acknowledge(
      cache,
      'AwsSolutions-AEC6',
      'No AUTH token: the cache is reachable only over TLS from the security groups of the bound functions, and ' +
        'a token would sit in their environment (REDIS_URL); it holds metadata copies (rebuilt from PostgreSQL) ' +
        'and breaker states',
    );
    const redis = {
      url: `rediss://${cache.attrPrimaryEndPointAddress}:${cache.attrPrimaryEndPointPort}`,
      network: new Connections({ securityGroups: [redisSecurityGroup], defaultPort: Port.tcp(REDIS_PORT) }),
    };

    // --- PostgreSQL --------------------------------------------------------------------------------------------
    const databaseSecurityGroup = new SecurityGroup(this, 'DatabaseSecurityGroup', { vpc, description: 'Aurora PostgreSQL' });
    const cluster = new DatabaseCluster(this, 'Database', {
      engine: DatabaseClusterEngine.auroraPostgres({ version: AuroraPostgresEngineVersion.VER_17_5 }),
      writer: ClusterInstance.serverlessV2('Writer'),
      serverlessV2MinCapacity: 0.5,
      serverlessV2MaxCapacity: 4,
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [databaseSecurityGroup],
      credentials: Credentials.fromGeneratedSecret(DATABASE_USER),
      defaultDatabaseName: DATABASE_NAME,
      storageEncrypted: true,
      storageEncryptionKey: dataKey,
      iamAuthentication: true,
      deletionProtection: props.protectData,
      removalPolicy: props.protectData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      backup: { retention: Duration.days(7) },
      clusterIdentifier: DATABASE_CLUSTER_ID,
      cloudwatchLogsExports: ['postgresql'],
    });
    // The log group Aurora exports to, created here with a retention (cloudwatchLogsRetention would add a
    // custom-resource Lambda to set it afterwards).
    cluster.node.addDependency(
      new LogGroup(this, 'DatabaseLogs', {
        logGroupName: `/aws/rds/cluster/${DATABASE_CLUSTER_ID}/postgresql`,
        retention: RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    );
    const secret = cluster.secret;
    if (secret === undefined) throw new Error('the database cluster has no generated secret');
    cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      endpoint: endpointByName.secretsManager,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
    });
    const proxySecurityGroup = new SecurityGroup(this, 'ProxySecurityGroup', { vpc, description: 'RDS Proxy' });
    // Lambda opens and drops connections with every scale-out; the proxy pools them in front of Aurora.
    this.proxy = cluster.addProxy('Proxy', {
      secrets: [secret],
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [proxySecurityGroup],
      requireTLS: true,
      iamAuth: false,
    });
    cluster.connections.allowDefaultPortFrom(this.proxy, 'RDS Proxy to Aurora');
    const database = {
      environment: {
        DATABASE_HOST: this.proxy.endpoint,
        DATABASE_PORT: String(POSTGRES_PORT),
        DATABASE_NAME: DATABASE_NAME,
        DATABASE_USER: DATABASE_USER,
        DATABASE_SSL: 'require',
      },
      secret,
      network: new Connections({ securityGroups: [proxySecurityGroup], defaultPort: Port.tcp(POSTGRES_PORT) }),
    };

    this.resources = { vpc, apiEndpoints, kafka, redis, database, mskClusterArn: clusterArn };

    // --- Deploy-time steps ---------------------------------------------------------------------------------------
    // Both re-run when their code changes and fail the deploy when they fail; both are idempotent.
    const createTopics = new PipelineFunction(this, 'CreateTopics', {
      entry: ENTRIES.createTopics,
      serviceName: 'create-topics',
      description: 'Deploy step: creates the pipeline topics on MSK (existing topics are kept)',
      memorySize: 256,
      timeout: TIMEOUTS.deployStep,
      vpc,
      apiEndpoints,
    }).bindTopicsToCreate(kafka, props.topics);
    new Trigger(this, 'CreateTopicsTrigger', {
      handler: createTopics,
      timeout: TIMEOUTS.deployStep,
      executeOnHandlerChange: true,
      executeAfter: [...Object.values(endpointByName), mskCluster],
    });

    const migrate = new PipelineFunction(this, 'Migrate', {
      entry: ENTRIES.migrate,
      serviceName: 'migrate',
      description: 'Deploy step: applies the SQL migrations (idempotent; recorded in pgmigrations)',
      memorySize: 256,
      timeout: TIMEOUTS.deployStep,
      vpc,
      apiEndpoints,
      // migrate() resolves its default folder from its module URL, which is gone once bundled: the SQL
      // files are copied next to index.mjs and the handler passes that folder explicitly.
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (inputDir: string, outputDir: string) => [
          `cp -R "${inputDir}/${MIGRATIONS_SOURCE}" "${outputDir}/migrations"`,
        ],
      },
    }).bindDatabase(database);
    new Trigger(this, 'MigrateTrigger', {
      handler: migrate,
      timeout: TIMEOUTS.deployStep,
      executeOnHandlerChange: true,
      executeAfter: [cluster, this.proxy, endpointByName.secretsManager],
    });
  }

  private serverlessCluster(subnetIds: string[], securityGroupId: string): CfnServerlessCluster {
    // MSK Serverless is IAM-only, TLS-only and always encrypted at rest (AWS-owned key).
    const cluster = new CfnServerlessCluster(this, 'Kafka', {
      clusterName: 'log-enrichment',
      clientAuthentication: { sasl: { iam: { enabled: true } } },
      vpcConfigs: [{ subnetIds, securityGroups: [securityGroupId] }],
    });
    return cluster;
  }

  private provisionedCluster(
    props: StatefulStackProps,
    subnetIds: string[],
    securityGroupId: string,
    keyArn: string,
  ): CfnCluster {
    const brokerLogs = new LogGroup(this, 'KafkaBrokerLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const cluster = new CfnCluster(this, 'Kafka', {
      clusterName: 'log-enrichment',
      kafkaVersion: props.kafkaVersion,
      numberOfBrokerNodes: subnetIds.length,
      brokerNodeGroupInfo: {
        instanceType: props.brokerInstanceType,
        clientSubnets: subnetIds,
        securityGroups: [securityGroupId],
        storageInfo: { ebsStorageInfo: { volumeSize: 100 } },
        connectivityInfo: { publicAccess: { type: 'DISABLED' } },
      },
      clientAuthentication: { sasl: { iam: { enabled: true } }, unauthenticated: { enabled: false } },
      encryptionInfo: {
        encryptionAtRest: { dataVolumeKmsKeyId: keyArn },
        encryptionInTransit: { clientBroker: 'TLS', inCluster: true },
      },
      loggingInfo: { brokerLogs: { cloudWatchLogs: { enabled: true, logGroup: brokerLogs.logGroupName } } },
    });
    return cluster;
  }
}
