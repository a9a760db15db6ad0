/**
 * The logging port use cases depend on. Powertools' `Logger` (`#shared/observability.ts`) satisfies it, so
 * the wiring (`functions/<name>/dependencies.ts`) passes that in; tests pass a recorder or `silentLog`.
 * Attributes carry ids and counts, never whole payloads.
 */
export interface Log {
  debug(message: string, ...attributes: Record<string, unknown>[]): void;
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

/** Drops everything: for tests and tools that have nowhere to log. */
export const silentLog: Log = Object.freeze({
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
});
