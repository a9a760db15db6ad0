/**
 * How every Kafka client of the project connects: a static broker list locally, or, on AWS, the MSK IAM
 * listener found from the cluster ARN when the first client connects (cached per instance), with SASL
 * OAUTHBEARER tokens signed by aws-msk-iam-sasl-signer-js over TLS.
 */
import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import type { BaseOptions } from '@platformatic/kafka';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import type { KafkaEnv } from '../config.ts';

let discovered: Promise<string[]> | undefined;

/** Broker list from KAFKA_BROKERS, or from MSK's GetBootstrapBrokers (IAM listener), once per instance. */
export function resolveBrokers(env: KafkaEnv): Promise<string[]> {
  if (env.KAFKA_BROKERS !== undefined && env.KAFKA_BROKERS.length > 0) return Promise.resolve(env.KAFKA_BROKERS);
  discovered ??= discoverMskBrokers(env).catch((error: unknown) => {
    discovered = undefined; // let the next call try again rather than caching a failure
    throw error;
  });
  return discovered;
}

async function discoverMskBrokers(env: KafkaEnv): Promise<string[]> {
  const client = new KafkaClient(env.AWS_REGION === undefined ? {} : { region: env.AWS_REGION });
  const answer = await client.send(new GetBootstrapBrokersCommand({ ClusterArn: env.MSK_CLUSTER_ARN }));
  const list = answer.BootstrapBrokerStringSaslIam ?? '';
  const brokers = list.split(',').filter((broker) => broker.length > 0);
  if (brokers.length === 0) throw new Error(`MSK cluster ${env.MSK_CLUSTER_ARN} has no IAM bootstrap brokers`);
  return brokers;
}

/** Connection options shared by producers, consumers and admin clients. */
export async function connectionOptions(env: KafkaEnv, clientId: string): Promise<BaseOptions> {
  const options: BaseOptions = {
    clientId,
    bootstrapBrokers: await resolveBrokers(env),
    timeout: env.KAFKA_TIMEOUT_MS,
    connectTimeout: env.KAFKA_TIMEOUT_MS,
    // Finite retries: the library turns retries ≤ 1 (or none) of an idempotent producer into "forever", so a
    // dead broker would hang it instead of failing (docs/toolchain.md).
    retries: env.KAFKA_PRODUCE_RETRIES,
    retryDelay: env.KAFKA_RETRY_DELAY_MS,
  };
  if (env.KAFKA_AUTH === 'aws-msk-iam') {
    const region = env.AWS_REGION;
    if (region === undefined) throw new Error('AWS_REGION is required for KAFKA_AUTH=aws-msk-iam');
    options.tls = {};
    options.sasl = {
      mechanism: 'OAUTHBEARER',
      token: async () => (await generateAuthToken({ region })).token,
    };
  }
  return options;
}
