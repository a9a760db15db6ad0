/**
 * The ElastiCache IAM token against botocore's presigner (the reference implementation AWS's own SDKs share).
 * GOLDEN was produced once with botocore 1.43.11:
 *
 *   python3 - <<'EOF'
 *   import datetime
 *   from unittest import mock
 *   import botocore.session
 *   from botocore.credentials import Credentials
 *   from botocore.model import ServiceId
 *   from botocore.signers import RequestSigner
 *   creds = Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'session-token-example')
 *   signer = RequestSigner(ServiceId('elasticache'), 'eu-west-1', 'elasticache', 'v4', creds,
 *                          botocore.session.get_session().get_component('event_emitter'))
 *   request = {'method': 'GET', 'url': 'https://dev-le-cache/?Action=connect&User=dev-le-enrich',
 *              'body': {}, 'headers': {}, 'context': {}}
 *   with mock.patch('botocore.auth.get_current_datetime', return_value=datetime.datetime(2026, 1, 2, 3, 4, 5)):
 *       print(signer.generate_presigned_url(request, region_name='eu-west-1', expires_in=900,
 *                                           operation_name='connect').removeprefix('https://'))
 *   EOF
 */
import { ElastiCacheTokens, signElastiCacheToken } from '../../../layers/shared/src/clients/elasticache-token.ts';

const GOLDEN =
  'dev-le-cache/?Action=connect&User=dev-le-enrich&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
  '&X-Amz-Credential=AKIDEXAMPLE%2F20260102%2Feu-west-1%2Felasticache%2Faws4_request&X-Amz-Date=20260102T030405Z' +
  '&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=session-token-example' +
  '&X-Amz-Signature=97cccd46425b1d96322c6a00999b4902585d795efbbe04df7484f29370f918de';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token-example',
};
const signedAt = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
const options = { cacheName: 'dev-le-cache', user: 'dev-le-enrich', region: 'eu-west-1', credentials, now: () => signedAt };

/** Host, path and parameters: the order of query parameters differs between signers and means nothing. */
function parts(token: string): { target: string; params: Record<string, string> } {
  const url = new URL(`https://${token}`);
  return { target: `${url.host}${url.pathname}`, params: Object.fromEntries([...url.searchParams].sort()) };
}

it('signs the same token as botocore for the same credentials, time and cache', async () => {
  // Act
  const { token, expiresAt } = await signElastiCacheToken(options);

  // Assess
  expect(parts(token)).toEqual(parts(GOLDEN));
  expect(expiresAt).toBe(signedAt.getTime() + 900_000);
});

it('has no scheme, asks to connect as the user and lasts 15 minutes', async () => {
  const { token } = await signElastiCacheToken(options);

  expect(token.startsWith('dev-le-cache/?')).toBe(true);
  const { params } = parts(token);
  expect(params).toMatchObject({ Action: 'connect', User: 'dev-le-enrich', 'X-Amz-Expires': '900' });
});

it('never outlives the credentials it was signed with', async () => {
  const expiring = { ...credentials, expiration: new Date(signedAt.getTime() + 120_000) };

  const { token, expiresAt } = await signElastiCacheToken({ ...options, credentials: expiring });

  expect(parts(token).params['X-Amz-Expires']).toBe('120');
  expect(expiresAt).toBe(signedAt.getTime() + 120_000);
});

it('reuses a token for ten minutes and signs a new one after', async () => {
  // Prepare
  let now = signedAt.getTime();
  const signed: number[] = [];
  const tokens = new ElastiCacheTokens({ ...options, now: () => new Date(now) }, async (o) => {
    signed.push(now);
    return { token: `token-${signed.length}`, expiresAt: (o.now?.() ?? new Date()).getTime() + 900_000 };
  });

  // Act + Assess
  expect(await tokens.current()).toBe('token-1');
  now += 9 * 60_000 + 59_000;
  expect(await tokens.current()).toBe('token-1');
  now += 1_000;
  expect(await tokens.current()).toBe('token-2');
  expect(signed).toHaveLength(2);
});

it('signs once for concurrent callers', async () => {
  let calls = 0;
  const tokens = new ElastiCacheTokens(options, async () => {
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { token: 't', expiresAt: signedAt.getTime() + 900_000 };
  });

  const answers = await Promise.all([tokens.current(), tokens.current(), tokens.current()]);

  expect(answers).toEqual(['t', 't', 't']);
  expect(calls).toBe(1);
});
