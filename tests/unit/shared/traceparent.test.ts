/**
 * W3C traceparent parsing and formatting, the X-Ray header conversion, and the two processing modes the
 * pipeline uses (ingest continues a trace, enrich forwards it). Examples are the spec's own where it has them.
 */
import {
  continueTrace,
  formatTraceparent,
  forwardTrace,
  newSpanId,
  newTraceId,
  parseTraceparent,
  parseXRayTraceHeader,
  validTracestate,
} from '#shared/tracing/traceparent.ts';

const SPEC_EXAMPLE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const OUR_SPAN = 'b7ad6b7169203331';
const LAMBDA_XRAY = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';

describe('parseTraceparent / formatTraceparent', () => {
  it('reads the spec example and writes it back unchanged (round trip)', () => {
    const parsed = parseTraceparent(SPEC_EXAMPLE);
    expect(parsed).toEqual({ traceId: TRACE_ID, parentId: '00f067aa0ba902b7', sampled: true });
    expect(formatTraceparent(parsed as NonNullable<typeof parsed>)).toBe(SPEC_EXAMPLE);
  });

  it('round-trips an unsampled context and generated ids', () => {
    const context = { traceId: newTraceId(), parentId: newSpanId(), sampled: false };
    expect(parseTraceparent(formatTraceparent(context))).toEqual(context);
    expect(context.traceId).toMatch(/^[\da-f]{32}$/);
    expect(context.parentId).toMatch(/^[\da-f]{16}$/);
  });

  it('reads the sampled bit of the flags, masking the others (which it writes back as zero)', () => {
    const parsed = parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09');
    expect(parsed?.sampled).toBe(true);
    expect(formatTraceparent(parsed as NonNullable<typeof parsed>)).toBe(SPEC_EXAMPLE);
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02')?.sampled).toBe(false);
  });

  it('parses a later version by its first four fields, and refuses extra fields on version 00', () => {
    expect(parseTraceparent('cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds')).toEqual({
      traceId: TRACE_ID,
      parentId: '00f067aa0ba902b7',
      sampled: true,
    });
    expect(parseTraceparent(`${SPEC_EXAMPLE}-extra`)).toBeUndefined();
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['version ff (forbidden)', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['trace id all zeros', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['parent id all zeros', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
    ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
    ['long parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7a-01'],
    ['non-hex flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g'],
    ['missing flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7'],
    ['wrong separator', '00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01'],
    ['an X-Ray header', LAMBDA_XRAY],
    ['later version without the dash after its flags', 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x'],
  ])('ignores a malformed traceparent: %s', (_label, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('tolerates the surrounding whitespace of a header value', () => {
    expect(parseTraceparent(` ${SPEC_EXAMPLE} `)?.traceId).toBe(TRACE_ID);
  });
});

describe('parseXRayTraceHeader', () => {
  it("converts Lambda's _X_AMZN_TRACE_ID: root parts joined as the trace id, Parent, Sampled=1", () => {
    expect(parseXRayTraceHeader(LAMBDA_XRAY)).toEqual({ traceId: '5759e988bd862e3fe1be46a994272793', parentId: '53995c3f42cd8ad8', sampled: true });
  });

  it('reads the fields in any order, with Lineage and spaces, and treats Sampled=0 and ? as not sampled', () => {
    expect(parseXRayTraceHeader('Sampled=0; Lineage=a87bd80c:1|68fd508a:5; Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8')).toMatchObject({
      traceId: '5759e988bd862e3fe1be46a994272793',
      sampled: false,
    });
    expect(parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?')).toEqual({
      traceId: '5759e988bd862e3fe1be46a994272793',
      parentId: undefined,
      sampled: false,
    });
  });

  it.each([
    ['absent', undefined],
    ['no root', 'Parent=53995c3f42cd8ad8;Sampled=1'],
    ['root of another version', 'Root=2-5759e988-bd862e3fe1be46a994272793'],
    ['root with a short id', 'Root=1-5759e988-bd862e3fe1be46a99427279'],
    ['a traceparent', SPEC_EXAMPLE],
  ])('gives nothing for %s', (_label, value) => {
    expect(parseXRayTraceHeader(value)).toBeUndefined();
  });

  it('drops a parent that is not a span id but keeps the trace', () => {
    expect(parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz;Sampled=1')?.parentId).toBeUndefined();
  });
});

describe('continueTrace (ingest: taking part in the trace)', () => {
  it("continues a client's valid traceparent: same trace id and sampled flag, our span as the parent", () => {
    expect(continueTrace({ traceparent: SPEC_EXAMPLE, xray: LAMBDA_XRAY }, OUR_SPAN)).toEqual({
      traceparent: `00-${TRACE_ID}-${OUR_SPAN}-01`,
    });
  });

  it("passes the client's tracestate on with its traceparent", () => {
    expect(continueTrace({ traceparent: SPEC_EXAMPLE, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' }, OUR_SPAN)).toEqual({
      traceparent: `00-${TRACE_ID}-${OUR_SPAN}-01`,
      tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    });
  });

  it("falls back to the invocation's X-Ray trace when the client sent none, or an invalid one (and drops its tracestate)", () => {
    const expected = { traceparent: `00-5759e988bd862e3fe1be46a994272793-${OUR_SPAN}-01` };
    expect(continueTrace({ xray: LAMBDA_XRAY }, OUR_SPAN)).toEqual(expected);
    expect(continueTrace({ traceparent: '00-zz-yy-01', tracestate: 'congo=t61rcWkgMzE', xray: LAMBDA_XRAY }, OUR_SPAN)).toEqual(expected);
  });

  it('starts a new, unsampled trace when there is neither (outside Lambda)', () => {
    const { traceparent, tracestate } = continueTrace({}, OUR_SPAN);
    expect(traceparent).toMatch(new RegExp(`^00-[\\da-f]{32}-${OUR_SPAN}-00$`));
    expect(tracestate).toBeUndefined();
    expect(continueTrace({}, OUR_SPAN).traceparent).not.toBe(traceparent);
  });
});

describe('forwardTrace (enrich: passing the trace on)', () => {
  it('forwards a valid traceparent exactly as it came, with its tracestate', () => {
    expect(forwardTrace({ traceparent: SPEC_EXAMPLE, tracestate: 'congo=t61rcWkgMzE' })).toEqual({ traceparent: SPEC_EXAMPLE, tracestate: 'congo=t61rcWkgMzE' });
    const later = 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future';
    expect(forwardTrace({ traceparent: later })).toEqual({ traceparent: later });
  });

  it('forwards nothing for an absent or invalid traceparent, whatever the tracestate', () => {
    expect(forwardTrace({})).toBeUndefined();
    expect(forwardTrace({ traceparent: 'garbage', tracestate: 'congo=t61rcWkgMzE' })).toBeUndefined();
  });
});

describe('validTracestate', () => {
  it('keeps printable state of up to 512 characters and drops the rest whole', () => {
    expect(validTracestate(' congo=t61rcWkgMzE ')).toBe('congo=t61rcWkgMzE');
    expect(validTracestate(`a=${'x'.repeat(510)}`)).toHaveLength(512);
    expect(validTracestate(`a=${'x'.repeat(511)}`)).toBeUndefined();
    expect(validTracestate('a=\u0001')).toBeUndefined();
    expect(validTracestate('   ')).toBeUndefined();
  });
});
