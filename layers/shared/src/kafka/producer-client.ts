/**
 * The part of @platformatic/kafka a producer needs, without the rest: its package exports only its index,
 * which evaluates every client (consumer, admin), the schema registries (avsc, protobuf) and every option
 * validator, ~160 KiB more in each bundle and most of the import time. The files are reached by a path into
 * node_modules because the package's `exports` map names nothing else; the path stays inside the one package
 * the lock file pins, and a release that moves them fails every test that publishes (and typecheck).
 * `./lazy-validators.ts` is imported first, so the validators these modules build are compiled on first use.
 */
import './lazy-validators.ts';

export { ProduceAcks } from '../../../../node_modules/@platformatic/kafka/dist/apis/enumerations.js';
export { Producer } from '../../../../node_modules/@platformatic/kafka/dist/clients/producer/producer.js';
