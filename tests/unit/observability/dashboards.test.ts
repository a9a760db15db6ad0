/**
 * The Grafana dashboards query only series that exist: the AWS dashboard the series observability/
 * cloudwatch-exporter.yml makes the exporter produce, the local dashboard the metrics the registry behind each
 * local scrape job serves (the enrich runner's, the re-enricher's). Prometheus scrapes all of them, and Grafana
 * loads both dashboards.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { PrometheusEnrichMetrics, PrometheusReenrichMetrics } from '../../../functions/enrich/src/adapters/prometheus-metrics.ts';
import { ESM_METRIC } from '../../../infra/cdk/lib/observability.ts';
import { REPO_ROOT } from '../../../infra/cdk/lib/paths.ts';
import { METRIC } from '../../../layers/shared/src/metric-names.ts';
import {
  type Dashboard,
  dashboardQueries,
  ExporterConfig,
  exportedSeries,
  exporterSeries,
  promqlNames,
  seriesBaseName,
} from './series-names.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const DASHBOARDS = 'observability/grafana/dashboards';
const awsDashboard = JSON.parse(read(`${DASHBOARDS}/log-enrichment-aws.json`)) as Dashboard;
const localDashboard = JSON.parse(read(`${DASHBOARDS}/log-enrichment.json`)) as Dashboard;
const exporterConfig = ExporterConfig.parse(parse(read('observability/cloudwatch-exporter.yml')));

interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
}
const prometheus = parse(read('observability/prometheus.yml')) as {
  global?: { scrape_interval?: string };
  scrape_configs: ScrapeConfig[];
};
const job = (name: string) => prometheus.scrape_configs.find((config) => config.job_name === name);
const targetLabels = (config: ScrapeConfig | undefined) => [
  'job',
  'instance',
  ...(config?.static_configs ?? []).flatMap((group) => Object.keys(group.labels ?? {})),
];

/** Prometheus durations as used here (`60s`, `1m`, `5m`), in seconds. */
function seconds(duration: string | undefined): number {
  const found = /^(\d+)(ms|s|m|h)$/.exec(duration ?? '');
  if (found === null) throw new Error(`not a duration: ${duration}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[found[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(found[1]) * unit;
}

/** The exporter's own series and Prometheus' per-target ones (name → labels), which the health panel reads. */
const EXPORTER_SELF: [string, string[]][] = [
  ['cloudwatch_exporter_scrape_error', []],
  ['cloudwatch_exporter_scrape_duration_seconds', []],
  ['cloudwatch_requests_total', ['action', 'namespace']],
  ['up', []],
  ['scrape_duration_seconds', []],
];

/**
 * The registry behind each local scrape job of prometheus.yml, built as its runner builds it
 * (scripts/local/event-source/index.ts, reenrich.ts); the consumer lag gets a sample as the runner gives it one
 * per partition, so that its labels show.
 */
const LOCAL_REGISTRIES: Record<string, () => Registry> = {
  'enrich-local': () => {
    const metrics = new PrometheusEnrichMetrics();
    metrics.consumerLag.set({ topic: 'raw-logs', partition: '0' }, 0);
    return metrics.registry;
  },
  // The re-enricher runs enrich's use case: enrich's metric names and its own, on one registry.
  'reenrich-local': () => {
    const metrics = new PrometheusEnrichMetrics(new Registry());
    metrics.consumerLag.set({ topic: 'enriched-logs-partial', partition: '0' }, 0);
    new PrometheusReenrichMetrics(metrics.registry);
    return metrics.registry;
  },
};

/** The series a registry's /metrics serves, name → label names (histograms as _bucket, _sum and _count). */
async function servedSeries(registry: Registry): Promise<Map<string, string[]>> {
  const series = new Map<string, string[]>();
  for (const { name, values } of await registry.getMetricsAsJSON()) {
    // Histogram samples carry their exposed name (metricName), which the type does not declare.
    for (const value of values as { metricName?: string; labels: Record<string, unknown> }[]) {
      const exposed = value.metricName ?? name;
      series.set(exposed, [...new Set([...(series.get(exposed) ?? []), ...Object.keys(value.labels)])]);
    }
  }
  return series;
}

/** Metric names and label problems of a dashboard against the series that exist, one line per problem. */
function unknownNames(dashboard: Dashboard, series: Map<string, string[]>, extraLabels: string[]): string[] {
  const problems: string[] = [];
  for (const { panel, expr } of dashboardQueries(dashboard)) {
    const { selectors, groupingLabels } = promqlNames(expr);
    for (const { metric, labels } of selectors) {
      const known = series.get(metric);
      if (known === undefined) {
        problems.push(`${panel}: no series ${metric}`);
        continue;
      }
      for (const label of labels) {
        if (!known.includes(label) && !extraLabels.includes(label)) problems.push(`${panel}: ${metric} has no label ${label}`);
      }
    }
    const available = new Set([...selectors.flatMap(({ metric }) => series.get(metric) ?? []), ...extraLabels]);
    for (const label of groupingLabels) {
      if (!available.has(label)) problems.push(`${panel}: grouping by ${label}, which none of its series has`);
    }
  }
  return problems;
}

describe('the exporter naming rule', () => {
  it('lower-cases the namespace, snake-cases the metric and suffixes the statistic', () => {
    // Prepare
    const rule = { aws_namespace: 'LogEnrichment', aws_metric_name: 'EnrichmentAttempts', aws_dimensions: ['service'], aws_statistics: ['Sum' as const] };
    // Act
    const series = exportedSeries(rule);
    // Assess
    expect([...series]).toEqual([['logenrichment_enrichment_attempts_sum', ['job', 'instance', 'service']]]);
  });

  it('names extended statistics after the percentile and snake-cases dimension labels', () => {
    // Prepare
    const rule = { aws_namespace: 'AWS/Lambda', aws_metric_name: 'Duration', aws_dimensions: ['FunctionName'], aws_extended_statistics: ['p99', 'p99.9'] };
    // Act
    const series = exportedSeries(rule);
    // Assess
    expect([...series.keys()]).toEqual(['aws_lambda_duration_p99', 'aws_lambda_duration_p99_9']);
    expect(series.get('aws_lambda_duration_p99')).toEqual(['job', 'instance', 'function_name']);
  });

  it('exports all five statistics when a rule names none', () => {
    // Prepare
    const rule = { aws_namespace: 'AWS/SQS', aws_metric_name: 'NumberOfMessagesSent' };
    // Act
    const names = [...exportedSeries(rule).keys()];
    // Assess
    expect(names).toEqual([
      'aws_sqs_number_of_messages_sent_sum',
      'aws_sqs_number_of_messages_sent_sample_count',
      'aws_sqs_number_of_messages_sent_minimum',
      'aws_sqs_number_of_messages_sent_maximum',
      'aws_sqs_number_of_messages_sent_average',
    ]);
  });
});

describe('reading PromQL', () => {
  it('finds metric names, matcher labels and grouping labels, not functions, keywords or strings', () => {
    // Act
    const names = promqlNames(
      'sum by (tier) (rate(cache_hits_total{tier!="memory",name=~"a|b",job="enrich-local"}[5m])) / on (tier) group_left sum(x_total offset 5m) or vector(0) > bool 1e3',
    );
    // Assess
    expect(names.selectors).toEqual([
      { metric: 'cache_hits_total', labels: ['tier', 'name', 'job'], equal: { job: 'enrich-local' } },
      { metric: 'x_total', labels: [], equal: {} },
    ]);
    expect(names.groupingLabels).toEqual(['tier', 'tier']); // by (tier), on (tier)
  });
});

describe('the AWS dashboard', () => {
  const series = exporterSeries(exporterConfig);
  const extraLabels = targetLabels(job('cloudwatch'));
  for (const [name, labels] of EXPORTER_SELF) series.set(name, labels);
  const charted = dashboardQueries(awsDashboard).flatMap(({ expr }) => promqlNames(expr).selectors.map(({ metric }) => metric));

  it('queries only series the CloudWatch exporter configuration produces, with their labels', () => {
    expect(unknownNames(awsDashboard, series, extraLabels)).toEqual([]);
  });

  it('pins each EMF series to a service the exporter selects for that metric', () => {
    // Prepare: a series name exists once any service exports it; {service="reenrich"} must be selected too.
    const services = new Map(
      exporterConfig.metrics.flatMap((rule) => [...exportedSeries(rule).keys()].map((name) => [name, rule.aws_dimension_select?.service ?? []])),
    );
    // Act
    const problems = dashboardQueries(awsDashboard).flatMap(({ panel, expr }) =>
      promqlNames(expr)
        .selectors.filter(({ metric }) => metric.startsWith('logenrichment_'))
        .filter(({ metric, equal }) => !(services.get(metric) ?? []).includes(equal.service ?? ''))
        .map(({ metric, equal }) => `${panel}: ${metric}{service="${equal.service ?? ''}"}`),
    );
    // Assess
    expect(problems).toEqual([]);
  });

  it('charts every EMF metric of #shared/metric-names.ts but the ingest rejections', () => {
    // Prepare: LogsRejected is exported for ad-hoc queries; the CDK dashboard does not chart it either.
    const expected = Object.values(METRIC).filter((name) => name !== METRIC.logsRejected);
    // Act
    const missing = expected.filter((name) => !charted.some((metric) => metric.startsWith(`${seriesBaseName('LogEnrichment', name)}_`)));
    // Assess
    expect(missing).toEqual([]);
  });

  it('charts the Lambda health metrics and the offset lag, as the CDK dashboard does', () => {
    // Prepare
    const required = [
      'aws_lambda_offset_lag_maximum',
      'aws_lambda_errors_sum',
      'aws_lambda_throttles_sum',
      'aws_lambda_duration_p99',
      'aws_lambda_concurrent_executions_maximum',
    ];
    // Act
    const missing = required.filter((metric) => !charted.includes(metric));
    // Assess
    expect(missing).toEqual([]);
  });

  it('shows per-minute Sums as x / 60 and says so, never as rate() of a gauge', () => {
    for (const panel of awsDashboard.panels) {
      for (const target of panel.targets ?? []) {
        const sums = promqlNames(target.expr).selectors.filter(({ metric }) => metric.endsWith('_sum'));
        if (sums.length === 0) continue;
        expect({ panel: panel.title, expr: target.expr }).not.toEqual({ panel: panel.title, expr: expect.stringMatching(/\b(i?rate|increase)\(/) });
        if (/\/ 60$/.test(target.expr)) expect({ panel: panel.title, description: panel.description }).toEqual({ panel: panel.title, description: expect.stringContaining('x / 60') });
      }
    }
  });

  it('reads the provisioned Prometheus data source and has its own uid', () => {
    const provisioned = parse(read('observability/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string }[] };
    const uids = new Set(provisioned.datasources.map((source) => source.uid));
    for (const panel of awsDashboard.panels) for (const target of panel.targets ?? []) expect(uids.has(target.datasource?.uid ?? '')).toBe(true);
    expect(awsDashboard.uid).not.toBe(localDashboard.uid);
    expect(awsDashboard.title).toBe('Log enrichment — AWS (CloudWatch exporter)');
  });
});

describe('the README section on the AWS deployment', () => {
  it('gives PromQL examples on series the exporter produces', () => {
    // Prepare: every line of its promql blocks that is not a comment is one expression.
    const readme = read('README.md');
    const start = readme.indexOf('### Prometheus and Grafana for the AWS deployment');
    const fragment = readme.slice(start, readme.indexOf('\n## ', start));
    const examples = [...fragment.matchAll(/```promql\n([\s\S]*?)```/g)]
      .flatMap((block) => (block[1] ?? '').split('\n'))
      .filter((line) => line.trim() !== '' && !line.startsWith('#'));
    const asDashboard: Dashboard = { uid: 'readme', title: 'README', panels: [{ title: 'README', type: 'timeseries', targets: examples.map((expr) => ({ expr })) }] };
    // Act
    const problems = unknownNames(asDashboard, exporterSeries(exporterConfig), targetLabels(job('cloudwatch')));
    // Assess
    expect(examples.length).toBeGreaterThanOrEqual(4);
    expect(problems).toEqual([]);
  });
});

describe('the CloudWatch exporter configuration', () => {
  it('keeps the CDK dashboard dimensions: service on every EMF metric, FunctionName on the Lambda ones, EventSourceMappingUUID on the mapping ones', () => {
    const mappingMetrics: readonly string[] = Object.values(ESM_METRIC);
    const lambdaDimension = (metric: string) => (mappingMetrics.includes(metric) ? 'EventSourceMappingUUID' : 'FunctionName');
    for (const rule of exporterConfig.metrics) {
      const first =
        rule.aws_namespace === 'LogEnrichment' ? 'service' : rule.aws_namespace === 'AWS/Lambda' ? lambdaDimension(rule.aws_metric_name) : 'QueueName';
      expect({ metric: rule.aws_metric_name, first: rule.aws_dimensions?.[0] }).toEqual({ metric: rule.aws_metric_name, first });
    }
  });

  it('reads 1-minute periods with CloudWatch timestamps, a settling delay and cached ListMetrics calls', () => {
    expect(exporterConfig.period_seconds).toBe(60);
    expect(exporterConfig.set_timestamp ?? true).toBe(true);
    expect(exporterConfig.delay_seconds).toBeGreaterThanOrEqual(60);
    // With set_timestamp, a sample older than Prometheus' 5-minute lookback is invisible to queries at "now".
    expect((exporterConfig.delay_seconds ?? 600) + (exporterConfig.period_seconds ?? 60)).toBeLessThan(300);
    expect(exporterConfig.list_metrics_cache_ttl).toBeGreaterThan(0);
  });
});

describe('the local dashboard', () => {
  /** Its queries by the one local job all their selectors pin (`job="…"`); `undefined` for any other. */
  const byJob = Map.groupBy(dashboardQueries(localDashboard), ({ expr }) => {
    const jobs = new Set(promqlNames(expr).selectors.map(({ equal }) => equal.job));
    const [only] = jobs;
    return jobs.size === 1 && only !== undefined && only in LOCAL_REGISTRIES ? only : undefined;
  });

  it('pins every selector of a query to the same local job, as two runners serve the same enrich names', () => {
    expect(byJob.get(undefined) ?? []).toEqual([]);
  });

  it.each(Object.keys(LOCAL_REGISTRIES))('queries of job %s name only metrics its registry serves, with their labels', async (name) => {
    // Prepare
    const series = await servedSeries(LOCAL_REGISTRIES[name]?.() ?? new Registry());
    const queries = byJob.get(name) ?? [];
    const asDashboard: Dashboard = { ...localDashboard, panels: queries.map(({ panel, expr }) => ({ title: panel, type: 'timeseries', targets: [{ expr }] })) };
    // Act
    const problems = unknownNames(asDashboard, series, targetLabels(job(name)));
    // Assess
    expect(queries.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});

describe('Prometheus', () => {
  it('scrapes the local runtime and the CloudWatch exporter, on the host and in compose', () => {
    expect(job('enrich-local')?.static_configs?.flatMap((group) => group.targets)).toEqual(
      expect.arrayContaining(['127.0.0.1:8081', 'host.docker.internal:8081']),
    );
    expect(job('reenrich-local')?.static_configs?.flatMap((group) => group.targets)).toEqual(
      expect.arrayContaining(['127.0.0.1:8083', 'host.docker.internal:8083']),
    );
    expect(job('cloudwatch')?.static_configs?.flatMap((group) => group.targets)).toEqual(
      expect.arrayContaining(['127.0.0.1:9106', 'cloudwatch-exporter:9106']),
    );
  });

  it('has a registry above for every local job, so each job\'s queries are checked', () => {
    const local = prometheus.scrape_configs.filter((config) => config.static_configs?.some((group) => group.labels?.runtime === 'local'));
    expect(local.map((config) => config.job_name).sort()).toEqual(Object.keys(LOCAL_REGISTRIES).sort());
  });

  it('scrapes the exporter at most once a minute, within the interval', () => {
    const cloudwatch = job('cloudwatch');
    const interval = seconds(cloudwatch?.scrape_interval ?? prometheus.global?.scrape_interval);
    expect(interval).toBeGreaterThanOrEqual(60);
    expect(seconds(cloudwatch?.scrape_timeout ?? '10s')).toBeLessThan(interval);
  });
});

describe('Grafana provisioning', () => {
  it('loads both dashboards from the folder compose mounts', () => {
    const provider = parse(read('observability/grafana/provisioning/dashboards/dashboards.yml')) as { providers: { options: { path: string } }[] };
    const compose = parse(read('localstack/docker-compose.yml')) as { services: Record<string, { volumes?: string[] }> };
    const mounted = compose.services.grafana?.volumes?.find((volume) => volume.startsWith(`../${DASHBOARDS}:`));
    expect(mounted?.split(':')[1]).toBe(provider.providers[0]?.options.path);
    expect(readdirSync(join(REPO_ROOT, DASHBOARDS))).toEqual(expect.arrayContaining(['log-enrichment.json', 'log-enrichment-aws.json']));
  });
});

describe('the compose exporter service', () => {
  const compose = parse(read('localstack/docker-compose.yml')) as {
    services: Record<string, { image?: string; profiles?: string[]; ports?: string[]; volumes?: string[]; environment?: string[] }>;
  };
  const exporter = compose.services['cloudwatch-exporter'];

  it('runs only with the aws profile, a pinned image, the configuration read-only and a loopback port', () => {
    expect(exporter?.profiles).toEqual(['aws']);
    expect(exporter?.image).toMatch(/^prom\/cloudwatch-exporter:v\d+\.\d+\.\d+$/);
    expect(exporter?.volumes).toContain('../observability/cloudwatch-exporter.yml:/config/config.yml:ro');
    expect(exporter?.ports).toEqual(['127.0.0.1:9106:9106']);
  });

  it('passes AWS credentials through from the environment without storing any', () => {
    expect(exporter?.environment).toEqual(expect.arrayContaining(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']));
    for (const variable of exporter?.environment ?? []) expect(variable).not.toContain('=');
  });
});
