/**
 * The KafkaPublisher behind a slow network (a proxy adding 300 ms each way in front of a broker of the
 * test's own): a fresh producer's cold connect (ApiVersions, Metadata, InitProducerId, then the produce)
 * takes several round trips, more than the produce deadline, while a warm send takes one. A producer
 * replaced after a stuck send must be given the cold budget (KAFKA_TIMEOUT_MS) for its first send, or every
 * fresh producer is declared stuck in turn and the instance never publishes again.
 *
 * No wall-clock assertion: outcomes and replacement counts only. Measured figures are printed.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jest } from '@jest/globals';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher, PublishTimeoutError } from '#shared/kafka/publisher.ts';
import { logger } from '#shared/observability.ts';
import { LatencyProxy } from '../../support/latency-proxy.ts';
import { freePort } from '../../support/net.ts';
import { OwnBroker } from '../../support/own-broker.ts';

jest.setTimeout(180_000);

const TOPIC = 'raw-logs';
const print = (line: string) => console.log(`[publisher-latency] ${line}`);

let broker: OwnBroker;
let proxy: LatencyProxy;

beforeAll(async () => {
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  const port = await freePort();
  proxy = await LatencyProxy.start(port, { delayMs: 300 });
  broker = await OwnBroker.start({ port, advertisedPort: proxy.port, topics: [{ name: TOPIC, partitions: 3 }], log: print });
});

afterAll(async () => {
  jest.restoreAllMocks();
  await proxy?.close();
  await broker?.stop();
});

describe('KafkaPublisher behind a slow network', () => {
  it('gives a replacement producer the cold budget, so publishing resumes after a stuck send instead of replacing producers forever', async () => {
    // Prepare: the project's defaults (2 s produce deadline, 5 s client timeout); a first publish warms up
    const publisher = new KafkaPublisher(
      { ...readConfig(kafkaEnv), KAFKA_BROKERS: [broker.bootstrap], KAFKA_PRODUCE_TIMEOUT_MS: 2000, KAFKA_TIMEOUT_MS: 5000 },
      'publisher-latency',
    );
    const message = () => ({ topic: TOPIC, key: 'latency', value: JSON.stringify({ event_id: randomUUID() }) });
    let warm = false;
    for (let attempt = 0; attempt < 5 && !warm; attempt++) {
      warm = (await Promise.allSettled([publisher.publish([message()])]))[0]?.status === 'fulfilled';
    }
    expect(warm).toBe(true);

    // Act: a 3 s freeze makes the warm producer's send stuck, so it is replaced; then ten publishes, one after another
    broker.freeze();
    const during = await Promise.allSettled([publisher.publish([message()])]);
    await sleep(1000);
    broker.thaw();
    const replacedByFreeze = publisher.producersReplaced;
    const began = performance.now();
    const after: PromiseSettledResult<void>[] = [];
    for (let n = 0; n < 10; n++) after.push(...(await Promise.allSettled([publisher.publish([message()])])));
    const replacedAfter = publisher.producersReplaced;
    await publisher.close();

    // Assess
    const fulfilled = after.filter((result) => result.status === 'fulfilled').length;
    print(
      `after the freeze: ${fulfilled}/10 publishes acknowledged in ${((performance.now() - began) / 1000).toFixed(1)} s; ` +
        `producers replaced ${replacedByFreeze} → ${replacedAfter}`,
    );
    expect(during[0]?.status).toBe('rejected');
    if (during[0]?.status === 'rejected') expect(during[0].reason).toBeInstanceOf(PublishTimeoutError);
    expect(replacedByFreeze).toBe(1);
    // The fresh producer's first send may outlast its caller's 2 s deadline (a cold connect through the
    // proxy); it is not replaced for that, and every publish after it is acknowledged.
    expect(replacedAfter).toBe(replacedByFreeze);
    expect(fulfilled).toBeGreaterThanOrEqual(8);
    expect(after.at(-1)?.status).toBe('fulfilled');
  });
});
