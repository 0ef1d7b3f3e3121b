// Docs that cannot drift: every fenced block of README.md and docs/*.md carries a marker saying what
// runs it (a test file that reads it by id, the cluster suite, or why nothing can), every id is read
// by the test its marker names, and every relative link leads somewhere. The checker itself is shown
// to catch each kind of problem on a small documentation tree of its own.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../../hack/binaries.js';
import { allDocBlocks, docBlock, docProblems, headingAnchor, shellCommands } from '../../helpers/docs.js';

describe('docs: every block is run by a test or says why not', function () {
  it('README.md and docs/*.md have no unmarked block, no stale marker and no broken link', function () {
    expect(docProblems()).to.deep.equal([]);
  });

  it('most blocks are run: markers are honest about what only illustrates', function () {
    const blocks = allDocBlocks();
    const count = (kind: string): number => blocks.filter((b) => b.marker?.kind === kind).length;
    const run = count('test') + count('cluster-test');
    expect(blocks.length).to.be.greaterThan(20);
    expect(run, 'blocks run by a test or the cluster suite').to.be.greaterThan(count('not-run'));
  });

  describe('the checker', function () {
    let root: string;
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };

    beforeEach(function () {
      root = mkdtempSync(join(tmpdir(), 'docs-check-'));
      write('test/integration/reads.test.ts', "docBlock('first');\n");
      write('test/cluster/pods.test.ts', "docBlock('pod');\n");
    });

    afterEach(function () {
      rmSync(root, { recursive: true, force: true });
    });

    it('accepts blocks marked with a test that reads them, the cluster suite, or a reason', function () {
      write(
        'README.md',
        [
          '# Title',
          '',
          'See [the page](docs/page.md#a-heading) and [the tree](#title).',
          '',
          '<!-- test: test/integration/reads.test.ts#first -->',
          '',
          '```sh',
          'echo one',
          '```',
          '',
          '<!-- cluster-test: pod -->',
          '```yaml',
          'kind: Pod',
          '```',
          '',
          '<!-- not-run: sample output -->',
          '',
          '```',
          'NAME  READY',
          '```',
          '',
        ].join('\n'),
      );
      write('docs/page.md', '# Page\n\n## A heading\n');
      expect(docProblems(root)).to.deep.equal([]);
    });

    it('refuses an unmarked block, a bad marker, a missing test, an unread id, a reused id', function () {
      write(
        'README.md',
        [
          '```sh',
          'echo unmarked',
          '```',
          '<!-- tested: somewhere -->',
          '```sh',
          'echo badly marked',
          '```',
          '<!-- test: test/integration/gone.test.ts#first -->',
          '```sh',
          'echo missing test',
          '```',
          '<!-- test: test/integration/reads.test.ts#second -->',
          '```sh',
          'echo unread id',
          '```',
          '<!-- cluster-test: pod -->',
          '```yaml',
          'kind: Pod',
          '```',
          '<!-- cluster-test: pod -->',
          '```yaml',
          'kind: Pod',
          '```',
          '<!-- cluster-test: job -->',
          '```yaml',
          'kind: Job',
          '```',
          '',
        ].join('\n'),
      );
      expect(docProblems(root)).to.deep.equal([
        'README.md:1: a ```sh block without a marker comment before it',
        'README.md:5: "<!-- tested: somewhere -->" is no marker (test: <file>#<id>, cluster-test: <id>, not-run: <reason>)',
        'README.md:9: the marker names test/integration/gone.test.ts, which is no test file of the repository',
        'README.md:13: test/integration/reads.test.ts does not read the block "second"',
        'README.md:21: the id "pod" also marks README.md:17',
        'README.md:25: no test of test/cluster/ reads the block "job"',
      ]);
    });

    it('refuses a link to a missing file or heading, and a pointer to material users do not have', function () {
      write(
        'docs/page.md',
        [
          '# Page',
          '',
          'See [gone](gone.md), [no heading](../README.md#nowhere) and [here](#page).',
          'As SPEC §8 says.',
          '',
        ].join('\n'),
      );
      write('README.md', '# Readme\n');
      expect(docProblems(root)).to.deep.equal([
        'docs/page.md:3: the link gone.md points to a file that does not exist',
        'docs/page.md:3: the link ../README.md#nowhere points to a heading that does not exist',
        'docs/page.md:4: points to material not in the repository',
      ]);
    });
  });

  it("CI runs the README's test command, and the README gives the dev command first", function () {
    const [dev, test] = shellCommands(docBlock('try-it').text);
    expect(dev).to.equal('npm run dev');
    expect(test).to.equal('npm test');
    const ci = readFileSync(join(repoRoot(), '.ci', 'run'), 'utf8')
      .trim()
      .split('\n');
    expect(ci.at(-1)).to.equal(test);
  });

  it('headings get the anchors GitHub gives them', function () {
    expect(headingAnchor('Using a Connector: the RBAC a user needs')).to.equal(
      'using-a-connector-the-rbac-a-user-needs',
    );
    expect(headingAnchor('Class-declared APIs: `branches`, `tags`, `git/gitrefs`, …')).to.equal(
      'class-declared-apis-branches-tags-gitgitrefs-',
    );
  });

  it('a shell block reads as the commands a reader types', function () {
    expect(
      shellCommands(
        [
          '# a comment',
          'kubectl apply -k manifests/   # the CRDs too',
          '',
          'git -c a=b \\',
          '  clone x',
          '',
        ].join('\n'),
      ),
    ).to.deep.equal(['kubectl apply -k manifests/', 'git -c a=b clone x']);
  });

  it('docBlock finds a block by its id, byte for byte', function () {
    const block = docBlock('builder');
    expect(block.lang).to.equal('yaml');
    expect(block.text).to.match(/^# The pipeline's ServiceAccount/);
    expect(block.text.endsWith('\n')).to.equal(true);
  });
});
