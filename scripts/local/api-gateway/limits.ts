/** API Gateway's hard limit on a request payload. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** API Gateway's default (and, for REST APIs, usual maximum) integration timeout. */
export const INTEGRATION_TIMEOUT_MS = 29_000;
