import { matches, parseWhere } from '../../../functions/enrich/src/replay/where.ts';

describe('--where', () => {
  const notFoundHost = { missing: { 'host.hostname': 'not_found', 'host.cost_center': 'not_found', 'host.zone': 'not_found' } };
  const unavailableService = { missing: { 'service.team': 'unavailable', 'host.zone': 'not_found' } };

  it('missing=<reason> selects a partial with that reason for some field', () => {
    const where = parseWhere(['missing=not_found']);
    expect(matches(where, notFoundHost)).toBe(true);
    expect(matches(where, unavailableService)).toBe(true); // host.zone is not_found there too
    expect(matches(parseWhere(['missing=unavailable']), notFoundHost)).toBe(false);
  });

  it('field=<field>[:<reason>] selects a partial missing that field (with that reason)', () => {
    expect(matches(parseWhere(['field=service.team']), unavailableService)).toBe(true);
    expect(matches(parseWhere(['field=service.team:not_found']), unavailableService)).toBe(false);
    expect(matches(parseWhere(['field=host.cost_center:not_found']), notFoundHost)).toBe(true);
  });

  it('every condition must hold; none selects everything', () => {
    expect(matches(parseWhere(['missing=not_found', 'field=service.team']), notFoundHost)).toBe(false);
    expect(matches(parseWhere(['missing=not_found', 'field=service.team']), unavailableService)).toBe(true);
    expect(matches([], {})).toBe(true);
  });

  it('reason=<reason> selects dead letters by their reason', () => {
    expect(matches(parseWhere(['reason=invalid']), { reason: 'invalid' })).toBe(true);
    expect(matches(parseWhere(['reason=invalid']), { reason: 'undecodable' })).toBe(false);
  });

  it('refuses unknown names, reasons and fields instead of matching everything', () => {
    expect(() => parseWhere(['missing=gone'])).toThrow(/"gone" is not one of not_found, unavailable, stale/);
    expect(() => parseWhere(['field=host.colour'])).toThrow(/"host.colour" is not one of/);
    expect(() => parseWhere(['status=partial'])).toThrow(/give missing=/);
    expect(() => parseWhere(['missing'])).toThrow(/"" is not one of/);
  });
});
