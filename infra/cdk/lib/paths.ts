/**
 * Where the app's code lives, resolved from this file's own folder so the CDK app, the tests and
 * `scripts/bundle-sizes.ts` find the same entries whatever the working directory.
 */
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const fromRoot = (path: string): string => fileURLToPath(new URL(path, new URL('../../../', import.meta.url)));

/** Every Lambda entry of the app, by function name. */
export const ENTRIES = {
  ingest: fromRoot('functions/ingest/handler.ts'),
  metadata: fromRoot('functions/metadata/handler.ts'),
  enrich: fromRoot('functions/enrich/handler.ts'),
  reenrich: fromRoot('functions/enrich/reenrich-handler.ts'),
  migrate: fromRoot('functions/metadata/migrate.ts'),
  createTopics: fromRoot('infra/cdk/lambda/create-topics.ts'),
} as const;
export type EntryName = keyof typeof ENTRIES;

export const LOCK_FILE = fromRoot('package-lock.json');

/** SQL migrations, copied next to the migrate bundle (its handler passes that folder to `migrate`). */
export const MIGRATIONS_SOURCE = 'layers/shared/migrations';
