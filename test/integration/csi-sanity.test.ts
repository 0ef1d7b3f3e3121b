// csi-sanity, the conformance checker of kubernetes-csi/csi-test built from its Go module
// (hack/build-csi-sanity.sh), against the driver started from its real entry point. A node-only
// driver skips the Controller blocks (their setup needs a Controller service) and "should remove
// target path" (it calls CreateVolume first); everything else either runs or skips itself by the
// capabilities the driver reports. The specs a node plugin must pass are listed, so that a run
// which silently skips them fails here.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { resolveCsiSanity } from '../../hack/binaries.js';
import { ManagedProcess } from '../../hack/process.js';
import { startCsiDriver, type RunningDriver } from '../helpers/csi.js';
import { env } from '../helpers/env.js';

const mustPass = [
  'Identity Service GetPluginCapabilities should return appropriate capabilities',
  'Identity Service Probe should return appropriate information',
  'Identity Service GetPluginInfo should return appropriate information',
  'Node Service NodeGetCapabilities should return appropriate capabilities',
  'Node Service NodeGetInfo should return appropriate values',
  'Node Service NodePublishVolume should fail when no volume id is provided',
  'Node Service NodePublishVolume should fail when no target path is provided',
  'Node Service NodePublishVolume should fail when no volume capability is provided',
  'Node Service NodeUnpublishVolume should fail when no volume id is provided',
  'Node Service NodeUnpublishVolume should fail when no target path is provided',
];

describe('csi-sanity against the connectors-csi driver', function () {
  this.timeout(15 * 60_000); // a first run builds csi-sanity
  let driver: RunningDriver;
  let sanity: string;

  before(async function () {
    sanity = await resolveCsiSanity();
    driver = await startCsiDriver({
      name: 'connectors-csi-sanity',
      logDir: env().sys.logDir,
      kubeconfig: env().sys.cp.kubeconfigPath,
    });
  });

  after(async function () {
    await driver.stop();
  });

  it('passes the identity and node service specs', async function () {
    const work = mkdtempSync('/tmp/csi-sanity-');
    const junit = join(work, 'junit.xml');
    const r = await ManagedProcess.run(
      sanity,
      [
        `--csi.endpoint=${driver.endpoint}`,
        // csi-sanity creates both itself (and fails if they exist).
        `--csi.mountdir=${join(work, 'mnt')}`,
        `--csi.stagingdir=${join(work, 'stage')}`,
        '--ginkgo.skip=\\[Controller Server\\]|should remove target path',
        '--ginkgo.no-color',
        `--ginkgo.junit-report=${junit}`,
      ],
      { timeoutMs: 5 * 60_000 },
    );
    const summary = /Ran \d+ of \d+ Specs[\s\S]*$/.exec(r.stdout)?.[0] ?? r.stdout.slice(-2000);
    expect(r.code, `${summary}\n${r.stderr}`).to.equal(0);
    expect(summary).to.match(/SUCCESS!.* 0 Failed/);
    const report = readFileSync(junit, 'utf8');
    for (const spec of mustPass) {
      const at = report.indexOf(`name="[It] ${spec}`);
      expect(at, `${spec} did not run`).to.be.greaterThan(-1);
      const testcase = report.slice(at, report.indexOf('</testcase>', at));
      expect(testcase, `${spec} did not pass`).to.contain('status="passed"');
    }
    rmSync(work, { recursive: true, force: true });
    this.test!.title += ` (${/\d+ Passed \| \d+ Failed \| \d+ Pending \| \d+ Skipped/.exec(summary)?.[0] ?? ''})`;
  });
});
