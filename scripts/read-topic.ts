/**
 * `npm run topic -- <topic> [--last N] [--follow] [--grep TEXT]`: prints a topic's records, one JSON line
 * each (partition, offset, key, value parsed when it is JSON), like kafka-console-consumer.
 *
 * A value that is an OTLP protobuf request (`content-type: application/x-protobuf`, as enrich writes with
 * OUTPUT_ENCODING=otlp_proto) is printed as its OTLP/JSON form, so it can be read (and grepped) like the rest.
 *
 * By default it prints the last 10 records of each partition and exits; `--follow` keeps printing new
 * ones until Ctrl-C. It reads with a throwaway consumer group and commits nothing.
 *
 * @example
 * npm run topic -- enriched-logs-complete --last 1
 * npm run topic -- raw-logs-dlq --follow
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { Consumer, type Message, MessagesStreamModes } from '@platformatic/kafka';
import { otlpJson } from '../functions/enrich/src/otlp/encode-otlp.ts';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import { ExportLogsServiceRequestSchema } from '#shared/otlp/gen/opentelemetry/proto/collector/logs/v1/logs_service_pb.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    last: { type: 'string', default: '10' },
    follow: { type: 'boolean', default: false },
    grep: { type: 'string' },
  },
});
const topic = positionals[0];
const last = Number(values.last);
if (topic === undefined || !Number.isInteger(last) || last < 0) {
  console.error('usage: npm run topic -- <topic> [--last N] [--follow] [--grep TEXT]');
  process.exit(2);
}

const env = readConfig(kafkaEnv, { KAFKA_BROKERS: '127.0.0.1:9092', ...process.env });
const consumer = new Consumer({
  ...(await connectionOptions(env, `read-topic-${randomUUID()}`)),
  groupId: `read-topic-${randomUUID()}`,
  maxWaitTime: 200,
});
const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic);
if (ends === undefined) {
  console.error(`topic ${topic} does not exist`);
  process.exit(1);
}
const starts = ends.map((end) => (end > BigInt(last) ? end - BigInt(last) : 0n));
const remaining = new Map(ends.map((end, partition) => [partition, end - (starts[partition] ?? 0n)]));

const stream = await consumer.consume({
  topics: [topic],
  autocommit: false,
  mode: MessagesStreamModes.MANUAL,
  offsets: starts.map((offset, partition) => ({ topic, partition, offset })),
});

const stop = async () => {
  await stream.close();
  await consumer.close(true);
  process.exit(0);
};
process.once('SIGINT', stop);

const settled = () => [...remaining.values()].every((count) => count <= 0n);
if (!values.follow && settled()) await stop();

stream.on('data', (message: Message) => {
  const text = isProtobuf(message) ? otlpText(message.value) : (message.value?.toString('utf8') ?? null);
  if (values.grep === undefined || (text ?? '').includes(values.grep)) {
    console.log(
      JSON.stringify({
        partition: message.partition,
        offset: message.offset.toString(),
        key: message.key?.toString('utf8') ?? null,
        value: parse(text),
      }),
    );
  }
  remaining.set(message.partition, (remaining.get(message.partition) ?? 0n) - 1n);
  if (!values.follow && settled()) void stop();
});

function isProtobuf(message: Message): boolean {
  for (const [name, value] of message.headers ?? []) {
    if (name.toString('latin1').toLowerCase() === 'content-type') return value.toString('latin1').split(';')[0]?.trim() === 'application/x-protobuf';
  }
  return false;
}

/** The OTLP/JSON text of a protobuf request, or the bytes as base64 (said) when they are not one. */
function otlpText(value: Buffer | undefined): string | null {
  if (value === undefined || value === null) return null;
  try {
    return JSON.stringify(otlpJson(fromBinary(ExportLogsServiceRequestSchema, value)));
  } catch (error) {
    return JSON.stringify({ undecodable_otlp_proto_base64: value.toString('base64'), error: String(error) });
  }
}

function parse(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
