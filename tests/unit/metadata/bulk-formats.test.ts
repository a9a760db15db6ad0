import { csvHeader, exportLines, parseImport } from '../../../functions/metadata/src/bulk-formats.ts';

const HEADER = 'hostname,ipAddress,datacenter,environment,costCenter,tags';

describe('parseImport, CSV', () => {
  it('reads each data row into the object of its columns, with the line it is on', () => {
    // Prepare
    const text = `${HEADER}\nweb-1,10.0.0.5,eu-1,prod,ops,"{""rack"":""r1""}"\n\nweb-2,10.0.0.6,eu-1,prod,ops,\n`;

    // Act
    const parsed = parseImport('hosts', 'csv', text);

    // Assess
    expect(parsed).toEqual({
      rows: [
        {
          line: 2,
          input: { hostname: 'web-1', ipAddress: '10.0.0.5', datacenter: 'eu-1', environment: 'prod', costCenter: 'ops', tags: { rack: 'r1' } },
        },
        { line: 4, input: { hostname: 'web-2', ipAddress: '10.0.0.6', datacenter: 'eu-1', environment: 'prod', costCenter: 'ops' } },
      ],
      problems: [],
      fatal: false,
    });
  });

  it('reads CRLF files and a BOM, and reports a quoted value spanning lines at the line its record starts on', () => {
    // Prepare
    const text = `\uFEFF${HEADER}\r\nweb-1,10.0.0.5,eu-1,prod,ops,\r\n"web\r\n2",10.0.0.6,eu-1,prod,ops,\r\nweb-3,10.0.0.7,eu-1,prod,ops,\r\n`;

    // Act
    const parsed = parseImport('hosts', 'csv', text);

    // Assess
    expect(parsed.rows.map((row) => [row.line, row.input.hostname])).toEqual([
      [2, 'web-1'],
      [3, 'web\n2'],
      [5, 'web-3'],
    ]);
  });

  it('names the line, field and reason of a row with the wrong number of values or a tags cell that is not JSON', () => {
    // Prepare
    const text = `${HEADER}\nweb-1,10.0.0.5,eu-1\nweb-2,10.0.0.6,eu-1,prod,ops,{rack}\nweb-3,10.0.0.7,eu-1,prod,ops,\n`;

    // Act
    const parsed = parseImport('hosts', 'csv', text);

    // Assess
    expect(parsed.problems).toEqual([
      { line: 2, field: '(row)', reason: 'has 3 values; the header names 6 columns' },
      { line: 3, field: 'tags', reason: 'must be a JSON object such as {"rack":"r1"}' },
    ]);
    expect(parsed.rows.map((row) => row.line)).toEqual([4]);
    expect(parsed.fatal).toBe(false);
  });

  it('refuses the whole file for an unknown or missing column in the header', () => {
    // Act
    const parsed = parseImport('hosts', 'csv', 'hostname,ip_address,datacenter,environment,costCenter\nweb-1,10.0.0.5,eu-1,prod,ops\n');

    // Assess
    expect(parsed.fatal).toBe(true);
    expect(parsed.problems.map((problem) => `${problem.line} ${problem.field}`)).toEqual(['1 ip_address', '1 ipAddress']);
    expect(parsed.rows).toEqual([]);
  });

  it.each(['__proto__', 'toString', 'constructor', 'hasOwnProperty'])('refuses a header column named %s (not a column, whatever Object.prototype holds)', (name) => {
    // Act
    const parsed = parseImport('hosts', 'csv', `${name},hostname,ipAddress,datacenter,environment,costCenter\nx,web-1,10.0.0.5,eu-1,prod,ops\n`);

    // Assess
    expect(parsed.fatal).toBe(true);
    expect(parsed.problems).toEqual([{ line: 1, field: name, reason: expect.stringMatching(/^is not a known column/) }]);
  });

  it('refuses the whole file for a CSV syntax error, naming its line', () => {
    // Act
    const parsed = parseImport('services', 'csv', 'name,team,owner,tier,version,costCenter\ncheckout,"pay,ops,t1,1,cc\n');

    // Assess
    expect(parsed.fatal).toBe(true);
    expect(parsed.problems).toEqual([{ line: expect.any(Number), field: '(csv)', reason: expect.stringMatching(/^is not valid CSV: Quote Not Closed/) }]);
  });
});

