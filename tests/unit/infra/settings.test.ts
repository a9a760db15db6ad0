/**
 * The app's context settings: defaults, `-c` strings, and a bad value named before anything is built.
 */
import { App } from 'aws-cdk-lib';
import { ConfigError } from '#shared/config.ts';
import { readSettings } from '../../../infra/cdk/lib/settings.ts';

it('defaults the Valkey node type to cache.t4g.small', () => {
  // Prepare
  const app = new App();

  // Act
  const settings = readSettings(app.node);

  // Assess
  expect(settings.cacheNodeType).toBe('cache.t4g.small');
});

it('takes the Valkey node type from the context', () => {
  // Prepare
  const app = new App({ context: { cacheNodeType: 'cache.m7g.large' } });

  // Act
  const settings = readSettings(app.node);

  // Assess
  expect(settings.cacheNodeType).toBe('cache.m7g.large');
});

it('rejects a node type that is not an ElastiCache one, naming the setting', () => {
  // Prepare
  const app = new App({ context: { cacheNodeType: 'kafka.m7g.large' } });

  // Act
  const read = () => readSettings(app.node);

  // Assess
  expect(read).toThrow(ConfigError);
  expect(read).toThrow(/cacheNodeType/);
});

it('defaults the on-failure topic to raw-logs-unprocessed and takes another from the context', () => {
  // Prepare
  const byDefault = new App();
  const fromContext = new App({ context: { onFailureTopic: 'raw-logs-failed' } });

  // Act
  const settings = [readSettings(byDefault.node), readSettings(fromContext.node)];

  // Assess
  expect(settings.map(({ onFailureTopic }) => onFailureTopic)).toEqual(['raw-logs-unprocessed', 'raw-logs-failed']);
});

it.each(['raw-logs-dlq', 'raw-logs', 'not a topic'])('rejects %s as the on-failure topic, naming the setting', (topic) => {
  // Prepare
  const app = new App({ context: { onFailureTopic: topic } });

  // Act
  const read = () => readSettings(app.node);

  // Assess
  expect(read).toThrow(ConfigError);
  expect(read).toThrow(/onFailureTopic/);
});

it('defaults the output encoding to json and takes otlp_proto or otlp_json from the context', () => {
  // Prepare
  const apps = [new App(), new App({ context: { outputEncoding: 'otlp_proto' } }), new App({ context: { outputEncoding: 'otlp_json' } })];

  // Act
  const settings = apps.map((app) => readSettings(app.node));

  // Assess
  expect(settings.map(({ outputEncoding }) => outputEncoding)).toEqual(['json', 'otlp_proto', 'otlp_json']);
});

it('rejects an output encoding the enrich function does not write, naming the setting', () => {
  // Prepare
  const app = new App({ context: { outputEncoding: 'protobuf' } });

  // Act
  const read = () => readSettings(app.node);

  // Assess
  expect(read).toThrow(ConfigError);
  expect(read).toThrow(/outputEncoding/);
});
