import { isLocalTarget, parseLoadOptions, UsageError } from '../../../load/lib/options.ts';

describe('parseLoadOptions', () => {
  it('defaults to 100 logs/s for 60 s against the local ingest, one log per request', () => {
    expect(parseLoadOptions([])).toEqual({
      rate: 100,
      duration: 60,
      url: 'http://127.0.0.1:8080',
      batch: 1,
      maxInFlight: 1024,
      drainTimeout: 30,
      accounting: true,
    });
  });

  it('reads every flag', () => {
    // Act
    const options = parseLoadOptions([
      '--rate', '500', '--duration', '10', '--url', 'https://api.example.test/prod', '--api-key', 'k1',
      '--batch', '20', '--brokers', 'b1:9098,b2:9098', '--max-in-flight', '64', '--drain-timeout', '5', '--no-accounting',
    ]);

    // Assess
    expect(options).toEqual({
      rate: 500,
      duration: 10,
      url: 'https://api.example.test/prod',
      apiKey: 'k1',
      batch: 20,
      brokers: 'b1:9098,b2:9098',
      maxInFlight: 64,
      drainTimeout: 5,
      accounting: false,
    });
  });

  it('treats an empty value as unset, as the shell wrapper passes unset variables', () => {
    expect(parseLoadOptions(['--rate', '', '--url', '', '--api-key', ''])).toMatchObject({ rate: 100, url: 'http://127.0.0.1:8080' });
    expect(parseLoadOptions(['--api-key', '']).apiKey).toBeUndefined();
  });

  it('lists every bad flag at once, by its flag name', () => {
    // Act
    const failure = (() => {
      try {
        parseLoadOptions(['--rate=-1', '--batch', '0', '--max-in-flight', 'many']);
      } catch (error) {
        return error;
      }
    })();

    // Assess
    expect(failure).toBeInstanceOf(UsageError);
    expect((failure as Error).message).toMatch(/--rate:/);
    expect((failure as Error).message).toMatch(/--batch:/);
    expect((failure as Error).message).toMatch(/--max-in-flight:/);
  });

  it('refuses an unknown flag with the usage', () => {
    expect(() => parseLoadOptions(['--rps', '5'])).toThrow(/usage: npm run load/);
  });
});

describe('isLocalTarget', () => {
  it('recognises the loopback names and nothing else', () => {
    expect(
      ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'https://abc.execute-api.eu-west-1.amazonaws.com/prod'].map(
        isLocalTarget,
      ),
    ).toEqual([true, true, true, false]);
  });
});
