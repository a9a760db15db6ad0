/**
 * Typed errors, mapped to HTTP in one place (`http/responses.ts`). 4xx messages are meant for the
 * client; anything else becomes a bare 500/503 and its detail goes to the log only.
 */

/** One problem with one field of the input; `index` is the record's position in a batch. */
export interface FieldProblem {
  field: string;
  reason: string;
  index?: number;
}

export class AppError extends Error {
  readonly statusCode: number = 500;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request is well-formed JSON but a field is wrong (422), or the body cannot be read at all (400). */
export class ValidationError extends AppError {
  override readonly statusCode: 400 | 422;
  readonly problems: FieldProblem[];
  constructor(problems: FieldProblem[], statusCode: 400 | 422 = 422) {
    super(problems.map((p) => `${p.index === undefined ? '' : `[${p.index}].`}${p.field}: ${p.reason}`).join('; '));
    this.problems = problems;
    this.statusCode = statusCode;
  }
}

export class UnauthorizedError extends AppError {
  override readonly statusCode = 401;
}

export class ForbiddenError extends AppError {
  override readonly statusCode = 403;
}

export class NotFoundError extends AppError {
  override readonly statusCode = 404;
}

export class MethodNotAllowedError extends AppError {
  override readonly statusCode = 405;
}

export class ConflictError extends AppError {
  override readonly statusCode = 409;
}

export class PayloadTooLargeError extends AppError {
  override readonly statusCode = 413;
  readonly limit: number;
  constructor(message: string, limit: number) {
    super(message);
    this.limit = limit;
  }
}

export class UnsupportedMediaTypeError extends AppError {
  override readonly statusCode = 415;
}

/** A dependency is down; the client should retry after `retryAfterSeconds`. */
export class ServiceUnavailableError extends AppError {
  override readonly statusCode = 503;
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: ErrorOptions) {
    super(message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
