/** observability/cloudwatch-exporter.yml exports every EMF metric the functions emit, with the dashboard's dimensions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { stackNames } from '../../../infra/cdk/lib/app.ts';
import { REPO_ROOT } from '../../../infra/cdk/lib/paths.ts';
import { METRIC } from '../../../layers/shared/src/metric-names.ts';

interface ExportedMetric {
  aws_namespace: string;
  aws_metric_name: string;
  aws_dimensions?: string[];
  aws_statistics?: string[];
  aws_extended_statistics?: string[];
  aws_dimension_select_regex?: Record<string, string[]>;
}

const config = parse(readFileSync(join(REPO_ROOT, 'observability/cloudwatch-exporter.yml'), 'utf8')) as {
  metrics: ExportedMetric[];
};
const emf = config.metrics.filter((metric) => metric.aws_namespace === 'LogEnrichment');
const byName = (name: string) => emf.find((metric) => metric.aws_metric_name === name);

it('exports every metric named in #shared/metric-names.ts, by service', () => {
  for (const name of Object.values(METRIC)) {
    expect({ name, dimensions: byName(name)?.aws_dimensions?.[0] }).toEqual({ name, dimensions: 'service' });
  }
});

it('keeps the cache tier and breaker dimensions and the latency percentiles', () => {
  expect(byName(METRIC.cacheHits)?.aws_dimensions).toEqual(['service', 'tier']);
  expect(byName(METRIC.cacheMisses)?.aws_dimensions).toEqual(['service', 'tier']);
  expect(byName(METRIC.circuitBreakerState)?.aws_dimensions).toEqual(['service', 'breaker']);
  expect(byName(METRIC.enrichmentLatency)?.aws_extended_statistics).toEqual(expect.arrayContaining(['p99']));
});

it('exports the event source offset lag and the Lambda health metrics', () => {
  const lambda = config.metrics.filter((metric) => metric.aws_namespace === 'AWS/Lambda').map((metric) => metric.aws_metric_name);
  expect(lambda).toEqual(expect.arrayContaining(['OffsetLag', 'Errors', 'Throttles', 'Duration', 'ConcurrentExecutions']));
});

it('selects the three pipeline functions of every stage by their generated names, and no other function', () => {
  // CloudFormation names a function <stack name>-<logical id>-<suffix>; the exporter matches the whole name.
  const patterns = config.metrics
    .filter((metric) => metric.aws_namespace === 'AWS/Lambda')
    .flatMap((metric) => metric.aws_dimension_select_regex?.FunctionName ?? [])
    .map((pattern) => new RegExp(`^(?:${pattern})$`));
  expect(patterns.length).toBeGreaterThanOrEqual(6);
  const generated = (stack: string, logicalId: string) => `${stack}-${logicalId}-AbCdEf123456`;
  for (const stage of ['dev', 'prod']) {
    const names = stackNames(stage);
    const enrich = generated(names.stateless, 'Enrich6BF5708E');
    for (const pattern of patterns) expect({ pattern: pattern.source, matches: pattern.test(enrich) }).toEqual({ pattern: pattern.source, matches: true });
    const others = [generated(names.setup, 'MigrateD5E6BFF0'), generated(names.setup, 'CreateTopics773A13CD'), generated('LogEnrichmentStateless', 'Enrich6BF5708E')];
    for (const pattern of patterns) for (const other of others) expect({ other, matches: pattern.test(other) }).toEqual({ other, matches: false });
  }
});
