// Where --other-hosts=tunnel may go: decided on the resolved address, with every IPv6 spelling of
// a refused IPv4 address refused too, the cluster's ranges and kube-apiserver refused, and only an
// --allow-hosts entry reopening a destination.
import { expect } from 'chai';
import { StatusError } from '../../../machinery/status.js';
import {
  DestinationPolicy,
  parseAllowEntry,
  parseCidr,
  parseIp,
  type AllowEntry,
  type Lookup,
} from '../../../connproxy/destinations.js';

const cidrs = (...list: string[]) => list.map((c) => parseCidr(c)!);
const allow = (...list: string[]): AllowEntry[] => list.map((a) => parseAllowEntry(a)!);

describe('connproxy/destinations parseIp', () => {
  const cases: [string, { family: 4 | 6; value: bigint } | null][] = [
    ['127.0.0.1', { family: 4, value: 0x7f000001n }],
    ['0.0.0.0', { family: 4, value: 0n }],
    ['255.255.255.255', { family: 4, value: 0xffffffffn }],
    ['::', { family: 6, value: 0n }],
    ['::1', { family: 6, value: 1n }],
    ['fe80::1%eth0', { family: 6, value: (0xfe80n << 112n) | 1n }],
    ['2001:db8::8:800:200c:417a', { family: 6, value: 0x20010db80000000000080800200c417an }],
    // IPv4 inside IPv6: judged as the IPv4 address.
    ['::ffff:127.0.0.1', { family: 4, value: 0x7f000001n }],
    ['::ffff:7f00:1', { family: 4, value: 0x7f000001n }],
    ['::FFFF:A9FE:A9FE', { family: 4, value: 0xa9fea9fen }],
    ['0:0:0:0:0:ffff:169.254.169.254', { family: 4, value: 0xa9fea9fen }],
    ['::127.0.0.1', { family: 4, value: 0x7f000001n }],
    ['64:ff9b::a9fe:a9fe', { family: 4, value: 0xa9fea9fen }],
    ['127.1', null],
    ['localhost', null],
    ['1.2.3.256', null],
    ['[::1]', null],
  ];
  for (const [text, want] of cases) {
    it(`${text} → ${want ? `IPv${want.family} 0x${want.value.toString(16)}` : 'not an address'}`, () => {
      expect(parseIp(text)).to.deep.equal(want);
    });
  }
});

describe('connproxy/destinations parseCidr and parseAllowEntry', () => {
  const cidrCases: [string, string | null][] = [
    ['10.96.0.0/12', '4 a600000 12'],
    ['10.96.7.9/12', '4 a600000 12'], // host bits are dropped, as Go's net.ParseCIDR does
    ['192.0.2.1', '4 c0000201 32'],
    ['fd00:10:96::/112', '6 fd000010009600000000000000000000 112'],
    ['::1', '6 1 128'],
    ['10.0.0.0/33', null],
    ['fd00::/129', null],
    ['10.0.0.0/x', null],
    ['::ffff:10.0.0.0/104', null], // must be written as IPv4
    ['example.com/8', null],
    ['', null],
  ];
  for (const [text, want] of cidrCases) {
    it(`CIDR ${JSON.stringify(text)} → ${want ?? 'refused'}`, () => {
      const c = parseCidr(text);
      expect(c && `${c.family} ${c.value.toString(16)} ${c.bits}`).to.equal(want);
    });
  }

  const allowCases: [string, string | null][] = [
    ['10.1.2.3', '10.1.2.3/32 any'],
    ['10.1.2.3:8080', '10.1.2.3/32 8080'],
    ['10.0.0.0/8:443', '10.0.0.0/8 443'],
    ['fd00::/8', 'fd00::/8 any'],
    ['[fd00::1]:443', 'fd00::1/128 443'],
    ['[fd00::/8]:443', 'fd00::/8 443'],
    ['10.1.2.3:0', null],
    ['10.1.2.3:70000', null],
    ['host.example:80', null],
    ['[::1]', null],
  ];
  for (const [text, want] of allowCases) {
    it(`allow entry ${JSON.stringify(text)} → ${want ?? 'refused'}`, () => {
      const e = parseAllowEntry(text);
      if (want === null) {
        expect(e).to.equal(null);
        return;
      }
      const [cidr, port] = want.split(' ');
      expect(e?.cidr).to.deep.equal(parseCidr(cidr ?? ''));
      expect(e?.port).to.equal(port === 'any' ? undefined : Number(port));
    });
  }
});

