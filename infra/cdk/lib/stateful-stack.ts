/**
 * Stateful stack (AWS target): the data and the network, nothing else. The VPC, MSK with IAM auth,
 * ElastiCache (Valkey, TLS, cluster mode disabled) and Aurora PostgreSQL Serverless v2 with its generated
 * master secret. Nothing here has a public address: the VPC has isolated subnets only (no internet gateway,
 * no NAT); AWS APIs are reached through interface endpoints. Encryption at rest uses one customer-managed key.
 *
 * What can fail after the deletion-protected database exists (the proxy, the rotation, the deploy-time
 * triggers) lives in the setup stack, whose resources can all be deleted: a failed first deploy of it rolls
 * back cleanly. Here the database is created after every other resource of the stack, so a failure of those
 * rolls back before the database exists.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  Connections,
  FlowLogDestination,
  FlowLogTrafficType,
  type InterfaceVpcEndpoint,
  InterfaceVpcEndpointAwsService,
  IpAddresses,
  Peer,
  Port,
  SecurityGroup,
  type SelectedSubnets,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { CfnReplicationGroup, CfnSubnetGroup } from 'aws-cdk-lib/aws-elasticache';
import { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnCluster, CfnServerlessCluster } from 'aws-cdk-lib/aws-msk';
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
} from 'aws-cdk-lib/aws-rds';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { placeSubnets, warnUnpinnedZones } from './availability-zones.ts';
import { CacheIamUsers } from './cache-users.ts';
import type { PipelineResources, RedisEndpoint } from './endpoints.ts';
import { MSK_IAM_PORT, MskIamAccess } from './kafka-access.ts';
import { acknowledge } from './nag-suppressions.ts';
import { type CostProfile, stageName } from './settings.ts';

export type MskMode = 'serverless' | 'provisioned';

export interface StatefulStackProps extends StackProps {
  /** Part of the cluster names, so stages deploy side by side. */
  readonly stage: string;
  readonly costProfile: CostProfile;
  /** Checked zone IDs of the two isolated subnets (`availability-zones.ts` checkZoneIds), or none. */
  readonly availabilityZoneIds?: readonly string[];
  /** Whether the deploy region is pinned (synth checked the zones), or unknown (a warning instead). */
  readonly regionPinned: boolean;
  /** MSK Serverless (pay per use, IAM only) or a provisioned cluster (fixed brokers, cheaper at steady load). */
  readonly mskMode: MskMode;
  /** Kafka version of a provisioned cluster (MSK Serverless picks its own). */
  readonly kafkaVersion: string;
  readonly brokerInstanceType: string;
  /** Node type of the Valkey primary and its replica (`cache.t4g.small` by default). */
  readonly cacheNodeType: string;
  /** Deletion protection and snapshot-on-delete for the database; off only for throwaway environments. */
  readonly protectData: boolean;
}

export const DATABASE_NAME = 'log_enrichment';
export const DATABASE_USER = 'log_enrichment';
export const POSTGRES_PORT = 5432;
const REDIS_PORT = 6379;
const VALKEY_VERSION = '8.0';
const VPC_CIDR = '10.40.0.0/16';

export class StatefulStack extends Stack {
  readonly resources: Required<Omit<PipelineResources, 'database' | 'redis' | 'databaseRoles'>> & { readonly redis: RedisEndpoint };
  readonly kafka: MskIamAccess;
  /** The isolated subnets: the functions, the proxy and the rotation run here too. */
  readonly isolated: SelectedSubnets;
  readonly cluster: DatabaseCluster;
  /** The master user's secret (`{"username","password",…}`), attached to the cluster. */
  readonly masterSecret: ISecret;
  readonly secretsManagerEndpoint: InterfaceVpcEndpoint;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const minimal = props.costProfile === 'minimal';
    if (!props.regionPinned && props.availabilityZoneIds === undefined) warnUnpinnedZones(this);

