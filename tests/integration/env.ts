/**
 * Runs before every integration test file (jest `setupFiles`): the test environment in process.env, for the
 * handler.ts entries (which wire themselves from process.env at load) and for Powertools, which reads its own.
 */
import { TEST_ENV } from './test-env.ts';

export { TEST_ENV };

Object.assign(process.env, TEST_ENV);
