/** `npm run migrate`: applies pending SQL migrations to DATABASE_URL. */
import { z } from 'zod';
import { readConfig } from '#shared/config.ts';
import { migrate } from '#shared/db/migrate.ts';

const { DATABASE_URL } = readConfig(
  z.object({ DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/postgres') }),
);
const applied = await migrate(DATABASE_URL);
console.log(applied.length === 0 ? 'migrate: schema is up to date' : `migrate: applied ${applied.join(', ')}`);
