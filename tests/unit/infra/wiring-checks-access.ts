/**
 * Wiring checks, access: secrets bound to functions, the REST API's routes, Lambda permissions and the usage
 * plan behind its API keys.
 */
import { FAKE, type Located, type TemplateModel } from './template-eval.ts';
import { allows, type FunctionInfo, functionByName, functions, nameOf, statementsOf, verdict, wildcard } from './template-match.ts';

/** A Secrets Manager secret ARN inside any text (an environment value, a JSON list). */
export const SECRET_ARN = /arn:[^:"\s]+:secretsmanager:[^:"\s]+:\d+:secret:[^"\s,\]}]+/g;

/**
 * Every secret ARN in a function's environment (a `*_SECRET_ARN` variable, or inside a JSON value) can be
 * read by its role (GetSecretValue, and kms:Decrypt when the secret has its own key); and a house function
 * (POWERTOOLS_SERVICE_NAME) reads no secret it is not given.
 */
export const boundSecretsGranted = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  for (const fn of functions(model)) {
    const bound = new Set(Object.values(fn.env).flatMap((value) => value.match(SECRET_ARN) ?? []));
    if (bound.size === 0 && fn.service === undefined) continue;
    const statements = fn.role === undefined ? [] : statementsOf(model, fn);
    for (const arn of bound) {
      verified += 1;
      if (!allows(statements, 'secretsmanager:GetSecretValue', arn)) problems.push(`${nameOf(fn)}: cannot read secret ${arn}`);
      const secret = model.resources('AWS::SecretsManager::Secret').find((s) => model.ref(s) === arn);
      const keyId = secret === undefined ? undefined : model.prop(secret, 'KmsKeyId');
      if (keyId !== undefined) {
        const key = model.byValue(String(keyId));
        const keyArn = key === undefined ? String(keyId) : model.att(key, 'Arn');
        if (!allows(statements, 'kms:Decrypt', keyArn)) problems.push(`${nameOf(fn)}: cannot decrypt secret ${arn} (${keyArn})`);
      }
    }
    if (fn.service === undefined) continue;
    for (const statement of statements) {
      if (statement.Effect !== 'Allow') continue;
      if (![statement.Action ?? []].flat().some((a) => wildcard(a, 'secretsmanager:GetSecretValue', true))) continue;
      for (const resource of [statement.Resource ?? []].flat()) {
        if (![...bound].includes(resource)) problems.push(`${nameOf(fn)}: may read secret ${resource}, which it is not given`);
      }
    }
  }
  return verdict(problems, verified);
};

/** Which function serves which path of the REST API (POWERTOOLS_SERVICE_NAME). */
export const ROUTES: readonly { readonly path: RegExp; readonly service: string }[] = [
  { path: /^\/api\/logs$/, service: 'ingest' },
  { path: /^\/api\/health$/, service: 'ingest' },
  { path: /^\/api\/metadata(\/.*)?$/, service: 'metadata' },
];

export interface ApiMethod {
  readonly loc: Located;
  readonly apiId: string;
  readonly httpMethod: string;
  readonly path: string;
}

function resourcePath(model: TemplateModel, apiId: string, resourceId: string): string {
  const api = model.resources('AWS::ApiGateway::RestApi').find((a) => model.ref(a) === apiId);
  if (api !== undefined && model.att(api, 'RootResourceId') === resourceId) return '';
  const resource = model.resources('AWS::ApiGateway::Resource').find((r) => model.ref(r) === resourceId);
  if (resource === undefined) return `/<unknown ${resourceId}>`;
  return `${resourcePath(model, apiId, String(model.prop(resource, 'ParentId')))}/${String(model.prop(resource, 'PathPart'))}`;
}

/** The REST API methods with their full paths (`/api/logs`). */
export function apiMethods(model: TemplateModel): ApiMethod[] {
  return model.resources('AWS::ApiGateway::Method').map((loc) => {
    const apiId = String(model.prop(loc, 'RestApiId'));
    return {
      loc,
      apiId,
      httpMethod: String(model.prop(loc, 'HttpMethod')),
      path: resourcePath(model, apiId, String(model.prop(loc, 'ResourceId'))) || '/',
    };
  });
}

function stageNames(model: TemplateModel, apiId: string): string[] {
  return model
    .resources('AWS::ApiGateway::Stage')
    .filter((s) => model.prop(s, 'RestApiId') === apiId)
    .map((s) => model.ref(s));
}

