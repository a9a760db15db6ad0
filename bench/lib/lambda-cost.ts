/**
 * What the enrich function costs per million logs on Lambda, from the wall time of one batch. Pure arithmetic;
 * the price is stated with the date it was read, and printed with the figure.
 */

/**
 * AWS Lambda on-demand prices, arm64, US East (N. Virginia), first duration tier (the first 7.5 billion
 * GB-seconds a month), as https://aws.amazon.com/lambda/pricing/ lists them. Read on 2026-12-01: the page
 * renders its rate table client side, so the figures were checked against two transcriptions of it
 * (cloudchipr.com "AWS Lambda Pricing Breakdown", the artillery load tester's prices.js: arm64 base 1333340e-11).
 * Free tier and Savings Plans are left out.
 */
export const LAMBDA_ARM64_PRICE = {
  region: 'us-east-1',
  perGbSecond: 0.0000133334,
  perMillionRequests: 0.2,
  readOn: '2026-12-01',
} as const;

export interface LambdaCostInput {
  /** Wall time of one invocation (one batch), in ms. */
  batchMs: number;
  /** Logs per invocation. */
  batchSize: number;
  /** The function's configured memory. */
  memoryMb: number;
  price?: { perGbSecond: number; perMillionRequests: number };
}

/**
 * USD per million logs: (billed duration × GB × price per GB-s + price per request) × invocations per million.
 * Lambda bills duration rounded up to the millisecond, and memory as MB / 1024 GB.
 *
 * @example
 * lambdaCostPerMillionLogs({ batchMs: 12.3, batchSize: 500, memoryMb: 1024 });
 * // (0.013 s × 1 GB × 0.0000133334 + 0.0000002) × 2000 = 0.000747 USD
 */
export function lambdaCostPerMillionLogs(input: LambdaCostInput): number {
  if (!(input.batchSize > 0) || !(input.memoryMb > 0) || !(input.batchMs >= 0)) {
    throw new RangeError(`batch size and memory must be positive and the batch time not negative (got ${JSON.stringify(input)})`);
  }
  const price = input.price ?? LAMBDA_ARM64_PRICE;
  const billedSeconds = Math.ceil(input.batchMs) / 1000;
  const perInvocation = billedSeconds * (input.memoryMb / 1024) * price.perGbSecond + price.perMillionRequests / 1_000_000;
  return perInvocation * (1_000_000 / input.batchSize);
}

/** The price as printed next to the figure. */
export function describePrice(price: typeof LAMBDA_ARM64_PRICE = LAMBDA_ARM64_PRICE): string {
  return `arm64 ${price.region}: $${price.perGbSecond} per GB-s + $${price.perMillionRequests.toFixed(2)} per 1M requests (read ${price.readOn})`;
}
