import { canonicalIp, formatCidr, formatIp, parseCidr, parseIp } from '#shared/net/ip.ts';

describe('canonicalIp', () => {
  // Expected values are what PostgreSQL 15 prints for `host('<input>'::inet)`.
  it.each([
    ['192.168.1.100', '192.168.1.100'],
    ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['FE80::0:1', 'fe80::1'],
    ['::1', '::1'],
    ['::2', '::2'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::FFFF:102:304', '::ffff:1.2.3.4'],
    ['::ffff:0:0', '::ffff:0.0.0.0'],
    ['::102:304', '::1.2.3.4'],
    ['::fffe:1.2.3.4', '::fffe:102:304'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
  ])('writes %s as PostgreSQL does: %s', (input, expected) => {
    // Act
    const canonical = canonicalIp(input);

    // Assess
    expect(canonical).toBe(expected);
  });
});

describe('parseIp and formatIp', () => {
  it.each([
    ['192.168.1.100', '192.168.1.100'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
  ])('reads %s and writes it canonically as %s', (text, canonical) => {
    // Act
    const parsed = parseIp(text);

    // Assess
    expect(parsed).toBeDefined();
    expect(parsed === undefined ? undefined : formatIp(parsed)).toBe(canonical);
  });

  it.each(['192.168.1.256', '01.2.3.4', '1.2.3', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', 'host', ''])(
    'rejects %j',
    (text) => {
      // Act
      const parsed = parseIp(text);

      // Assess
      expect(parsed).toBeUndefined();
    },
  );
});

describe('parseCidr', () => {
  it('says a network written with host bits set has them, and what its network address is', () => {
    // Act
    const cidr = parseCidr('10.20.1.0/16');

    // Assess
    expect(cidr?.hostBitsSet).toBe(true);
    expect(cidr === undefined ? undefined : formatCidr(cidr)).toBe('10.20.0.0/16');
  });

  it.each([
    ['10.20.0.0/16', '10.20.0.0/16'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['192.168.1.7/32', '192.168.1.7/32'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['::/0', '::/0'],
    ['fd12:3456:789a:1::/64', 'fd12:3456:789a:1::/64'],
  ])('accepts %s as a network without host bits, canonically %s', (text, canonical) => {
    // Act
    const cidr = parseCidr(text);

    // Assess
    expect(cidr?.hostBitsSet).toBe(false);
    expect(cidr === undefined ? undefined : formatCidr(cidr)).toBe(canonical);
  });

  it('finds host bits in the low bits of an IPv6 network', () => {
    // Act
    const cidr = parseCidr('2001:db8::1/64');

    // Assess
    expect(cidr?.hostBitsSet).toBe(true);
    expect(cidr === undefined ? undefined : formatCidr(cidr)).toBe('2001:db8::/64');
  });

  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/1x', '::/129', 'x/8'])('rejects %j', (text) => {
    // Act
    const cidr = parseCidr(text);

    // Assess
    expect(cidr).toBeUndefined();
  });
});
