/**
 * What the dashboards' PromQL may name: the series prom/cloudwatch-exporter derives from its configuration, and
 * the metric names a PromQL expression selects. Shared by the dashboard tests; no I/O.
 */
import { z } from 'zod';

/** CloudWatch statistics the exporter knows; with neither list given it asks for all five. */
const STATISTICS = ['Sum', 'SampleCount', 'Minimum', 'Maximum', 'Average'] as const;

/**
 * One rule of the exporter's `metrics:` list. Strict, so a misspelt key (`aws_statistic`) fails here instead of
 * being ignored by the exporter.
 */
const ExporterRule = z
  .strictObject({
    aws_namespace: z.string().min(1),
    aws_metric_name: z.string().min(1),
    aws_dimensions: z.array(z.string()).optional(),
    aws_dimension_select: z.record(z.string(), z.array(z.string())).optional(),
    aws_dimension_select_regex: z.record(z.string(), z.array(z.string())).optional(),
    aws_statistics: z.array(z.enum(STATISTICS)).min(1).optional(),
    aws_extended_statistics: z.array(z.string().regex(/^p\d+(\.\d+)?$/)).min(1).optional(),
    period_seconds: z.number().int().positive().optional(),
    range_seconds: z.number().int().positive().optional(),
    delay_seconds: z.number().int().nonnegative().optional(),
    set_timestamp: z.boolean().optional(),
    list_metrics_cache_ttl: z.number().int().nonnegative().optional(),
    help: z.string().optional(),
  })
  // The exporter refuses a rule with both.
  .refine((rule) => rule.aws_dimension_select === undefined || rule.aws_dimension_select_regex === undefined, {
    message: 'aws_dimension_select and aws_dimension_select_regex are mutually exclusive',
  });
export type ExporterRule = z.infer<typeof ExporterRule>;

export const ExporterConfig = z.strictObject({
  region: z.string().min(1),
  role_arn: z.string().optional(),
  period_seconds: z.number().int().positive().optional(),
  range_seconds: z.number().int().positive().optional(),
  delay_seconds: z.number().int().nonnegative().optional(),
  set_timestamp: z.boolean().optional(),
  list_metrics_cache_ttl: z.number().int().nonnegative().optional(),
  metrics: z.array(ExporterRule).min(1),
});
export type ExporterConfig = z.infer<typeof ExporterConfig>;

/** Labels every exporter sample carries besides its dimensions (`job` = the namespace, `instance` = ""). */
const EXPORTER_LABELS = ['job', 'instance'];

// The exporter's two name helpers (CloudWatchCollector.java: toSnakeCase, safeName).
const toSnakeCase = (text: string) => text.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const safeName = (text: string) => text.replace(/[^a-zA-Z0-9:_]/g, '_').replace(/__+/g, '_');

/** The exporter's name for a CloudWatch metric, before the statistic suffix: `logenrichment_cache_hits`. */
export function seriesBaseName(namespace: string, metric: string): string {
  return safeName(`${namespace.toLowerCase()}_${toSnakeCase(metric)}`);
}

/**
 * The series one rule exports, name → label names, by the exporter's rule: base name =
 * safeName(namespace lower-cased + "_" + snake_case(metric)), one series per statistic (`_sum`, `_sample_count`,
 * `_minimum`, `_maximum`, `_average`) and per extended statistic (`_p99`, `_p99_9`); dimension labels in
 * snake_case. The namespace is lower-cased, not snake-cased: LogEnrichment → `logenrichment_…`,
 * AWS/Lambda → `aws_lambda_…`. (The DynamoDB GSI `_index` special case is left out: no DynamoDB here.)
 *
 * @example
 * exportedSeries({ aws_namespace: 'AWS/Lambda', aws_metric_name: 'OffsetLag', aws_dimensions: ['FunctionName'],
 *   aws_statistics: ['Maximum'] })
 * // Map { 'aws_lambda_offset_lag_maximum' => ['job', 'instance', 'function_name'] }
 */
