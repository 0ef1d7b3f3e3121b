// Builds bench/go-relay (the standard library's reverse proxy, the Go peer of the relay rows) with
// the machine's Go, once per source and Go version, into the bench's cache. Nothing is downloaded:
// the module has no requirements, GOPROXY is off and GOTOOLCHAIN is local, so a Go that would want
// another toolchain fails instead of fetching one.

import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { assertExecutable, ManagedProcess } from '../hack/process.js';
import { buildInto, contentKey } from '../hack/cache.js';

export interface GoRelayBuild {
  binary: string;
  /** runtime.Version() of the toolchain, e.g. go1.26.8. */
  goVersion: string;
  /** False when the cache already held this build. */
  built: boolean;
}

/** The Go toolchain as hack/go-build-env.sh finds it: `go` on PATH, else /usr/local/go/bin/go. */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((d) => join(d, 'go')),
    '/usr/local/go/bin/go',
  ];
  return candidates.find((c) => {
    try {
      assertExecutable(c);
      return true;
    } catch {
      return false;
    }
  });
}

/** The build's cache directory name: the Go version and every file of the module. */
export function goRelayKey(goVersion: string, files: { name: string; content: Buffer | string }[]): string {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return `go-relay-${contentKey([goVersion, ...sorted.flatMap((f) => [f.name, f.content])])}`;
}

const buildEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  GOTOOLCHAIN: 'local',
  GOPROXY: 'off',
  GOFLAGS: '-buildvcs=false',
  CGO_ENABLED: '0',
});

async function go(goBinary: string, args: string[], cwd?: string): Promise<string> {
  const r = await ManagedProcess.run(goBinary, args, {
    env: buildEnv(),
    ...(cwd ? { cwd } : {}),
    timeoutMs: 300_000,
  });
  if (r.code !== 0) throw new Error(`go ${args.join(' ')} failed (${String(r.code)}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The relay's binary, built into `cache` unless a build of the same source and Go is there. */
export async function goRelayBinary(opts: {
  source: string;
  cache: string;
  go: string;
}): Promise<GoRelayBuild> {
  const goVersion = (await go(opts.go, ['env', 'GOVERSION'])).trim();
  const names = (await readdir(opts.source)).filter((n) => n.endsWith('.go') || n === 'go.mod');
  const files = await Promise.all(
    names.map(async (name) => ({ name, content: await readFile(join(opts.source, name)) })),
  );
  const dir = join(opts.cache, goRelayKey(goVersion, files));
  const binary = join(dir, 'go-relay');
  if (existsSync(binary)) return { binary, goVersion, built: false };
  await mkdir(opts.cache, { recursive: true });
  await buildInto(dir, async (tmp) => {
    await go(opts.go, ['build', '-trimpath', '-o', join(tmp, 'go-relay'), '.'], opts.source);
  });
  return { binary, goVersion, built: true };
}