describe('parseImport, NDJSON', () => {
  it('reads one object per line, skips blank lines, and names each line that is not a JSON object', () => {
    // Prepare
    const text = '{"name":"a"}\n\n{"name":\n[1]\r\n{"name":"b"}';

    // Act
    const parsed = parseImport('services', 'ndjson', text);

    // Assess
    expect(parsed.rows).toEqual([
      { line: 1, input: { name: 'a' } },
      { line: 5, input: { name: 'b' } },
    ]);
    expect(parsed.problems.map((problem) => [problem.line, problem.field, problem.reason.slice(0, 20)])).toEqual([
      [3, '(line)', 'is not valid JSON (U'],
      [4, '(line)', 'must be a JSON objec'],
    ]);
  });

  it('ignores one leading UTF-8 BOM, as CSV does', () => {
    // Act
    const parsed = parseImport('services', 'ndjson', '\uFEFF{"name":"a"}\n{"name":"b"}\n');

    // Assess
    expect(parsed).toEqual({ rows: [{ line: 1, input: { name: 'a' } }, { line: 2, input: { name: 'b' } }], problems: [], fatal: false });
  });
});

describe('CSV formula escaping (OWASP "CSV Injection")', () => {
  const service = (values: Record<string, string>) => ({
    name: 'checkout',
    team: 'pay',
    owner: 'ann',
    tier: 't1',
    version: '1',
    costCenter: 'cc',
    tags: {},
    ...values,
  });

  it('writes a cell that starts with = + - @ TAB or CR behind a single quote, and a plain cell as it is', () => {
    // Prepare
    const record = service({ team: '=HYPERLINK("http://x","y")', owner: '+1+1', tier: '-2', version: '@SUM(1)', costCenter: '\tx', name: '\rn' });

    // Act
    const [line] = exportLines('services', 'csv', [record]);

    // Assess
    expect(line).toBe(`"'\rn","'=HYPERLINK(""http://x"",""y"")",'+1+1,'-2,'@SUM(1),'\tx,{},,\n`);
    expect(exportLines('services', 'csv', [service({ team: "o'brien", owner: 'a=b' })])[0]).toBe("checkout,o'brien,a=b,t1,1,cc,{},,\n");
  });

  it('reads the escaped cells back to the values exported, a value that starts with quotes included', () => {
    // Prepare
    const values = { team: '=1+1', owner: "'=already quoted", tier: "''-x", version: "'plain", costCenter: '@cc' };
    const text = csvHeader('services') + exportLines('services', 'csv', [service(values)]).join('');

    // Act
    const parsed = parseImport('services', 'csv', text);

    // Assess
    expect(text.split('\n')[1]).toBe(`checkout,'=1+1,''=already quoted,'''-x,'plain,'@cc,{},,`);
    expect(parsed.rows[0]?.input).toMatchObject(values);
  });

  it('strips one leading quote before a formula character on import, and leaves a hand-written formula as it is', () => {
    // Act
    const parsed = parseImport('services', 'csv', "name,team,owner,tier,version,costCenter\ncheckout,'=x,=y,'-1,'x,it's\n");

    // Assess
    expect(parsed.rows[0]?.input).toEqual({ name: 'checkout', team: '=x', owner: '=y', tier: '-1', version: "'x", costCenter: "it's" });
  });
});

describe('export lines', () => {
  it('writes CSV that parseImport reads back to the same values (quotes, commas, tags, null description)', () => {
    // Prepare
    const networks = [
      { cidr: '10.0.0.0/8', datacenter: 'eu, "west"', environment: 'prod', zone: 'a', description: null, createdAt: 'x', updatedAt: 'y' },
    ];

    // Act
    const text = csvHeader('networks') + exportLines('networks', 'csv', networks).join('');

    // Assess
    expect(text).toBe('cidr,datacenter,environment,zone,description,createdAt,updatedAt\n10.0.0.0/8,"eu, ""west""",prod,a,,x,y\n');
    expect(parseImport('networks', 'csv', text).rows[0]?.input).toEqual({
      cidr: '10.0.0.0/8',
      datacenter: 'eu, "west"',
      environment: 'prod',
      zone: 'a',
      createdAt: 'x',
      updatedAt: 'y',
    });
  });
});
