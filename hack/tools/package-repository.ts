// A private package repository for tests of real npm, Maven, pip and twine clients: HTTPS with a
// certificate from a fresh CA, Basic auth on every request, static files (an npm registry under /npm/,
// a Maven repository under /maven/), a Python package index under /pypi/ (PEP 503 simple pages under
// /pypi/simple/, files under /pypi/packages/, and the legacy upload API twine speaks: a multipart POST
// to /pypi/ with `:action=file_upload`, stored so pip can install it next), and a record of every
// request with the user it authenticated, so a test can show which credential the client's requests
// arrived with.
//
//   const repo = await startPackageRepository({ username: 'deployer', password: 's3cret' });
//   await repo.addNpmPackage('connectors-demo', '1.0.0');   // npm install connectors-demo
//   repo.addMavenPom('com.example', 'parent', '1.0.0', parentPom(coordinates)); // Maven resolves it
//   const wheel = await buildWheel(dir, 'connectors-demo', '1.0.0'); // twine upload, pip install
//   await repo.stop();

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, issueCert } from '../pki.js';
import { ManagedProcess } from '../process.js';
import { findBinary } from './gitserver.js';

export interface RepositoryRequest {
  method: string;
  url: string;
  /** The user whose credentials the request carried, or null when they were missing or wrong. */
  user: string | null;
  status: number;
  /** The client's User-Agent: a status controller's probes and a user's npm look alike otherwise. */
  userAgent: string;
}

export interface PackageRepository {
  /** https://localhost:<port> (listening on 127.0.0.1), or https://<serviceName>; no trailing slash. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The npm registry: `${url}/npm/`. */
  readonly npmRegistry: string;
  /** The Maven repository: `${url}/maven/`. */
  readonly mavenRepository: string;
  /** The Python package index: `${url}/pypi/` (uploads), `${url}/pypi/simple/` (PEP 503). */
  readonly pypiIndex: string;
  /** The CA of the serving certificate. */
  readonly caCertPem: string;
  readonly requests: RepositoryRequest[];
  /** Publishes an npm package (one index.js exporting its name) built with `npm pack`. */
  addNpmPackage(name: string, version: string): Promise<void>;
  /** Publishes a POM (with its .sha1) as groupId:artifactId:version. */
  addMavenPom(groupId: string, artifactId: string, version: string, pom: string): void;
  stop(): Promise<void>;
}

interface StoredFile {
  type: string;
  body: Buffer;
}

interface FormPart {
  filename: string | undefined;
  body: Buffer;
}

/**
 * The parts of a multipart/form-data body by field name (RFC 7578: parts between `--boundary`
 * lines, each its headers, a blank line and the content), or null when it is not one.
 */
function parseMultipart(contentType: string, body: Buffer): Map<string, FormPart> | null {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!/^multipart\/form-data/i.test(contentType) || boundary === undefined) return null;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts = new Map<string, FormPart>();
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') return parts; // the closing delimiter
    const next = body.indexOf(delimiter, start);
    if (next < 0) return null;
    const part = body.subarray(start + 2, next - 2); // after the CRLF, before the CRLF of the next
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) return null;
    const headers = part.subarray(0, split).toString('utf8');
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
    const filename = /content-disposition:[^\r\n]*\bfilename="([^"]*)"/i.exec(headers)?.[1];
    if (name !== undefined) parts.set(name, { filename, body: part.subarray(split + 4) });
    at = next;
  }
  return null;
}

/** PEP 503's normalized project name. */
export function normalizePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * Debian's python3, whose pip is python3-pip's: not a python3 a version manager put first on PATH,
 * which may sit in a home directory the pod's user cannot enter.
 */
export function debianPython(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : findBinary('python3', 'python3-pip');
}

/**
 * Builds a pure-Python wheel of `name` `version` in `dir` (one module, named like the project with
 * underscores, whose NAME is the project name) with the python3 that runs pip; returns its path.
 */
