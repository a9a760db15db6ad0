/**
 * Dashboard and alarms of the AWS target, fed by the functions' EMF metrics (namespace LogEnrichment, names
 * from `#shared/metric-names.ts`) and by AWS/Lambda metrics (functions, and the enrich event source mapping).
 *
 * Dimension assumption (Powertools Metrics): every EMF metric carries `service` = POWERTOOLS_SERVICE_NAME of its
 * function; cache metrics add `tier` (memory | redis | postgres); breaker states add `breaker` (redis | postgres).
 */
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  type IAlarmAction,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METRIC } from '#shared/metric-names.ts';
import { METRICS_NAMESPACE } from './pipeline-function.ts';

export interface ObservedFunction {
  readonly fn: IFunction;
  /** POWERTOOLS_SERVICE_NAME, the `service` dimension of its EMF metrics. */
  readonly service: string;
}

export interface PipelineObservabilityProps {
  /** Unique per stage (a dashboard name is unique in the account). */
  readonly dashboardName: string;
  readonly ingest: ObservedFunction;
  readonly enrich: ObservedFunction;
  readonly metadata: ObservedFunction;
  /**
   * The re-enricher: its Lambda widgets, and its error-rate alarm when `alarmOnErrors` (not where a batch
   * that is not due yet fails its invocation on purpose, as with on-demand pollers).
   */
  readonly reenrich?: ObservedFunction & { readonly alarmOnErrors: boolean };
  /**
   * The enrich event source mapping and the Kafka topic it sends failed records to. Absent with on-demand
   * pollers, which have neither the destination nor the mapping's metrics: no widgets or alarms on them then.
   */
  readonly onFailure?: OnFailureDestination;
  readonly alarmAction?: IAlarmAction;
  readonly thresholds?: Partial<AlarmThresholds>;
}

export interface OnFailureDestination {
  /** The mapping's UUID (`Ref` of AWS::Lambda::EventSourceMapping): the dimension of its metrics. */
  readonly eventSourceMappingId: string;
  readonly topic: string;
}

/**
 * Event source mapping metrics (AWS/Lambda, dimension EventSourceMappingUUID, group EventCount of the mapping's
 * MetricsConfig): records written to the on-failure destination, and records dropped (retries exhausted or too
 * old, and also those whose delivery to the destination failed). AWS Lambda developer guide, "Types of metrics
 * for Lambda functions", section "Event source mapping metrics".
 */
export const ESM_METRIC = {
  onFailureDelivered: 'OnFailureDestinationDeliveredEventCount',
  dropped: 'DroppedEventCount',
} as const;

export interface AlarmThresholds {
  /** Partial enrichments as a percentage of enriched records. */
  readonly partialRatioPercent: number;
  /** Function errors as a percentage of invocations. */
  readonly errorRatePercent: number;
  /** Records behind on raw-logs (AWS/Lambda OffsetLag, maximum over partitions). */
  readonly offsetLag: number;
}

const DEFAULT_THRESHOLDS: AlarmThresholds = { partialRatioPercent: 20, errorRatePercent: 5, offsetLag: 10_000 };

export const CACHE_TIERS = ['memory', 'redis', 'postgres'] as const;
export const BREAKERS = ['redis', 'postgres'] as const;

const PERIOD = Duration.minutes(1);
const ALARM_PERIOD = Duration.minutes(5);