export function exportedSeries(rule: ExporterRule): Map<string, string[]> {
  const base = seriesBaseName(rule.aws_namespace, rule.aws_metric_name);
  const statistics =
    rule.aws_statistics ?? (rule.aws_extended_statistics === undefined ? [...STATISTICS] : []);
  const suffixes = [
    ...statistics.map(toSnakeCase),
    ...(rule.aws_extended_statistics ?? []).map((statistic) => safeName(toSnakeCase(statistic))),
  ];
  const labels = [...EXPORTER_LABELS, ...(rule.aws_dimensions ?? []).map((name) => toSnakeCase(name).replace(/[^a-zA-Z0-9_]/g, '_'))];
  return new Map(suffixes.map((suffix) => [`${base}_${suffix}`, labels]));
}

/** Every series the configuration exports, name → label names. */
export function exporterSeries(config: ExporterConfig): Map<string, string[]> {
  return new Map(config.metrics.flatMap((rule) => [...exportedSeries(rule)]));
}

/** A metric selector of a PromQL expression, with the label names its matchers use. */
export interface Selector {
  readonly metric: string;
  readonly labels: string[];
  /** The values its `=` matchers pin (`{job="enrich-local"}` → `{ job: 'enrich-local' }`), as written. */
  readonly equal: Record<string, string>;
}

export interface ExpressionNames {
  readonly selectors: Selector[];
  /** Labels of `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`, `group_left/right (…)`. */
  readonly groupingLabels: string[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan']);
const IDENTIFIER = /(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*/g;

/**
 * The metric names and label names a PromQL expression uses. A small scanner, enough for dashboard queries:
 * strings are set aside (kept for the values of `=` matchers), range selectors dropped, `name{matchers}` and
 * grouping clauses read, and any identifier left that is neither a keyword nor a function call is a metric name.
 *
 * @example
 * promqlNames('sum by (tier) (rate(cache_hits_total{job="enrich-local",tier!="memory"}[5m]))')
 * // { selectors: [{ metric: 'cache_hits_total', labels: ['job', 'tier'], equal: { job: 'enrich-local' } }],
 * //   groupingLabels: ['tier'] }
 */
export function promqlNames(expression: string): ExpressionNames {
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  // Strings become numbered placeholders, so that nothing inside one is read as a name and `=` matchers can
  // still give their value back.
  const strings: string[] = [];
  let rest = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, (literal) => `"${strings.push(literal.slice(1, -1)) - 1}"`)
    .replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_match, _keyword, labels: string) => {
    groupingLabels.push(...labels.split(',').map((label) => label.trim()).filter((label) => label !== ''));
    return ' ';
  });
  rest = rest.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_match, metric: string | undefined, matchers: string) => {
    const found = [...matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(\d+)"/g)];
    const labels = found.map((matcher) => matcher[1] ?? '');
    const equal = Object.fromEntries(found.filter((matcher) => matcher[2] === '=').map((matcher) => [matcher[1] ?? '', strings[Number(matcher[3])] ?? '']));
    if (metric === undefined) throw new Error(`selector without a metric name in ${expression}`);
    selectors.push({ metric, labels, equal });
    return ' ';
  });
  for (const found of rest.matchAll(IDENTIFIER)) {
    const name = found[0];
    const after = rest.slice((found.index ?? 0) + name.length);
    if (KEYWORDS.has(name.toLowerCase()) || /^\s*\(/.test(after)) continue;
    selectors.push({ metric: name, labels: [], equal: {} });
  }
  return { selectors, groupingLabels };
}

/** A Grafana dashboard as far as the tests read it. */
export interface Dashboard {
  uid: string;
  title: string;
  panels: { title: string; type: string; description?: string; targets?: { expr: string; datasource?: { uid?: string } }[] }[];
}

/** Every PromQL expression of a dashboard, with its panel's title. */
export function dashboardQueries(dashboard: Dashboard): { panel: string; expr: string }[] {
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
}