/** The function an AWS_PROXY integration invokes (`…:lambda:path/2015-03-31/functions/<arn>/invocations`). */
export function integratedFunction(model: TemplateModel, method: ApiMethod): FunctionInfo | undefined {
  const integration = model.prop(method.loc, 'Integration') as { Type?: string; Uri?: string } | undefined;
  const arn = /:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/.exec(integration?.Uri ?? '')?.[1];
  return arn === undefined ? undefined : functionByName(model, arn);
}

/** An invocation ARN API Gateway would present for a request to the method on `stage`. */
function sampleSourceArn(method: ApiMethod, stage: string): string {
  const verb = method.httpMethod === 'ANY' ? 'GET' : method.httpMethod;
  const path = method.path.replace(/\{[^}]+\+\}/g, 'hosts/web-1').replace(/\{[^}]+\}/g, 'x');
  return `arn:${FAKE.partition}:execute-api:${FAKE.region}:${FAKE.account}:${method.apiId}/${stage}/${verb}${path}`;
}

/**
 * Every Lambda method of the API invokes the function its route belongs to (POST /api/logs → ingest,
 * /api/metadata/… → metadata), and a Lambda permission lets API Gateway invoke it for requests to a deployed
 * stage (its SourceArn matches the request's ARN).
 */
export const apiRoutesIntegrate = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  const permissions = model.resources('AWS::Lambda::Permission').map((loc) => ({
    fn: functionByName(model, String(model.prop(loc, 'FunctionName'))),
    action: model.prop(loc, 'Action'),
    principal: model.prop(loc, 'Principal'),
    sourceArn: model.prop(loc, 'SourceArn') as string | undefined,
  }));
  for (const method of apiMethods(model)) {
    const fn = integratedFunction(model, method);
    if (fn === undefined) continue;
    verified += 1;
    const label = `${method.httpMethod} ${method.path}`;
    const route = ROUTES.find((r) => r.path.test(method.path));
    if (route === undefined) problems.push(`${label}: no route is expected here`);
    else if (fn.service !== route.service) problems.push(`${label}: integrates ${nameOf(fn)}, not ${route.service}`);
    const stages = stageNames(model, method.apiId);
    if (stages.length === 0) problems.push(`${label}: the API has no stage`);
    const allowed = stages.some((stage) => {
      const request = sampleSourceArn(method, stage);
      return permissions.some(
        (p) =>
          p.fn?.arn === fn.arn &&
          p.action === 'lambda:InvokeFunction' &&
          p.principal === 'apigateway.amazonaws.com' &&
          p.sourceArn !== undefined &&
          wildcard(p.sourceArn, request),
      );
    });
    if (!allowed) problems.push(`${label}: no Lambda permission lets API Gateway invoke ${nameOf(fn)} for a deployed stage`);
  }
  return verdict(problems, verified);
};

/**
 * Every method that requires an API key is on a stage of a usage plan (a key only works on the plan's API
 * stages: elsewhere every request answers 403), and that plan has an API key; POST /api/logs requires a key.
 */
export const usagePlanCoversKeyedMethods = (model: TemplateModel): number => {
  const problems: string[] = [];
  let verified = 0;
  const plans = model.resources('AWS::ApiGateway::UsagePlan').map((loc) => ({
    ref: model.ref(loc),
    stages: (model.prop(loc, 'ApiStages') as { ApiId: string; Stage: string }[] | undefined) ?? [],
  }));
  const keys = new Set(model.resources('AWS::ApiGateway::ApiKey').filter((k) => model.prop(k, 'Enabled') !== false).map((k) => model.ref(k)));
  const keyedPlans = new Set(
    model
      .resources('AWS::ApiGateway::UsagePlanKey')
      .filter((k) => model.prop(k, 'KeyType') === 'API_KEY' && keys.has(String(model.prop(k, 'KeyId'))))
      .map((k) => String(model.prop(k, 'UsagePlanId'))),
  );
  for (const method of apiMethods(model)) {
    const fn = integratedFunction(model, method);
    const label = `${method.httpMethod} ${method.path}`;
    const keyed = model.prop(method.loc, 'ApiKeyRequired') === true;
    if (method.httpMethod === 'POST' && method.path === '/api/logs' && fn !== undefined && !keyed) {
      problems.push(`${label}: requires no API key`);
    }
    if (!keyed) continue;
    verified += 1;
    const stages = stageNames(model, method.apiId);
    const covering = plans.filter((p) => p.stages.some((s) => s.ApiId === method.apiId && stages.includes(s.Stage)));
    if (covering.length === 0) problems.push(`${label}: requires an API key, but no usage plan covers a stage of its API`);
    else if (!covering.some((p) => keyedPlans.has(p.ref))) problems.push(`${label}: the usage plan covering it has no API key`);
  }
  return verdict(problems, verified);
};
