// `npm run bench`: starts everything it needs on loopback and prints ratios measured side by side
// in one run, each the median of several rounds (BENCH_ROUNDS, default 3; BENCH_SECONDS per
// round, default 10). Results also go to bench/results/latest.json and latest.svg.
// BENCH_PROFILE=<dir> writes a CPU profile of the aggregated server there (open it in Chrome
// DevTools or any .cpuprofile viewer).

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../hack/binaries.js';
import { startLocalSystem } from '../hack/localsystem.js';
import { startNginxProxy, startStaticTool } from './nginx.js';
import { wrk, type LoadResult } from './wrk.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = 50;
const gvPath = '/apis/subresources.connectors.alauda.io/v1alpha1';

interface Row {
  name: string;
  result: LoadResult;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function measure(name: string, url: string, headers: Record<string, string> = {}): Promise<Row> {
  await wrk(url, { connections, seconds: 2, headers }); // warm-up: pools, caches, JIT
  const results: LoadResult[] = [];
  for (let i = 0; i < rounds; i++) results.push(await wrk(url, { connections, seconds, headers }));
  const result = {
    requestsPerSec: median(results.map((r) => r.requestsPerSec)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    errors: results.reduce((a, r) => a + r.errors, 0),
  };
  process.stderr.write(
    `  ${name}: ${result.requestsPerSec.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms\n`,
  );
  return { name, result };
}

function svg(ratios: { label: string; value: number; target: number }[]): string {
  const width = 640;
  const bar = 28;
  const rows = ratios
    .map((r, i) => {
      const y = 40 + i * (bar + 14);
      const w = Math.min(1.5, r.value) * 300;
      const t = Math.min(1.5, r.target) * 300;
      const ok = r.value >= r.target;
      return `<text x="10" y="${y + 19}" font-size="13">${r.label}</text>
<rect x="300" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${ok ? '#2e7d32' : '#c62828'}"/>
<line x1="${300 + t}" x2="${300 + t}" y1="${y - 4}" y2="${y + bar + 4}" stroke="#000" stroke-dasharray="3,2"/>
<text x="${305 + w}" y="${y + 19}" font-size="13">${r.value.toFixed(2)}× (target ${r.target}×)</text>`;
    })
    .join('\n');
  const height = 60 + ratios.length * (bar + 14);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width + 300}" height="${height}" font-family="sans-serif">
<text x="10" y="22" font-size="15" font-weight="bold">Connectors benchmarks (higher is better; dashed line = target)</text>
${rows}
</svg>
`;
}

async function main(): Promise<void> {
  const root = repoRoot();
  const dir = await mkdtemp(join(tmpdir(), 'connectors-bench-'));
  process.stderr.write('starting the control plane, the server, a static tool and nginx…\n');
  const profile = process.env.BENCH_PROFILE;
  const sys = await startLocalSystem({
    logDir: join(dir, 'logs'),
    serverArgs: ['--log-level=warn'],
    ...(profile ? { serverNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profile}`] } : {}),
  });
  const tool = await startStaticTool(dir);
  try {
    const user = 'bench';
    const password = 'bench-password';
    const basic = Buffer.from(`${user}:${password}`).toString('base64');
    const serving = await sys.cp.issueServingCert(['localhost'], ['127.0.0.1']);
    await writeFile(join(dir, 'tls.crt'), serving.certPem);
    await writeFile(join(dir, 'tls.key'), serving.keyPem);
    const nginx = await startNginxProxy(dir, tool.url, basic, {
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
    });

    const objects = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'ConnectorClass',
          metadata: { name: 'bench-http' },
          spec: { auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth' }] } },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'tool', namespace: 'bench' },
          type: 'kubernetes.io/basic-auth',
          stringData: { username: user, password },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'tool', namespace: 'bench' },
          spec: {
            connectorClassName: 'bench-http',
            address: tool.url,
            auth: { name: 'basicAuth', secretRef: { name: 'tool' } },
          },
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'bench', namespace: 'bench' },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: 'connectors-proxy-view',
          },
          subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: 'bench' }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'bench-discovery' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' },
          subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: 'bench' }],
        },
      ],
    };
    const applied = await sys.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(objects) });
    if (applied.code !== 0) throw new Error(applied.stderr);
    const token = await sys.cp.createToken('bench', 'bench', { expirationSeconds: 3600 });
    const auth = { Authorization: `Bearer ${token}` };
    const proxyPath = `${gvPath}/namespaces/bench/connectors/tool/proxy/data.json`;
    for (let i = 0; i < 100; i++) {
      const r = await sys.cp.kubectl(['get', '--raw', proxyPath]);
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }

    process.stderr.write(`measuring: ${rounds} rounds × ${seconds} s, ${connections} connections, wrk -t1\n`);
    const direct = await measure('tool directly (HTTP)', `${tool.url}/data.json`);
    const viaNginx = await measure('nginx TLS proxy, Basic injected (1 worker)', `${nginx.url}/data.json`);
    const ours = await measure(
      'our /proxy, called directly (TLS, bearer token)',
      `${sys.serverUrl}${proxyPath}`,
      auth,
    );
    const kubeBaseline = await measure(
      'kube-apiserver → our discovery (do-nothing)',
      `${sys.cp.server}${gvPath}`,
      auth,
    );
    const kubeOurs = await measure('kube-apiserver → our /proxy', `${sys.cp.server}${proxyPath}`, auth);

    const ratios = [
      {
        label: '/proxy req/s vs nginx',
        value: ours.result.requestsPerSec / viaNginx.result.requestsPerSec,
        target: 0.5,
      },
      {
        label: 'via kube-apiserver: p50 baseline / ours',
        value: kubeBaseline.result.p50Ms / kubeOurs.result.p50Ms,
        target: 1 / 1.1,
      },
    ];
    const addedP50 = ours.result.p50Ms - direct.result.p50Ms;
    const rows = [direct, viaNginx, ours, kubeBaseline, kubeOurs];
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
    const lines = [
      `Connectors benchmarks — ${machine}; ${rounds} rounds × ${seconds} s, ${connections} connections, medians`,
      '',
      '| what | req/s | p50 ms | p99 ms | errors |',
      '|---|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.result.requestsPerSec.toFixed(0)} | ${r.result.p50Ms.toFixed(2)} | ${r.result.p99Ms.toFixed(2)} | ${r.result.errors} |`,
      ),
      '',
      `/proxy vs nginx (req/s, equal cores):              ${ratios[0]?.value.toFixed(2)}×  (target ≥ 0.5×)`,
      `/proxy added p50 over the tool directly:           ${addedP50.toFixed(2)} ms (target ≤ 1 ms)`,
      `through kube-apiserver, ours vs do-nothing (p50):  +${((kubeOurs.result.p50Ms / kubeBaseline.result.p50Ms - 1) * 100).toFixed(1)}% (target ≤ 10%)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const out = join(root, 'bench', 'results');
    await mkdir(out, { recursive: true });
    await writeFile(
      join(out, 'latest.json'),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          machine,
          rounds,
          seconds,
          connections,
          rows,
          addedP50Ms: addedP50,
          ratios,
        },
        null,
        2,
      ) + '\n',
    );
    await writeFile(join(out, 'latest.svg'), svg(ratios));
    await writeFile(join(out, 'latest.md'), `${lines.join('\n')}\n`);
    await nginx.process.stop();
    // A profile of a long run takes a while to write on exit; give it time before SIGKILL.
    if (profile) await sys.stopServer(120_000);
  } finally {
    await tool.process.stop();
    await sys.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