export async function buildWheel(dir: string, name: string, version: string): Promise<string> {
  const script = `
import base64, hashlib, sys, zipfile
dist, version, out = sys.argv[1], sys.argv[2], sys.argv[3]
module = dist.replace('-', '_')
info = f"{module}-{version}.dist-info"
files = {
    f"{module}/__init__.py": f"NAME = {dist!r}\\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {dist}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: connectors-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
wheel = f"{out}/{module}-{version}-py3-none-any.whl"
with zipfile.ZipFile(wheel, "w") as z:
    for path, text in files.items():
        z.writestr(path, text)
print(wheel)
`;
  const r = await ManagedProcess.run(
    findBinary('python3', 'python3-pip'),
    ['-c', script, name, version, dir],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    },
  );
  if (r.code !== 0) throw new Error(`building the wheel failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Maven coordinates. */
export interface MavenCoordinates {
  groupId: string;
  artifactId: string;
  version: string;
}

/** A parent POM (packaging pom), for addMavenPom: what a project's <parent> makes Maven fetch. */
export function parentPom(c: MavenCoordinates): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>${c.groupId}</groupId>
  <artifactId>${c.artifactId}</artifactId>
  <version>${c.version}</version>
  <packaging>pom</packaging>
</project>
`;
}

/** The smallest project that needs a repository: `mvn validate` fetches its parent and no plugin. */
export function projectWithParent(parent: MavenCoordinates): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent><groupId>${parent.groupId}</groupId><artifactId>${parent.artifactId}</artifactId><version>${parent.version}</version></parent>
  <artifactId>app</artifactId>
