import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { INTEGRATION_TIMEOUT_MS } from './limits.ts';

const unsupported = () => {
  throw new Error('context.done/fail/succeed are not supported: return (or throw) from the handler');
};

/** One log stream per function, as one Lambda instance writes to one stream for all its invocations. */
const logStreams = new Map<string, string>();

function logStreamOf(functionName: string): string {
  let stream = logStreams.get(functionName);
  if (stream === undefined) {
    stream = `local/[$LATEST]${randomUUID().replaceAll('-', '')}`;
    logStreams.set(functionName, stream);
  }
  return stream;
}

/**
 * A Lambda context for an in-process invoke: a request id of its own, the deadline counted from now.
 *
 * @example
 * await handler(event, createLambdaContext('ingest'));
 */
export function createLambdaContext(functionName: string, timeoutMs = INTEGRATION_TIMEOUT_MS): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: logStreamOf(functionName),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
