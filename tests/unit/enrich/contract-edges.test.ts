/**
 * Records on raw-logs from any producer at the input contract's edges: each is a dead letter with the
 * contract's own reason (never a thrown batch, never a generic error), or a log whose lookup keys PostgreSQL
 * and the enriched event's schema accept.
 */
import { decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { kafkaRecord } from './fakes.ts';

const base64 = (text: string) => Buffer.from(text).toString('base64');
const log = { level: 'INFO', message: 'm', service: 's', hostname: 'h' };

describe('decodeRecord at the contract’s edges', () => {
  it.each([
    ['an extra field', `${JSON.stringify(log).slice(0, -1)},"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'a'],
    ['an attribute', `${JSON.stringify(log).slice(0, -1)},"attributes":{"b":${'['.repeat(5000)}${']'.repeat(5000)}}}`, 'attributes.b'],
  ])('dead-letters %s nested 5,000 levels deep, naming it', (_, text, field) => {
    expect(decodeRecord(kafkaRecord(base64(text)))).toMatchObject({ ok: false, reason: 'invalid', problems: [{ field, reason: 'is nested deeper than 32 levels' }] });
  });

  it('dead-letters a hostname with NUL instead of sending it to the hosts query', () => {
    expect(decodeRecord(kafkaRecord({ ...log, hostname: 'a\u0000b' }))).toMatchObject({ ok: false, reason: 'invalid', problems: [{ field: 'hostname' }] });
  });

  it('dead-letters a timestamp that leaves year 9999 in UTC, which the enriched event could not carry', () => {
    expect(decodeRecord(kafkaRecord({ ...log, timestamp: '9999-12-31T23:59:59-01:00' }))).toMatchObject({
      ok: false,
      problems: [{ field: 'timestamp', reason: 'must be between 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z once converted to UTC' }],
    });
  });

  it('names attributes.__proto__ in dropped_attributes', () => {
    const decoded = decodeRecord(kafkaRecord(base64('{"level":"INFO","message":"m","service":"s","hostname":"h","attributes":{"__proto__":{"x":1},"a":1}}')));
    expect(decoded).toMatchObject({ ok: true, log: { attributes: { a: 1 }, dropped_attributes: ['__proto__'] } });
  });
});