</project>
`;
}

export async function startPackageRepository(opts: {
  username: string;
  password: string;
  /** The address to listen on (default 127.0.0.1; a cluster's bridge address for pods). */
  host?: string;
  /**
   * The name its URL uses and its certificate holds (default localhost), e.g. the in-cluster name
   * of a Service that leads to `host`; `url` then has no port (the Service's is 443).
   */
  serviceName?: string;
}): Promise<PackageRepository> {
  const host = opts.host ?? '127.0.0.1';
  const ca = await createCA('connectors-test-package-repository-ca');
  const serving = await issueCert(ca, {
    commonName: opts.serviceName ?? host,
    ipAddresses: [host],
    dnsNames: [opts.serviceName ?? 'localhost'],
    server: true,
  });
  const files = new Map<string, StoredFile>();
  const requests: RepositoryRequest[] = [];
  const expected = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;

  const server: Server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    const authorized = req.headers.authorization === expected;
    if (req.method === 'POST' && path === '/pypi/' && authorized) {
      void pypiUpload(req, res);
      return;
    }
    req.resume();
    const file = authorized ? files.get(path) : undefined;
    const status = !authorized ? 401 : file ? 200 : 404;
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      user: authorized ? opts.username : null,
      status,
      userAgent: req.headers['user-agent'] ?? '',
    });
    if (status === 401) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="package-repository"' });
      res.end();
      return;
    }
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': String(file.body.length) });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // By name, not 127.0.0.1: npm's https-proxy-agent checks an IP target's certificate against
  // "localhost" (it omits the host when it cannot send SNI), so IP URLs fail through a proxy.
  const url = opts.serviceName ? `https://${opts.serviceName}` : `https://localhost:${port}`;

  const put = (path: string, type: string, body: Buffer | string): void => {
    files.set(path, { type, body: Buffer.isBuffer(body) ? body : Buffer.from(body) });
  };

  // The Python index: its simple pages are rewritten from `pythonFiles` on every upload.
  const pythonFiles = new Map<string, { file: string; sha256: string }[]>();
  const simplePage = (title: string, links: [string, string][]): string =>
    `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body>\n` +
    links.map(([href, text]) => `<a href="${href}">${text}</a><br/>\n`).join('') +
    '</body></html>\n';
  const writeSimplePages = (): void => {
    const projects = [...pythonFiles.keys()].sort();
    put(
      '/pypi/simple/',
      'text/html',
      simplePage(
        'Simple index',
        projects.map((p) => [`${p}/`, p]),
      ),
    );
    for (const project of projects) {
      const links = (pythonFiles.get(project) ?? []).map((f): [string, string] => [
        `../../packages/${project}/${f.file}#sha256=${f.sha256}`,
        f.file,
      ]);
      put(`/pypi/simple/${project}/`, 'text/html', simplePage(`Links for ${project}`, links));
    }
  };
  /** The legacy upload API: a multipart form with :action=file_upload, name, version and content. */
  const pypiUpload = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let status = 200;
    let message = 'OK';
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const form = parseMultipart(req.headers['content-type'] ?? '', Buffer.concat(chunks));
    const field = (name: string): string | undefined => form?.get(name)?.body.toString('utf8');
    const content = form?.get('content');
    const name = field('name');
    if (field(':action') !== 'file_upload' || name === undefined || content?.filename === undefined) {
      [status, message] = [400, 'expected a multipart form with :action=file_upload, name and content'];
    } else {
      const file = content.filename;
      const sha256 = createHash('sha256').update(content.body).digest('hex');
      const project = normalizePythonName(name);
      const known = pythonFiles.get(project) ?? [];
      if (field('sha256_digest') !== sha256) {
        [status, message] = [400, 'sha256_digest does not match the content'];
      } else if (!/^[A-Za-z0-9._-]+$/.test(file) || known.some((f) => f.file === file)) {
        [status, message] = [400, `File already exists or is not a file name: ${file}`];
      } else {
        put(`/pypi/packages/${project}/${file}`, 'application/octet-stream', content.body);
        pythonFiles.set(project, [...known, { file, sha256 }]);
        writeSimplePages();
      }
    }
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      user: opts.username,
      status,
      userAgent: req.headers['user-agent'] ?? '',
    });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`${message}\n`);
  };
  // Each repository answers at its root, as registries do, so that a Connector's auth probe (a GET
  // of its address with the credential) tells a good password (200) from a bad one (401).
  put('/npm/', 'application/json', JSON.stringify({ db_name: 'registry' }));
  put('/maven/', 'text/html', '<html><body>maven</body></html>\n');
  writeSimplePages();

  return {
    url,
    port,
    npmRegistry: `${url}/npm/`,
    mavenRepository: `${url}/maven/`,
    pypiIndex: `${url}/pypi/`,
    caCertPem: ca.certPem,
    requests,
    async addNpmPackage(name, version) {
      const dir = await mkdtemp(join(tmpdir(), 'connectors-npm-pack-'));
      try {
        // The package apart from npm's cache: npm writes its debug log into the cache while it
        // packs, and a growing file inside the package fails the pack ("did not encounter
        // expected EOF"). No update check either: it is a request to the public registry.
        const pkg = join(dir, 'package');
        await mkdir(pkg);
        await writeFile(join(pkg, 'package.json'), JSON.stringify({ name, version, main: 'index.js' }));
        await writeFile(join(pkg, 'index.js'), `module.exports = ${JSON.stringify(name)};\n`);
        const r = await ManagedProcess.run(findBinary('npm', 'npm'), ['pack', '--silent', pkg], {
          cwd: dir,
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: dir,
            npm_config_cache: join(dir, 'cache'),
            npm_config_update_notifier: 'false',
          },
        });
        if (r.code !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
        const tarball = await readFile(join(dir, r.stdout.trim().split('\n').at(-1) ?? ''));
        const tarballPath = `/npm/${name}/-/${name}-${version}.tgz`;
        put(tarballPath, 'application/octet-stream', tarball);
        const packument = {
          name,
          'dist-tags': { latest: version },
          versions: {
            [version]: {
              name,
              version,
              main: 'index.js',
              dist: {
                tarball: `${url}${tarballPath}`,
                shasum: createHash('sha1').update(tarball).digest('hex'),
                integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
              },
            },
          },
        };
        put(`/npm/${name}`, 'application/json', JSON.stringify(packument));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    addMavenPom(groupId, artifactId, version, pom) {
      const path = `/maven/${groupId.replace(/\./g, '/')}/${artifactId}/${version}/${artifactId}-${version}.pom`;
      put(path, 'application/xml', pom);
      put(`${path}.sha1`, 'text/plain', createHash('sha1').update(pom).digest('hex'));
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
