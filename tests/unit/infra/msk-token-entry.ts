/**
 * Test-only entry (tests/unit/infra/msk-signer.test.ts bundles it as a function is bundled): what every Kafka
 * function does to authenticate, `connectionOptions` from its environment, then the SASL token function the
 * Kafka client would call, whose token it prints. Run in a fresh `node` with fake credentials; no network.
 */
import { kafkaEnv, readConfig } from '../../../layers/shared/src/config.ts';
import { connectionOptions } from '../../../layers/shared/src/kafka/connection.ts';

const options = await connectionOptions(readConfig(kafkaEnv), 'msk-token-entry');
const token = options.sasl?.token;
if (typeof token !== 'function') throw new Error(`no SASL token function (KAFKA_AUTH=${process.env.KAFKA_AUTH})`);
process.stdout.write(`${await token()}\n`);
