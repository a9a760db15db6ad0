/**
 * Setup stack (AWS target): everything that prepares the data stores and can fail on a first deploy, kept
 * out of the stack that holds the deletion-protected database. The master secret's rotation, RDS Proxy
 * (standard profile), and the deploy-time triggers that create the topics and apply the migrations. Every
 * resource here can be deleted, so a failed first deploy rolls back to nothing and a retry starts clean,
 * while the data stores stay as they are.
 *
 * Deployed after the stateful stack and before the stateless one: the functions need the topics and the
 * schema these triggers create.
 */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Connections, type IConnectable, Port, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { DatabaseCluster, DatabaseProxy, type IDatabaseCluster, ProxyTarget } from 'aws-cdk-lib/aws-rds';
import { type ISecret, Secret, SecretRotation, SecretRotationApplication } from 'aws-cdk-lib/aws-secretsmanager';
import { Trigger } from 'aws-cdk-lib/triggers';
import type { Construct, IConstruct } from 'constructs';
import { AppDatabaseRoles } from './database-roles.ts';
import type { DatabaseEndpoint, PerFunctionAccess, TopicSpec } from './endpoints.ts';
import { ENTRIES, MIGRATIONS_SOURCE } from './paths.ts';
import { PipelineFunction, TIMEOUTS } from './pipeline-function.ts';
import type { CostProfile } from './settings.ts';
import { DATABASE_NAME, DATABASE_USER, POSTGRES_PORT, type StatefulStack } from './stateful-stack.ts';

/** The password characters a generated database secret leaves out (CDK's DatabaseSecret default); rotation uses the same. */
const PASSWORD_EXCLUDE_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";

/**
 * Lambda's Node.js runtimes from 20 on do not trust the Amazon RDS certificate authorities by default; this file
 * of the runtime holds them. Needed where a function verifies Aurora's own certificate (no proxy in between:
 * RDS Proxy presents a certificate of a public authority).
 */
const RDS_CA_BUNDLE = '/var/runtime/ca-cert.pem';

export interface SetupStackProps extends StackProps {
  readonly costProfile: CostProfile;
  readonly stateful: Pick<
    StatefulStack,
    'resources' | 'kafka' | 'isolated' | 'cluster' | 'masterSecret' | 'secretsManagerEndpoint'
  >;
  /** Topics (names, partitions) the topic trigger creates. */
  readonly topics: readonly TopicSpec[];
}

export class SetupStack extends Stack {
  /**
   * The stateful stack's cluster as a construct of this stack: what rotations and secret attachments made
   * here must target, so that their security-group rules are resources of this stack.
   */
  readonly cluster: IDatabaseCluster;
  /** What the functions connect to: RDS Proxy (standard) or the cluster's writer (minimal). */
  readonly database: DatabaseEndpoint;
  /** The same database as each function's own role. */
  readonly databaseRoles: PerFunctionAccess['databaseRoles'];
  /** Present in the standard profile. */
  readonly proxy: DatabaseProxy | undefined;
  readonly createTopicsTrigger: Trigger;
  readonly migrateTrigger: Trigger;

