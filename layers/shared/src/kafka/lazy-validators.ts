/**
 * Makes @platformatic/kafka compile its option validators on first use instead of at import.
 *
 * The library builds about forty ajv validators at module scope (clients/{base,producer,consumer,admin}/
 * options.js: `export const …Validator = ajv.compile(…)`), all on one shared `ajv` instance, and the first
 * compile also compiles ajv's draft 2020-12 meta-schema: 400–700 ms of every cold start, most of the import.
 * Yet it only calls them when a client is created with `strict: true` (`Base[kValidateOptions]` returns at
 * once otherwise; the consumer's group options are the exception), which this project never sets. So this
 * module replaces `compile` on that one instance, before the options modules run, by a function that returns a
 * validator compiling the schema the first time it is called: same answer, same `errors`, same messages (ajv
 * compiles the very same schema then). Only a schema the library got wrong would now fail at first use
 * instead of at import.
 *
 * It works only if it runs before the options modules: import the library through `./producer-client.ts`
 * or `./admin-client.ts` (they import this first), never through the package index, which evaluates all of
 * it, consumer, admin and schema registries included. When the index was imported earlier in the process
 * (the local runner, tests), the validators are compiled already and this changes nothing.
 * Upstream: lazy validators would belong in the library itself (docs/toolchain.md).
 */
import type { ValidateFunction } from 'ajv';
// A file of the package, not its index (which is all the package exports): the index would run the options
// modules before this one could patch anything. See ./producer-client.ts for why the path reaches into node_modules.
import { ajv } from '../../../../node_modules/@platformatic/kafka/dist/utils.js';

/** Marks the validators built here (tests check that the library's validators are these). */
export const LAZY_VALIDATOR = Symbol.for('log-enrichment.lazy-ajv-validator');

type Compile = (schema: object, meta?: boolean) => ValidateFunction;

/** `compile` of `instance`, made lazy; idempotent (a second call changes nothing). */
export function makeCompileLazy(instance: { compile: Compile }): void {
  if (LAZY_VALIDATOR in instance.compile) return;
  const eager = instance.compile.bind(instance);
  const lazyCompile = (schema: object, meta?: boolean): ValidateFunction => {
    let compiled: ValidateFunction | undefined;
    const validate = function (this: unknown, data: unknown, context?: Parameters<ValidateFunction>[1]) {
      compiled ??= eager(schema, meta);
      const valid = compiled.call(this, data, context);
      validate.errors = compiled.errors;
      return valid;
    } as ValidateFunction;
    validate.errors = null;
    validate.schema = schema;
    Object.defineProperty(validate, LAZY_VALIDATOR, { value: true });
    return validate;
  };
  Object.defineProperty(lazyCompile, LAZY_VALIDATOR, { value: true });
  instance.compile = lazyCompile;
}

makeCompileLazy(ajv as unknown as { compile: Compile });
