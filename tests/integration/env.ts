/**
 * Runs before every integration test file (jest `setupFiles`), before any handler module is imported,
 * because function modules read their configuration once at load.
 */
import { TEST_ENV } from './test-env.ts';

export { TEST_ENV };

Object.assign(process.env, TEST_ENV);
