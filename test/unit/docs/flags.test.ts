// The flag lists of docs/operations.md (and of the kit's example, docs/custom-proxy.md) are each
// process's own `--help`, as it prints it: a flag added, renamed or given another default without
// the page following fails here.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoRoot } from '../../../hack/binaries.js';
import { docBlock } from '../../helpers/docs.js';

const run = promisify(execFile);

const processes = {
  apiserver: 'flags-apiserver',
  connproxy: 'flags-connproxy',
  classapi: 'flags-classapi',
  controller: 'flags-controller',
  csi: 'flags-csi',
  mysqlproxy: 'flags-mysqlproxy',
  'examples/signing-proxy': 'flags-signing-proxy',
} as const;

describe('docs/operations.md: the flags are what --help prints', function () {
  this.timeout(30_000);
  for (const [entry, id] of Object.entries(processes)) {
    it(`node dist/${entry}/main.js --help`, async function () {
      const { stdout } = await run(process.execPath, [join(repoRoot(), 'dist', entry, 'main.js'), '--help']);
      expect(docBlock(id).text).to.equal(stdout);
    });
  }
});
