/**
 * Broker restarts (MSK patches and rolls its brokers): ingest and the KafkaPublisher against a broker of the
 * test's own (never the shared one), killed or frozen while requests keep coming.
 *
 * - killed (SIGKILL, then restarted on the same port and data): connections are refused or reset;
 * - frozen (SIGSTOP, then SIGCONT): connections stay open and nothing answers. Here only the produce deadline
 *   bounds a request;
 * - gone without a word (a proxy in front goes silent, the broker is killed and restarted behind it): the
 *   client's connections stay open and dead, as when an MSK broker's host is replaced. This is the case that
 *   kept ingest down after the broker was back: a request stuck on a dead connection held the idempotent
 *   producer's single in-flight slot until the client library's 30 s request timeout.
 *
 * No wall-clock assertion: the deadline is checked by ordering (a request sent early in an outage was answered
 * before the broker came back), recovery by a bounded wait. Measured figures are printed.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jest } from '@jest/globals';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher, PublishError, PublishTimeoutError } from '#shared/kafka/publisher.ts';
import { logger } from '#shared/observability.ts';
import { createIngestDependencies } from '../../../functions/ingest/dependencies.ts';
import { createIngestHandler } from '../../../functions/ingest/src/http-handler.ts';
import { snapshotEnds, TopicReader } from '../../../load/lib/topic-reader.ts';
import { eventually } from '../../support/eventually.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { freePort } from '../../support/net.ts';
import { OwnBroker } from '../../support/own-broker.ts';
import { SilentProxy } from '../../support/silent-proxy.ts';

// Each restart after a SIGKILL takes the broker ~12 s (its controller waits out the old registration).
jest.setTimeout(180_000);

const RAW_TOPIC = 'raw-logs';
/** Short enough that an outage of a few seconds shows it; the default (2 s) is what runs in production. */
const DEADLINE_MS = 1500;

const print = (line: string) => console.log(`[broker-restart] ${line}`);

let broker: OwnBroker;


beforeAll(async () => {
  // Every refused request logs an error by design; hundreds of them would bury the figures this file prints.
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  broker = await OwnBroker.start({ topics: [{ name: RAW_TOPIC, partitions: 3 }], log: print });
});

afterAll(async () => {
  jest.restoreAllMocks();
  await broker?.stop();
});

type Phase = 'up' | 'down' | 'restarting' | 'back';

interface Sent {
  marker: string;
  sentAt: number;
  sentIn: Phase;
  answeredAt: number;
  answeredIn: Phase;
  response: APIGatewayProxyResult;
}

/**
 * Posts one log every `intervalMs` through the wrapped ingest handler (middleware, error mapping and all)
 * without waiting for the previous answer, and records when each was sent and answered, in which phase.
 */
class Trickle {
  readonly sent: Sent[] = [];
  readonly #pending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  phase: Phase = 'up';

  readonly #handler: ReturnType<typeof createIngestHandler>['handler'];
  readonly #intervalMs: number;

  constructor(handler: ReturnType<typeof createIngestHandler>['handler'], intervalMs = 100) {
    this.#handler = handler;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#timer = setInterval(() => this.#post(), this.#intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([...this.#pending]);
  }

  /** Resolves once a request sent in `phase` was answered 202 (false after `timeoutMs`). */
  async acceptedIn(phase: Phase, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.sent.some((entry) => entry.sentIn === phase && entry.response.statusCode === 202)) return true;
      await sleep(50);
    }
    return false;
  }

  #post(): void {
    const marker = randomUUID();
    const sentAt = performance.now();
    const sentIn = this.phase;
    const body = JSON.stringify({ level: 'INFO', message: `restart ${marker}`, service: 'checkout', source_ip: '10.1.2.3', trace_id: marker });
    const request = this.#handler(restEvent('apigw-rest-post-logs', { body }), lambdaContext('ingest')).then((response) => {
      this.sent.push({ marker, sentAt, sentIn, answeredAt: performance.now(), answeredIn: this.phase, response });
    });
    const tracked = request.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }
}

function retryAfter(response: APIGatewayProxyResult): string | undefined {
  const headers = Object.fromEntries(Object.entries(response.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]));
  return headers['retry-after'];
}

function acceptedIds(sent: readonly Sent[]): Map<string, string> {
  const ids = new Map<string, string>();
  for (const entry of sent) {
    if (entry.response.statusCode !== 202) continue;
    const [id] = (JSON.parse(entry.response.body) as { eventIds: string[] }).eventIds;
    if (id !== undefined) ids.set(id, entry.marker);
  }
  return ids;
}