describe('connproxy/destinations DestinationPolicy.refusal', () => {
  const policy = new DestinationPolicy({
    serviceRanges: cidrs('10.96.0.0/12', 'fd00:10:96::/112'),
    podRanges: cidrs('10.244.0.0/16'),
    allow: allow('127.0.0.1:9999', '10.96.0.10:53', '10.244.7.0/24', '169.254.170.2'),
    apiServer: ['192.0.2.10', '127.0.0.1'],
    own: ['10.0.0.5'],
  });
  const cases: [string, number, string | undefined][] = [
    // loopback, every spelling
    ['127.0.0.2', 80, 'a loopback address'],
    ['127.255.255.254', 80, 'a loopback address'],
    ['::1', 80, 'a loopback address'],
    ['::ffff:127.0.0.2', 80, 'a loopback address'],
    ['::ffff:7f00:2', 80, 'a loopback address'],
    ['::7f00:2', 80, 'a loopback address'],
    // link-local and the metadata endpoint
    ['169.254.169.254', 80, 'a cloud metadata endpoint'],
    ['::ffff:169.254.169.254', 80, 'a cloud metadata endpoint'],
    ['64:ff9b::a9fe:a9fe', 80, 'a cloud metadata endpoint'],
    ['fd00:ec2::254', 80, 'a cloud metadata endpoint'],
    ['100.100.100.200', 80, 'a cloud metadata endpoint'],
    ['169.254.1.1', 80, 'a link-local address'],
    ['fe80::1', 80, 'a link-local address'],
    ['febf::1', 80, 'a link-local address'],
    // unspecified
    ['0.0.0.0', 80, 'an unspecified address'],
    ['0.1.2.3', 80, 'an unspecified address'],
    ['::', 80, 'an unspecified address'],
    ['::ffff:0.0.0.0', 80, 'an unspecified address'],
    // the cluster
    ['10.96.0.1', 443, "in the cluster's Service range (--service-cluster-ip-range)"],
    ['10.111.255.255', 80, "in the cluster's Service range (--service-cluster-ip-range)"],
    ['::ffff:10.96.0.1', 443, "in the cluster's Service range (--service-cluster-ip-range)"],
    ['fd00:10:96::1', 443, "in the cluster's Service range (--service-cluster-ip-range)"],
    ['10.244.3.4', 8080, "in the cluster's Pod range (--cluster-cidr)"],
    ['192.0.2.10', 6443, "kube-apiserver's address"],
    ['192.0.2.10', 22, "kube-apiserver's address"],
    // kube-apiserver on loopback is named as kube-apiserver
    ['127.0.0.1', 6443, "kube-apiserver's address"],
    ['10.0.0.5', 8080, "this proxy's own address"],
    // allowed: elsewhere, and what --allow-hosts reopens (with its port only when it names one)
    ['93.184.215.14', 443, undefined],
    ['10.112.0.1', 80, undefined],
    ['10.0.0.6', 80, undefined],
    ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', 443, undefined],
    ['127.0.0.1', 9999, undefined],
    ['::ffff:127.0.0.1', 9999, undefined],
    ['127.0.0.1', 9998, "kube-apiserver's address"],
    ['10.96.0.10', 53, undefined],
    ['10.96.0.10', 54, "in the cluster's Service range (--service-cluster-ip-range)"],
    ['10.244.7.200', 1234, undefined],
    ['10.244.8.1', 1234, "in the cluster's Pod range (--cluster-cidr)"],
    ['169.254.170.2', 80, undefined],
    ['not-an-ip', 80, 'not an IP address'],
  ];
  for (const [address, port, want] of cases) {
    it(`${address} port ${port}: ${want ?? 'allowed'}`, () => {
      expect(policy.refusal(address, port)).to.equal(want);
    });
  }

  it('without cluster ranges or allow entries, only the built-in refusals apply', () => {
    const bare = new DestinationPolicy({
      serviceRanges: [],
      podRanges: [],
      allow: [],
      apiServer: [],
      own: [],
    });
    expect(bare.refusal('10.96.0.1', 443)).to.equal(undefined);
    expect(bare.refusal('127.0.0.1', 443)).to.equal('a loopback address');
  });
});

