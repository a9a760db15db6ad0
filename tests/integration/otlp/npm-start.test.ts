/**
 * The "done when", as a user runs it: `OUTPUT_ENCODING=otlp_proto npm start` (the script npm start
 * runs, `node scripts/start.ts`, in its own process, against the test services), then a log emitted with the
 * OpenTelemetry JS logs SDK and serialized by its OTLP transformer is produced onto `raw-logs` as a Collector's
 * Kafka exporter writes it (protobuf, no header), and comes out on `enriched-logs-complete` as an OTLP log
 * record whose resource carries `host.name` and `deployment.environment.name` from the demo metadata.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { latestOffsets } from '../../support/kafka.ts';
import { otlpRequest, produceOtlp, SeverityNumber } from '../../support/otlp-sdk.ts';
import { TEST_ENV } from '../env.ts';
import { otlpView, readRawUntil } from './support.ts';

// Services, migrations, seeding and the runner joining its group take a few seconds each.
jest.setTimeout(120_000);

/** Starts `node scripts/start.ts` with `env` and resolves once it printed its "ready" banner. */
async function npmStart(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['scripts/start.ts'], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('local pipeline ready:')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}) before it was ready:\n${output}`)));
  });
  await ready;
  return { child, output: () => output };
}

describe('OUTPUT_ENCODING=otlp_proto npm start', () => {
  let started: Awaited<ReturnType<typeof npmStart>> | undefined;

  afterAll(async () => {
    const child = started?.child;
    if (child !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    }
  });

  it('turns an OpenTelemetry SDK log on raw-logs into an OTLP log on enriched-logs-complete with host.name and deployment.environment.name', async () => {
    // Prepare: the pipeline as a user starts it, on the test services (their database gets the demo metadata)
    started = await npmStart({
      ...process.env,
      ...TEST_ENV,
      OUTPUT_ENCODING: 'otlp_proto',
      INGEST_PORT: '0',
      METADATA_PORT: '0',
      ENRICH_PORT: '0',
    });
    const marker = `otlp done-when ${randomUUID()}`;
    const before = await latestOffsets('enriched-logs-complete');
    const value = await otlpRequest(
      [
        {
          attributes: { 'service.name': 'payment-service', 'host.name': 'payment-api-01' },
          scopes: [{ name: 'payments.api', version: '2.4.1', logs: [{ body: marker, severityNumber: SeverityNumber.ERROR, severityText: 'ERROR' }] }],
        },
      ],
      'otlp_proto',
    );

    // Act
    await produceOtlp('raw-logs', [{ value }]);
    const [output] = await readRawUntil({
      topic: 'enriched-logs-complete',
      fromOffsets: before,
      // Other runs may write our JSON here: only protobuf outputs are decoded.
      accepts: (candidate) => candidate.headers['content-type'] === 'application/x-protobuf' && otlpView(candidate.value, 'otlp_proto').record.body === marker,
      timeoutMs: 60_000,
    });

    // Assess: the demo metadata's payment-api-01 (production) and payment-service (team payments, 2.4.1)
    expect(output).toBeDefined();
    const view = otlpView(output?.value ?? Buffer.alloc(0), 'otlp_proto');
    expect(view.resource).toMatchObject({
      'service.name': 'payment-service',
      'service.version': '2.4.1',
      'host.name': 'payment-api-01',
      'deployment.environment.name': 'production',
      'enrichment.service.team': 'payments',
      'enrichment.host.datacenter': 'us-east-1',
      'enrichment.status': 'complete',
    });
    expect(view.record).toMatchObject({
      body: marker,
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      attributes: expect.objectContaining({ 'enrichment.source.topic': 'raw-logs', 'enrichment.source.index': 0n }),
    });
    expect(view.scope).toMatchObject({ name: 'payments.api', version: '2.4.1' });

    // Ctrl-C stops it cleanly
    const child = started.child;
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect({ code, output: started.output().includes('stopped') }).toEqual({ code: 0, output: true });
  });
});
