/**
 * One tracer per process: X-Ray segments through Powertools. Kept out of `observability.ts`, which every
 * module with a logger imports, so that only the handlers that trace (ingest, metadata, enrich) bundle the
 * X-Ray SDK and patch HTTPS: the deploy-time functions (migrate, create-topics) and the scripts do not.
 */
// First: decides the X-Ray SDK's mode before the Tracer's import loads it (see xray-mode.ts).
import './xray-mode.ts';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { isSpanId } from './traceparent.ts';

/**
 * X-Ray segments through Powertools (the handlers use its `captureLambdaHandler` middleware, with responses
 * never recorded: they would copy logs and metadata into X-Ray). Tracing is off, with nothing patched and
 * nothing sent, outside Lambda (Powertools checks AWS_EXECUTION_ENV: tests, `npm start`) and wherever
 * POWERTOOLS_TRACE_ENABLED=false.
 */
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'log-enrichment' });

/** Where Lambda keeps the trace header of the invocation when invocations share an instance. */
interface LambdaGlobal {
  awslambda?: { InvokeStore?: { getXRayTraceId(): string | undefined } };
}

/**
 * The X-Ray trace header of the current invocation (`Root=…;Parent=…;Sampled=…`), as Powertools reads it: the
 * runtime's invoke store first, else `_X_AMZN_TRACE_ID`; undefined outside Lambda.
 */
export function invocationXRayHeader(): string | undefined {
  return (globalThis as LambdaGlobal).awslambda?.InvokeStore?.getXRayTraceId() ?? process.env._X_AMZN_TRACE_ID;
}

/**
 * The id of the X-Ray (sub)segment recording this invocation (the handler's, under the middleware); undefined
 * when tracing is off or the id is not a span id (Lambda's facade segment of an untraced invocation).
 */
export function currentSegmentId(): string | undefined {
  if (!tracer.isTracingEnabled()) return undefined;
  const id = tracer.getSegment()?.id;
  return isSpanId(id) ? id : undefined;
}