describe('connproxy/destinations DestinationPolicy.destination', () => {
  const names: Record<string, string[]> = {
    'tool.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'rebind.example': ['93.184.215.14', '127.0.0.1'],
    'v6-metadata.example': ['::ffff:169.254.169.254'],
    'empty.example': [],
  };
  const lookups: string[] = [];
  const lookup: Lookup = (host) => {
    lookups.push(host);
    const found = names[host];
    if (found) return Promise.resolve(found);
    return Promise.reject(
      Object.assign(new Error(`getaddrinfo ENOTFOUND ${host} (secret resolver detail)`), {
        code: 'ENOTFOUND',
      }),
    );
  };
  const policy = new DestinationPolicy(
    { serviceRanges: [], podRanges: [], allow: allow('10.9.9.9/32'), apiServer: [], own: [] },
    lookup,
  );

  async function refusal(host: string, port: number): Promise<StatusError> {
    try {
      await policy.destination(host, port);
    } catch (err) {
      expect(err).to.be.instanceOf(StatusError);
      return err as StatusError;
    }
    return expect.fail(`${host}:${port} was allowed`);
  }

  it('connects to the first resolved address once every address is allowed', async () => {
    expect(await policy.destination('tool.example', 443)).to.equal('93.184.215.14');
  });

  it('an IP literal is not looked up', async () => {
    lookups.length = 0;
    expect(await policy.destination('93.184.215.14', 80)).to.equal('93.184.215.14');
    expect(lookups).to.deep.equal([]);
  });

  it('one refused address among several refuses the host: 403 naming it, why, and the flag', async () => {
    const err = await refusal('rebind.example', 80);
    expect(err.code).to.equal(403);
    expect(err.message).to.equal(
      'rebind.example:80 resolves to 127.0.0.1, a loopback address: the Connectors Proxy does not tunnel ' +
        'there unless --allow-hosts lists it (e.g. --allow-hosts=127.0.0.1:80)',
    );
  });

  it('an IPv4-mapped metadata address is refused, named as given', async () => {
    const err = await refusal('v6-metadata.example', 80);
    expect(err.code).to.equal(403);
    expect(err.message).to.contain('resolves to ::ffff:169.254.169.254, a cloud metadata endpoint');
    expect(err.message).to.contain('--allow-hosts=[::ffff:169.254.169.254]:80');
  });

  it('an IP literal is refused as itself', async () => {
    const err = await refusal('169.254.169.254', 80);
    expect(err.message).to.match(/^169\.254\.169\.254:80 is a cloud metadata endpoint: /);
  });

  it('an allow-listed address goes through', async () => {
    expect(await policy.destination('10.9.9.9', 22)).to.equal('10.9.9.9');
  });

  it('a name that does not resolve is a 503 with the code only, never the resolver text', async () => {
    for (const host of ['missing.example', 'empty.example']) {
      const err = await refusal(host, 80);
      expect(err.code).to.equal(503);
      expect(err.message).to.equal(`${host}:80 cannot be resolved (ENOTFOUND)`);
    }
  });
});