/** Every record on the raw topic since `from`, by event id (a duplicate shows as a second entry). */
async function readRaw(from: Awaited<ReturnType<typeof snapshotEnds>>, wanted: ReadonlySet<string>, bootstrap = broker.bootstrap) {
  const seen = new Map<string, { trace_id?: string; message?: string }[]>();
  const reader = await TopicReader.start({ clientId: 'restart-test', bootstrapBrokers: [bootstrap] }, from, (record) => {
    const value = JSON.parse(record.value.toString('utf8')) as { event_id: string; trace_id?: string; message?: string };
    seen.set(value.event_id, [...(seen.get(value.event_id) ?? []), value]);
  });
  try {
    const deadline = performance.now() + 30_000;
    while ([...wanted].some((id) => !seen.has(id)) && performance.now() < deadline) await sleep(100);
    // A moment more, so that a duplicate trailing its first copy would be seen.
    await sleep(500);
  } finally {
    await reader.close();
  }
  return seen;
}

const ms = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]?.toFixed(0);
  return `p50 ${at(0.5)} ms, max ${at(1)} ms (n=${sorted.length})`;
};

/** Ingest's own wiring (the dependencies factory), aimed at this file's broker (or another address). */
const ingestWiring = (bootstrap = broker.bootstrap) =>
  createIngestDependencies({ ...process.env, KAFKA_BROKERS: bootstrap, KAFKA_PRODUCE_TIMEOUT_MS: String(DEADLINE_MS) });

describe('ingest across a broker restart', () => {
  it('answers 503 with Retry-After while the broker is killed, accepts again once it is back, and every 202 is on raw-logs once', async () => {
    // Prepare
    const own = ingestWiring();
    const { handler } = createIngestHandler(own);
    const from = await snapshotEnds({ clientId: 'restart-test', bootstrapBrokers: [broker.bootstrap] }, [RAW_TOPIC]);
    const trickle = new Trickle(handler);
    trickle.start();
    expect(await trickle.acceptedIn('up', 20_000)).toBe(true);

    // Act
    await broker.kill();
    const killedAt = performance.now();
    trickle.phase = 'down';
    await sleep(DEADLINE_MS + 2500);
    trickle.phase = 'restarting';
    const restartAt = performance.now();
    await broker.restart();
    const backAt = performance.now();
    trickle.phase = 'back';
    const recovered = await trickle.acceptedIn('back', 30_000);
    const firstBack = trickle.sent
      .filter((entry) => entry.sentIn === 'back' && entry.response.statusCode === 202)
      .sort((a, b) => a.answeredAt - b.answeredAt)[0];
    await sleep(1000);
    await trickle.stop();
    await own.close();

    // Assess: while down, every request was refused with Retry-After before the broker came back
    const down = trickle.sent.filter((entry) => entry.sentIn === 'down');
    print(
      `killed: ${down.length} requests while down, 503 latency ${ms(down.map((entry) => entry.answeredAt - entry.sentAt))}; ` +
        `down ${((restartAt - killedAt) / 1000).toFixed(1)} s, restart ${((backAt - restartAt) / 1000).toFixed(1)} s; ` +
        `broker back → first 202 ${firstBack === undefined ? 'never' : `${((firstBack.answeredAt - backAt) / 1000).toFixed(2)} s`}`,
    );
    expect(down.length).toBeGreaterThan(10);
    expect(down.map((entry) => entry.response.statusCode)).toEqual(down.map(() => 503));
    expect(down.every((entry) => retryAfter(entry.response) !== undefined)).toBe(true);
    expect(down.every((entry) => entry.answeredIn === 'down' || entry.answeredIn === 'restarting')).toBe(true);
    // Never anything but accepted or "try later", whatever the phase.
    expect(trickle.sent.filter((entry) => ![202, 503].includes(entry.response.statusCode))).toEqual([]);
    expect(recovered).toBe(true);

    // Assess: each 202 is on the topic exactly once, with what was sent under that id
    const accepted = acceptedIds(trickle.sent);
    const seen = await readRaw(from, new Set(accepted.keys()));
    const copies = [...accepted].map(([id, marker]) => ({ id, marker, traces: (seen.get(id) ?? []).map((value) => value.trace_id) }));
    expect(copies.filter((entry) => entry.traces.length !== 1)).toEqual([]);
    expect(copies.filter((entry) => entry.traces[0] !== entry.marker)).toEqual([]);
  });

  it('answers 503 within the produce deadline while the broker is frozen (connections open, no answer), and accepts again after', async () => {
    // Prepare
    const own = ingestWiring();
    const { handler } = createIngestHandler(own);
    const from = await snapshotEnds({ clientId: 'restart-test', bootstrapBrokers: [broker.bootstrap] }, [RAW_TOPIC]);
    const trickle = new Trickle(handler);
    trickle.start();
    expect(await trickle.acceptedIn('up', 20_000)).toBe(true);

    // Act: frozen for the deadline and then some; requests sent in the first part must be answered before the thaw
    const holdMs = DEADLINE_MS * 2 + 2000;
    broker.freeze();
    const frozenAt = performance.now();
    trickle.phase = 'down';
    await sleep(holdMs);
    broker.thaw();
    const thawedAt = performance.now();
    trickle.phase = 'back';
    const recovered = await trickle.acceptedIn('back', 30_000);
    const firstBack = trickle.sent
      .filter((entry) => entry.sentIn === 'back' && entry.response.statusCode === 202)
      .sort((a, b) => a.answeredAt - b.answeredAt)[0];
    await sleep(1000);
    await trickle.stop();
    await own.close();

    // Assess
    const early = trickle.sent.filter((entry) => entry.sentIn === 'down' && entry.sentAt < frozenAt + holdMs - DEADLINE_MS - 1000);
    print(
      `frozen: ${early.length} requests sent early in the freeze, latency ${ms(early.map((entry) => entry.answeredAt - entry.sentAt))}; ` +
        `thaw → first 202 ${firstBack === undefined ? 'never' : `${((firstBack.answeredAt - thawedAt) / 1000).toFixed(2)} s`}`,
    );
    expect(early.length).toBeGreaterThan(10);
    // Without a deadline these would wait for the thaw: answered while still frozen is the deadline at work.
    expect(early.filter((entry) => entry.answeredIn !== 'down')).toEqual([]);
    expect(early.map((entry) => entry.response.statusCode)).toEqual(early.map(() => 503));
    expect(early.every((entry) => retryAfter(entry.response) !== undefined)).toBe(true);
    expect(recovered).toBe(true);
    const accepted = acceptedIds(trickle.sent);
    const seen = await readRaw(from, new Set(accepted.keys()));
    expect([...accepted.keys()].filter((id) => (seen.get(id) ?? []).length !== 1)).toEqual([]);
  });
});