export class PipelineObservability extends Construct {
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: PipelineObservabilityProps) {
    super(scope, id);
    const thresholds = { ...DEFAULT_THRESHOLDS, ...props.thresholds };
    const { ingest, enrich, metadata } = props;
    const emf = (name: string, fn: ObservedFunction, statistic: string, extra: Record<string, string> = {}) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: fn.service, ...extra },
        statistic,
        period: PERIOD,
      });
    const sum = (name: string, fn: ObservedFunction, extra: Record<string, string> = {}) => emf(name, fn, 'Sum', extra);

    const attempts = sum(METRIC.enrichmentAttempts, enrich);
    const complete = sum(METRIC.enrichmentComplete, enrich);
    const partial = sum(METRIC.enrichmentPartial, enrich);
    const deadLettered = sum(METRIC.enrichmentDeadLettered, enrich);
    const successRate = new MathExpression({
      expression: '100 * (complete + partial) / attempts',
      usingMetrics: { complete, partial, attempts },
      label: 'Success rate (%)',
      period: PERIOD,
    });
    const partialRatio = (period: Duration) =>
      new MathExpression({
        expression: '100 * partial / (complete + partial)',
        usingMetrics: { complete: complete.with({ period }), partial: partial.with({ period }) },
        label: 'Partial ratio (%)',
        period,
      });
    const offsetLag = new Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OffsetLag',
      dimensionsMap: { FunctionName: enrich.fn.functionName },
      statistic: 'Maximum',
      period: PERIOD,
    });
    const cacheHitRatio = CACHE_TIERS.map(
      (tier) =>
        new MathExpression({
          // Ids are unique per graph: one pair per tier.
          expression: `100 * hits_${tier} / (hits_${tier} + misses_${tier})`,
          usingMetrics: {
            [`hits_${tier}`]: sum(METRIC.cacheHits, enrich, { tier }),
            [`misses_${tier}`]: sum(METRIC.cacheMisses, enrich, { tier }),
          },
          label: `${tier} hit ratio (%)`,
          period: PERIOD,
        }),
    );
    const { onFailure } = props;
    const mappingMetric = (mapping: OnFailureDestination, metricName: string, period: Duration) =>
      new Metric({
        namespace: 'AWS/Lambda',
        metricName,
        dimensionsMap: { EventSourceMappingUUID: mapping.eventSourceMappingId },
        statistic: 'Sum',
        period,
      });
    const { reenrich } = props;
    const functions = [ingest, enrich, metadata, ...(reenrich === undefined ? [] : [reenrich])];
    const perFunction = (metric: (fn: IFunction) => IMetric) => functions.map(({ fn }) => metric(fn));

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown: '# Log enrichment\ningest → raw-logs → enrich → complete / partial / dead-letter',
            width: 24,
            height: 2,
          }),
        ],
        [
          new GraphWidget({
            title: 'Throughput (records/min)',
            left: [sum(METRIC.logsAccepted, ingest), attempts, complete, partial, deadLettered],
            width: 12,
          }),
          new GraphWidget({
            title: 'Success rate and partial ratio (%)',
            left: [successRate, partialRatio(PERIOD)],
            leftYAxis: { min: 0, max: 100 },
            width: 12,
          }),
        ],
        [
          new GraphWidget({
            title: 'Enrichment latency p50 / p99 (ms)',
            left: [emf(METRIC.enrichmentLatency, enrich, 'p50'), emf(METRIC.enrichmentLatency, enrich, 'p99')],
            width: 8,
          }),
          new GraphWidget({
            title: 'Circuit breakers (0 closed, 1 half-open, 2 open)',
            left: BREAKERS.map((breaker) => emf(METRIC.circuitBreakerState, enrich, 'Maximum', { breaker })),
            leftYAxis: { min: 0, max: 2 },
            width: 8,
          }),
          new GraphWidget({ title: 'Cache hit ratio by tier (%)', left: cacheHitRatio, width: 8 }),
        ],
        [
          new GraphWidget({ title: 'raw-logs offset lag (records)', left: [offsetLag], width: 8 }),
          new SingleValueWidget({
            title: 'Dead letters and failed batches (records)',
            metrics: [
              deadLettered,
              ...(onFailure === undefined
                ? []
                : [
                    mappingMetric(onFailure, ESM_METRIC.onFailureDelivered, PERIOD).with({ label: `Sent to ${onFailure.topic}` }),
                    mappingMetric(onFailure, ESM_METRIC.dropped, PERIOD).with({ label: 'Dropped by the event source mapping' }),
                  ]),
            ],
            width: 8,
          }),
          new GraphWidget({
            title: 'Publish failures',
            left: [sum(METRIC.ingestPublishFailures, ingest), sum(METRIC.enrichPublishFailures, enrich)],
            width: 8,
          }),
        ],
        [
          new GraphWidget({ title: 'Lambda errors', left: perFunction((fn) => fn.metricErrors({ period: PERIOD })), width: 6 }),
          new GraphWidget({
            title: 'Lambda throttles',
            left: perFunction((fn) => fn.metricThrottles({ period: PERIOD })),
            width: 6,
          }),
          new GraphWidget({
            title: 'Lambda duration p99 (ms)',
            left: perFunction((fn) => fn.metricDuration({ period: PERIOD, statistic: 'p99' })),
            width: 6,
          }),
          new GraphWidget({
            title: 'Lambda concurrency',
            left: perFunction((fn) => fn.metric('ConcurrentExecutions', { period: PERIOD, statistic: 'Maximum' })),
            width: 6,
          }),
        ],
      ],
    });

    // --- Alarms: missing data (no traffic) is not an incident. ----------------------------------------------
    this.alarm('PartialRatioAlarm', {
      metric: partialRatio(ALARM_PERIOD),
      threshold: thresholds.partialRatioPercent,
      description: `More than ${thresholds.partialRatioPercent}% of enriched records are partial: a metadata source is failing or incomplete`,
    });
    for (const observed of functions.filter((fn) => fn !== reenrich || reenrich.alarmOnErrors)) {
      this.alarm(`${capitalise(observed.service)}ErrorRateAlarm`, {
        metric: new MathExpression({
          expression: '100 * errors / invocations',
          usingMetrics: {
            errors: observed.fn.metricErrors({ period: ALARM_PERIOD }),
            invocations: observed.fn.metricInvocations({ period: ALARM_PERIOD }),
          },
          label: `${observed.service} error rate (%)`,
          period: ALARM_PERIOD,
        }),
        threshold: thresholds.errorRatePercent,
        description: `${observed.service}: more than ${thresholds.errorRatePercent}% of invocations fail`,
      });
    }
    this.alarm('OffsetLagAlarm', {
      metric: offsetLag.with({ period: ALARM_PERIOD }),
      threshold: thresholds.offsetLag,
      description: `enrich is more than ${thresholds.offsetLag} records behind on raw-logs`,
    });
    this.alarm('DeadLetterGrowthAlarm', {
      metric: deadLettered.with({ period: ALARM_PERIOD }),
      threshold: 0,
      evaluationPeriods: 1,
      description: 'Records were sent to raw-logs-dlq (they can never be enriched: see the reason header)',
    });
    if (onFailure !== undefined) {
      this.alarm('OnFailureDestinationAlarm', {
        metric: mappingMetric(onFailure, ESM_METRIC.onFailureDelivered, ALARM_PERIOD),
        threshold: 0,
        evaluationPeriods: 1,
        description: `The enrich event source mapping gave up on records after its retries: they are in ${onFailure.topic}, to replay once the cause is fixed`,
      });
      // The one signal of logs actually lost: a record the mapping dropped, e.g. because writing it to the
      // on-failure topic failed (Lambda then emits DroppedEventCount instead of the delivered count).
      this.alarm('DroppedRecordsAlarm', {
        metric: mappingMetric(onFailure, ESM_METRIC.dropped, ALARM_PERIOD),
        threshold: 0,
        evaluationPeriods: 1,
        description: `The enrich event source mapping dropped records that did not reach ${onFailure.topic}: those logs are lost unless raw-logs still holds them`,
      });
    }
    if (props.alarmAction !== undefined) {
      for (const alarm of this.alarms) alarm.addAlarmAction(props.alarmAction);
    }
  }

  private alarm(
    id: string,
    options: { metric: IMetric; threshold: number; description: string; evaluationPeriods?: number },
  ): void {
    const evaluationPeriods = options.evaluationPeriods ?? 3;
    this.alarms.push(
      new Alarm(this, id, {
        metric: options.metric,
        threshold: options.threshold,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: options.description,
      }),
    );
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
