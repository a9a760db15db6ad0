import { canonicalIp } from '#shared/net/ip.ts';

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
