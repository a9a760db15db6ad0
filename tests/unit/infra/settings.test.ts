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