describe('KafkaPublisher across a broker restart', () => {
  const env = () => ({ ...readConfig(kafkaEnv), KAFKA_BROKERS: [broker.bootstrap], KAFKA_PRODUCE_TIMEOUT_MS: DEADLINE_MS });
  const message = () => ({ topic: RAW_TOPIC, key: 'publisher-restart', value: JSON.stringify({ event_id: randomUUID() }) });

  it('rejects a publish while the broker is down, before it is back, and the same instance publishes after the restart', async () => {
    // Prepare
    const publisher = new KafkaPublisher(env(), 'publisher-restart');
    await publisher.publish([message()]);

    // Act
    await broker.kill();
    let settledWhileDown = false;
    const during = publisher.publish([message()]).finally(() => {
      settledWhileDown = broker.running === false;
    });
    const duringResult = await Promise.allSettled([during]);
    await broker.restart();
    const after = await Promise.allSettled([publisher.publish([message()])]);
    await publisher.close();

    // Assess
    expect(duringResult[0]?.status).toBe('rejected');
    if (duringResult[0]?.status === 'rejected') expect(duringResult[0].reason).toBeInstanceOf(PublishError);
    expect(settledWhileDown).toBe(true);
    expect(after[0]?.status).toBe('fulfilled');
  });

  it('rejects with PublishTimeoutError while the broker is frozen, and the same instance publishes after the thaw', async () => {
    // Prepare
    const publisher = new KafkaPublisher(env(), 'publisher-freeze');
    await publisher.publish([message()]);

    // Act: the publish is made at once, the thaw comes after twice the deadline
    broker.freeze();
    let frozen = true;
    let settledFrozen: boolean | undefined;
    const during = publisher.publish([message()]).finally(() => {
      settledFrozen = frozen;
    });
    const thaw = sleep(DEADLINE_MS * 2 + 1000).then(() => {
      frozen = false;
      broker.thaw();
    });
    const duringResult = await Promise.allSettled([during]);
    await thaw;
    const began = performance.now();
    const after = await Promise.allSettled([publisher.publish([message()])]);
    print(`publisher: first publish after the thaw settled in ${(performance.now() - began).toFixed(0)} ms; producers replaced ${publisher.producersReplaced}`);
    await publisher.close();

    // Assess
    expect(duringResult[0]?.status).toBe('rejected');
    if (duringResult[0]?.status === 'rejected') expect(duringResult[0].reason).toBeInstanceOf(PublishTimeoutError);
    expect(settledFrozen).toBe(true);
    expect(after[0]?.status).toBe('fulfilled');
  });

  it('replaces a producer whose send got no answer in time, and publishes through the new one', async () => {
    // Prepare: a short client timeout, so that the frozen send is declared stuck quickly
    const publisher = new KafkaPublisher({ ...env(), KAFKA_TIMEOUT_MS: 1000, KAFKA_PRODUCE_TIMEOUT_MS: 800 }, 'publisher-stuck');
    await publisher.publish([message()]);

    // Act
    broker.freeze();
    const during = await Promise.allSettled([publisher.publish([message()])]);
    const replacedInTime = await eventually(() => publisher.producersReplaced > 0, 10_000);
    broker.thaw();
    const after = await Promise.allSettled([publisher.publish([message()])]);
    await publisher.close();

    // Assess
    expect(during[0]?.status).toBe('rejected');
    expect(replacedInTime).toBe(true);
    expect(after[0]?.status).toBe('fulfilled');
  });
});