  constructor(scope: Construct, id: string, props: SetupStackProps) {
    super(scope, id, props);
    const { vpc, apiEndpoints } = props.stateful.resources;
    const { cluster, isolated } = props.stateful;
    const vpcSubnets = { subnets: isolated.subnets };
    // The cluster as seen from this stack: the rules the rotation and the proxy open on its security group are
    // resources of this stack. (Through the cluster's own object they would belong to the stateful stack and
    // name groups of this one: a reference cycle between the stacks.)
    if (cluster.engine === undefined) throw new Error('the database cluster has no engine');
    const clusterRef = DatabaseCluster.fromDatabaseClusterAttributes(this, 'Database', {
      clusterIdentifier: cluster.clusterIdentifier,
      engine: cluster.engine,
      port: POSTGRES_PORT,
      securityGroups: cluster.connections.securityGroups.map((group, index) =>
        SecurityGroup.fromSecurityGroupId(this, `DatabaseSecurityGroup${index}`, group.securityGroupId, { mutable: true }),
      ),
    });
    this.cluster = clusterRef;

    // The master user's rotation lives here, not with the cluster: its rotation function is a nested
    // application that can fail to deploy. The secret is referenced by ARN, so the schedule is a resource of
    // this stack (a rotation built on the cluster's own secret object would put it in the stateful stack).
    const masterSecret = Secret.fromSecretCompleteArn(this, 'MasterSecret', props.stateful.masterSecret.secretArn);
    const masterRotation = new SecretRotation(this, 'MasterRotation', {
      application: SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
      secret: masterSecret,
      target: clusterRef,
      vpc,
      vpcSubnets,
      endpoint: props.stateful.secretsManagerEndpoint,
      automaticallyAfter: Duration.days(30),
      excludeCharacters: PASSWORD_EXCLUDE_CHARACTERS,
    });

    // Every secret a function logs in with must be on the proxy (RDS Proxy authenticates clients against
    // them): the master user's, which the migration uses. Application roles with their own secrets join this
    // list, their rotation ordered after the migration that creates the roles.
    const appRoles = new AppDatabaseRoles(this, 'AppDatabaseRoles', {
      cluster: clusterRef,
      vpc,
      vpcSubnets,
      secretsManagerEndpoint: props.stateful.secretsManagerEndpoint,
    });
    const loginSecrets: ISecret[] = [props.stateful.masterSecret, ...appRoles.secrets];

    // The schedule itself is a child of the secret reference: the migration waits for both.
    const afterDatabase: IConstruct[] = [masterRotation, masterSecret];
    if (props.costProfile === 'standard') {
      const proxySecurityGroup = new SecurityGroup(this, 'ProxySecurityGroup', { vpc, description: 'RDS Proxy' });
      // Lambda opens and drops connections with every scale-out; the proxy pools them in front of Aurora.
      // Its name is generated (feature flag @aws-cdk/aws-rds:databaseProxyUniqueResourceName), unique per stage.
      this.proxy = new DatabaseProxy(this, 'Proxy', {
        // Opens the cluster's port to the proxy's security group.
        proxyTarget: ProxyTarget.fromCluster(clusterRef),
        secrets: loginSecrets,
        vpc,
        vpcSubnets,
        securityGroups: [proxySecurityGroup],
        requireTLS: true,
        iamAuth: false,
      });
      afterDatabase.push(this.proxy);
      const network = new Connections({ securityGroups: [proxySecurityGroup], defaultPort: Port.tcp(POSTGRES_PORT) });
      this.database = databaseEndpoint(this.proxy.endpoint, props.stateful.masterSecret, network);
    } else {
      // minimal: straight to the writer (a proxy holds connections to it, which would keep it from pausing).
      this.proxy = undefined;
      const network = new Connections({
        securityGroups: cluster.connections.securityGroups,
        defaultPort: Port.tcp(POSTGRES_PORT),
      });
      this.database = databaseEndpoint(cluster.clusterEndpoint.hostname, props.stateful.masterSecret, network, {
        NODE_EXTRA_CA_CERTS: RDS_CA_BUNDLE,
      });
    }

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
    }).bindTopicsToCreate(props.stateful.kafka, props.topics);
    this.createTopicsTrigger = new Trigger(this, 'CreateTopicsTrigger', {
      handler: createTopics,
      timeout: TIMEOUTS.deployStep,
      executeOnHandlerChange: true,
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
    })
      .bindDatabase(this.database)
      .bindDatabaseRoles(appRoles.roles);
    // After the rotation schedule (it rotates the master password once at creation) and the proxy.
    this.migrateTrigger = new Trigger(this, 'MigrateTrigger', {
      handler: migrate,
      timeout: TIMEOUTS.deployStep,
      executeOnHandlerChange: true,
      executeAfter: afterDatabase,
    });
    appRoles.rotateOnceCreatedBy(this.migrateTrigger);
    this.databaseRoles = appRoles.endpoints(this.database);
  }
}

/** DATABASE_* settings of `#shared/config.ts` postgresEnv for `host`; the password stays in `secret`. */
function databaseEndpoint(
  host: string,
  secret: ISecret,
  network: IConnectable,
  extra: Record<string, string> = {},
): DatabaseEndpoint {
  return {
    environment: {
      DATABASE_HOST: host,
      DATABASE_PORT: String(POSTGRES_PORT),
      DATABASE_NAME,
      DATABASE_USER,
      DATABASE_SSL: 'require',
      ...extra,
    },
    secret,
    network,
  };
}