    const dataKey = new Key(this, 'DataKey', {
      description: 'Encryption at rest of the log-enrichment data stores',
      enableKeyRotation: true,
      removalPolicy: props.protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // Two AZs: MSK and Aurora need subnets in at least two, and two is the cheapest highly available layout.
    const vpc = new Vpc(this, 'Vpc', {
      // A literal CIDR (not a token) so security-group rules that name it can be checked at synth.
      ipAddresses: IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      flowLogs: {
        rejected: {
          // Rejected traffic only: what a security-group or routing mistake shows up as (ALL would bill every flow).
          trafficType: FlowLogTrafficType.REJECT,
          destination: FlowLogDestination.toCloudWatchLogs(
            new LogGroup(this, 'VpcFlowLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
          ),
        },
      },
    });
    const isolated = vpc.selectSubnets({ subnetType: SubnetType.PRIVATE_ISOLATED });
    this.isolated = isolated;
    const zones = placeSubnets(isolated.subnets, props.availabilityZoneIds);

    // No NAT: every AWS API the VPC's code calls goes through an endpoint. The MSK event source mapping's
    // pollers run in the cluster's subnets and call Lambda and STS (its on-failure destination is a topic of
    // the cluster itself, so no SQS or SNS endpoint); the functions call MSK (GetBootstrapBrokers) and
    // Secrets Manager (database password). `minimal` puts each endpoint in one zone: the other zone reaches it
    // across zones through the same private DNS name.
    const endpoints = {
      lambda: InterfaceVpcEndpointAwsService.LAMBDA,
      sts: InterfaceVpcEndpointAwsService.STS,
      kafka: InterfaceVpcEndpointAwsService.KAFKA,
      secretsManager: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    const endpointSubnets = minimal ? vpc.selectSubnets({ subnets: isolated.subnets.slice(0, 1) }) : isolated;
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
          subnets: endpointSubnets,
          privateDnsEnabled: true,
          open: false,
          securityGroups: [endpointSecurityGroup],
        }),
      ]),
    ) as Record<keyof typeof endpoints, InterfaceVpcEndpoint>;
    this.secretsManagerEndpoint = endpointByName.secretsManager;
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
        ? this.serverlessCluster(props.stage, isolated.subnetIds, kafkaSecurityGroup.securityGroupId)
        : this.provisionedCluster(props, isolated.subnetIds, kafkaSecurityGroup.securityGroupId, dataKey.keyArn);
    const clusterArn = mskCluster.attrArn;
    this.kafka = new MskIamAccess(
      clusterArn,
      new Connections({ securityGroups: [kafkaSecurityGroup], defaultPort: Port.tcp(MSK_IAM_PORT) }),
    );

    // --- Redis (Valkey) --------------------------------------------------------------------------------------
    // standard: a primary and one replica in the two AZs, Multi-AZ with automatic failover (the primary
    // endpoint follows the promoted replica). minimal: the primary alone. TLS required in transit, encrypted
    // at rest with the data key.
    const redisSecurityGroup = new SecurityGroup(this, 'RedisSecurityGroup', { vpc, description: 'ElastiCache Valkey' });
    const cacheSubnets = new CfnSubnetGroup(this, 'CacheSubnets', {
      description: 'Isolated subnets of the log-enrichment metadata cache',
      subnetIds: isolated.subnetIds,
    });
    const cacheNodes = minimal ? 1 : 2;
    // Who may connect: one IAM-authenticated user per function (ElastiCache RBAC), nobody else.
    const cacheUsers = new CacheIamUsers(this, 'CacheUsers', { namePrefix: `${props.stage}-le` });
    // A new logical id: CloudFormation cannot change the type of the serverless cache that 'Cache' used to be.
    const cache = new CfnReplicationGroup(this, 'CacheReplicationGroup', {
      // Named, lowercase and per stage: the IAM auth token is signed for this id (REDIS_CACHE_NAME), and a
      // generated one is not documented to come back lowercase.
      replicationGroupId: `${props.stage}-le-cache`,
      replicationGroupDescription: 'Metadata cache of the log-enrichment pipeline',
      engine: 'valkey',
      engineVersion: VALKEY_VERSION,
      // Disabled: the standalone client's MGET, MULTI and Lua span hash slots (CROSSSLOT/MOVED once sharded).
      clusterMode: 'disabled',
      cacheNodeType: props.cacheNodeType,
      numCacheClusters: cacheNodes,
      // The zones the subnets are in (by zone ID when availabilityZoneIds is set), one per node.
      preferredCacheClusterAZs: zones.slice(0, cacheNodes),
      automaticFailoverEnabled: !minimal,
      multiAzEnabled: !minimal,
      port: REDIS_PORT,
      cacheSubnetGroupName: cacheSubnets.ref,
      securityGroupIds: [redisSecurityGroup.securityGroupId],
      userGroupIds: [cacheUsers.userGroupId],
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      kmsKeyId: dataKey.keyId,
    });
    acknowledge(
      cache,
      'AwsSolutions-AEC6',
      'Authenticated by RBAC instead (the CacheUsers user group: an IAM user per function, the default user off); ' +
        'this rule only looks for an AUTH token, which RBAC replaces',
    );
    if (minimal) {
      acknowledge(
        cache,
        'AwsSolutions-AEC4',
        'costProfile=minimal (development): one node, no replica; the cache holds copies rebuilt from PostgreSQL',
      );
    }
    const redis: RedisEndpoint = {
      url: `rediss://${cache.attrPrimaryEndPointAddress}:${cache.attrPrimaryEndPointPort}`,
      network: new Connections({ securityGroups: [redisSecurityGroup], defaultPort: Port.tcp(REDIS_PORT) }),
    };

    // --- PostgreSQL --------------------------------------------------------------------------------------------
    const clusterIdentifier = stageName(props.stage);
    const databaseSecurityGroup = new SecurityGroup(this, 'DatabaseSecurityGroup', { vpc, description: 'Aurora PostgreSQL' });
    // The log group Aurora exports to, created first with a retention (cloudwatchLogsRetention would add a
    // custom-resource Lambda to set it afterwards). Its name is why the cluster identifier is explicit.
    const databaseLogs = new LogGroup(this, 'DatabaseLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const otherResources = this.node.children.slice();
    this.cluster = new DatabaseCluster(this, 'Database', {
      engine: DatabaseClusterEngine.auroraPostgres({ version: AuroraPostgresEngineVersion.VER_17_5 }),
      writer: ClusterInstance.serverlessV2('Writer'),
      // minimal: 0 ACU when idle. Aurora pauses the writer after 5 minutes without connections and resumes it
      // on the next one (seconds); that is also why minimal has no RDS Proxy, whose pool would stay connected.
      serverlessV2MinCapacity: minimal ? 0 : 0.5,
      ...(minimal ? { serverlessV2AutoPauseDuration: Duration.minutes(5) } : {}),
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
      clusterIdentifier,
      cloudwatchLogsExports: ['postgresql'],
    });
    // Last in the stack: a failure of any other resource here rolls back before the protected cluster exists.
    this.cluster.node.addDependency(databaseLogs, ...otherResources);
    const secret = this.cluster.secret;
    if (secret === undefined) throw new Error('the database cluster has no generated secret');
    this.masterSecret = secret;
    // As a rotation on the cluster's own secret object would: no principal of the account may delete it.
    secret.denyAccountRootDelete();
    const secretResource = this.cluster.node.tryFindChild('Secret');
    if (secretResource !== undefined) {
      acknowledge(
        secretResource,
        'AwsSolutions-SMG4',
        'Rotated every 30 days by the rotation schedule of the setup stack (kept out of this stack: it can fail to deploy)',
      );
    }

    this.resources = {
      vpc,
      apiEndpoints,
      kafka: this.kafka,
      redis,
      cache: cacheUsers.endpoints(cache, redis),
      mskClusterArn: clusterArn,
    };
  }

  private serverlessCluster(stage: string, subnetIds: string[], securityGroupId: string): CfnServerlessCluster {
    // MSK Serverless is IAM-only, TLS-only and always encrypted at rest (AWS-owned key).
    return new CfnServerlessCluster(this, 'Kafka', {
      clusterName: stageName(stage),
      clientAuthentication: { sasl: { iam: { enabled: true } } },
      vpcConfigs: [{ subnetIds, securityGroups: [securityGroupId] }],
    });
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
    return new CfnCluster(this, 'Kafka', {
      clusterName: stageName(props.stage),
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
  }
}