describe('ingest when the broker goes away without closing its connections', () => {
  let hidden: OwnBroker;
  let proxy: SilentProxy;

  beforeAll(async () => {
    const port = await freePort();
    proxy = await SilentProxy.start(port);
    hidden = await OwnBroker.start({ port, advertisedPort: proxy.port, topics: [{ name: RAW_TOPIC, partitions: 3 }], log: print });
  });

  afterAll(async () => {
    await proxy?.close();
    await hidden?.stop();
  });

  it('answers 503 within the deadline while it is gone and accepts again soon after it answers, on the same producer', async () => {
    // Prepare
    const own = ingestWiring(hidden.bootstrap);
    const { handler } = createIngestHandler(own);
    const from = await snapshotEnds({ clientId: 'restart-test', bootstrapBrokers: [hidden.bootstrap] }, [RAW_TOPIC]);
    const trickle = new Trickle(handler);
    trickle.start();
    expect(await trickle.acceptedIn('up', 20_000)).toBe(true);

    // Act: the proxy goes silent first, so the client's open connections never hear of the kill
    proxy.silence();
    await hidden.kill();
    trickle.phase = 'down';
    await hidden.restart();
    proxy.speak();
    const backAt = performance.now();
    trickle.phase = 'back';
    const recovered = await trickle.acceptedIn('back', 30_000);
    const firstBack = trickle.sent
      .filter((entry) => entry.sentIn === 'back' && entry.response.statusCode === 202)
      .sort((a, b) => a.answeredAt - b.answeredAt)[0];
    await sleep(1000);
    await trickle.stop();
    await own.close();

    // Assess: everything sent while it was gone was refused, with Retry-After, before it answered again
    const down = trickle.sent.filter((entry) => entry.sentIn === 'down');
    const early = down.filter((entry) => entry.sentAt < backAt - DEADLINE_MS - 1000);
    print(
      `gone silently: ${down.length} requests while gone, latency ${ms(down.map((entry) => entry.answeredAt - entry.sentAt))}; ` +
        `broker back → first 202 ${firstBack === undefined ? 'never' : `${((firstBack.answeredAt - backAt) / 1000).toFixed(2)} s`}`,
    );
    expect(early.length).toBeGreaterThan(10);
    expect(early.filter((entry) => entry.answeredIn !== 'down')).toEqual([]);
    expect(early.filter((entry) => entry.response.statusCode !== 503)).toEqual([]);
    // Late in the outage a request may wait for the broker's return and be accepted: never anything else.
    expect(down.filter((entry) => ![202, 503].includes(entry.response.statusCode))).toEqual([]);
    expect(down.filter((entry) => entry.response.statusCode === 503).every((entry) => retryAfter(entry.response) !== undefined)).toBe(true);
    expect(recovered).toBe(true);
    const accepted = acceptedIds(trickle.sent);
    const seen = await readRaw(from, new Set(accepted.keys()), hidden.bootstrap);
    expect([...accepted.keys()].filter((id) => (seen.get(id) ?? []).length !== 1)).toEqual([]);
  });
});
