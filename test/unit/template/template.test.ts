// The Go-template subset of probe templates: every construct the published and shipped classes use,
// with Go's semantics (nil pointers, typed-map zero values, trimming), every probe template shipped
// in manifests/classes and the upstream example, and a clear error naming anything else.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import { repoRoot } from '../../../hack/binaries.js';
import { templateData, type SecretData } from '../../../controller/probe.js';
import { GoMap, GoStruct, renderTemplate, TemplateError } from '../../../template/index.js';
import type { Connector } from '../../../registry/types.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const connector: Connector = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'Connector',
  metadata: { name: 'git-github', namespace: 'team-a', labels: { team: 'a' } },
  spec: {
    connectorClassName: 'git',
    address: 'https://platform.example.com/kubernetes/c1/',
    params: [{ name: 'sslVerify', value: 'false' }],
    auth: {
      name: 'basicAuth',
      secretRef: { name: 'creds' },
      params: [
        { name: 'other', value: 'x' },
        { name: 'repository', value: 'org/repo name.git' },
      ],
    },
  },
};

const secret: SecretData = {
  name: 'creds',
  namespace: 'team-a',
  type: 'kubernetes.io/basic-auth',
  data: { username: b64('alice'), password: b64('pa:ss'), token: b64('tok-123') },
};

const withSecret = templateData(connector, secret);
const noSecret = templateData(connector, null);

describe('template: constructs', () => {
  const cases: { name: string; tpl: string; want: string; data?: unknown }[] = [
    {
      name: 'plain text',
      tpl: '/info/refs?service=git-upload-pack',
      want: '/info/refs?service=git-upload-pack',
    },
    {
      name: 'field chain',
      tpl: '{{ .Connector.Spec.Address }}',
      want: 'https://platform.example.com/kubernetes/c1/',
    },
    {
      name: 'embedded ObjectMeta fields',
      tpl: '{{ .Connector.Name }}/{{ .Connector.ObjectMeta.Namespace }}',
      want: 'git-github/team-a',
    },
    { name: 'typed map key', tpl: '{{ .Connector.Labels.team }}', want: 'a' },
    { name: 'typed map missing key is ""', tpl: '[{{ .Connector.Labels.nope }}]', want: '[]' },
    { name: 'Secret StringData', tpl: '{{ .Secret.StringData.username }}', want: 'alice' },
    { name: 'missing Secret key is ""', tpl: '[{{ .Secret.StringData.nope }}]', want: '[]' },
    {
      name: 'range + if eq over auth params',
      tpl: '/{{- range .Connector.Spec.Auth.Params }}{{ if eq .Name "repository" }}{{ .Value.StringVal }}{{ end }}{{ end }}/x',
      want: '/org/repo name.git/x',
    },
    {
      name: 'range over nothing',
      tpl: 'a{{ range .Connector.Spec.AddressExtensions }}x{{ end }}b',
      want: 'ab',
    },
    {
      name: 'range … else',
      tpl: '{{ range .Connector.Spec.AddressExtensions }}x{{ else }}none{{ end }}',
      want: 'none',
    },
    { name: 'if .Secret with a Secret', tpl: '{{ if .Secret }}yes{{ else }}no{{ end }}', want: 'yes' },
    {
      name: 'if .Secret without',
      tpl: '{{ if .Secret }}yes{{ else }}no{{ end }}',
      want: 'no',
      data: noSecret,
    },
    {
      name: 'if on empty string',
      tpl: '{{ if .Connector.Spec.ConnectorClassName }}c{{ end }}{{ if "" }}e{{ end }}',
      want: 'c',
    },
    {
      name: 'eq with several candidates',
      tpl: '{{ if eq .Connector.Name "x" "git-github" }}hit{{ end }}',
      want: 'hit',
    },
    { name: 'eq false', tpl: '{{ if eq .Connector.Name "x" }}hit{{ else }}miss{{ end }}', want: 'miss' },
    {
      name: 'printf + pipe + b64enc',
      tpl: '{{ printf "%s:%s" .Secret.StringData.username .Secret.StringData.password | b64enc }}',
      want: b64('alice:pa:ss'),
    },
    { name: 'printf %d %q %%', tpl: '{{ printf "%d %q 100%%" 42 "a\\"b" }}', want: '42 "a\\"b" 100%' },
    { name: 'printf with a missing argument', tpl: '{{ printf "%s-%s" "a" }}', want: 'a-%!s(MISSING)' },
    { name: 'trimSuffix', tpl: '{{ trimSuffix "/" "a/b/" }}|{{ trimSuffix "/" "a" }}', want: 'a/b|a' },
    {
      name: '(urlParse …).path with trimSuffix',
      tpl: '{{ trimSuffix "/" (urlParse .Connector.Spec.Address).path }}/version',
      want: '/kubernetes/c1/version',
    },
    {
      name: 'urlParse of a root URL has no path',
      tpl: '[{{ (urlParse "https://h:8443").path }}]',
      want: '[]',
    },
    {
      name: 'urlParse host and scheme',
      tpl: '{{ (urlParse "https://h:8443/p?q=1").host }} {{ (urlParse "https://h/").scheme }}',
      want: 'h:8443 https',
    },
    {
      name: 'urlquery as Go QueryEscape',
      tpl: '{{ "org/a b!(x)" | urlquery }}',
      want: 'org%2Fa+b%21%28x%29',
    },
    { name: 'left and right trim', tpl: 'a  \n {{- "b" -}} \n  c', want: 'abc' },
    { name: '{{- only trims when followed by a space', tpl: 'a {{-3}}', want: 'a -3' },
    { name: 'raw strings', tpl: '{{ `x"y` }}', want: 'x"y' },
    { name: 'nil prints <no value>', tpl: '{{ .Secret }}', want: '<no value>', data: noSecret },
    { name: 'booleans', tpl: '{{ if true }}t{{ end }}{{ if false }}f{{ end }}', want: 't' },
    { name: 'multi-line template', tpl: '{{ if .Secret }}\n  line\n{{- end }}', want: '\n  line' },
    {
      name: 'a variable, printed and in a chain',
      tpl: '{{ $c := .Connector }}{{ $c.Name }}',
      want: 'git-github',
    },
    { name: 'a declaration prints nothing', tpl: 'a{{ $x := "b" }}c{{ $x }}', want: 'acb' },
    {
      name: '$ is the data inside a range',
      tpl: '{{ range .Connector.Spec.Params }}{{ $.Connector.Name }}{{ end }}',
      want: 'git-github',
    },
    {
      name: 'range $i, $e := over a list',
      tpl: '{{ range $i, $p := .Connector.Spec.Auth.Params }}{{ $i }}={{ $p.Name }};{{ end }}',
      want: '0=other;1=repository;',
    },
    {
      name: 'range $e := over a list',
      tpl: '{{ range $p := .Connector.Spec.Auth.Params }}{{ $p.Name }},{{ end }}',
      want: 'other,repository,',
    },
    {
      name: 'range $k, $v := over a map, in key order',
      tpl: '{{ range $k, $v := .Secret.StringData }}{{ $k }};{{ end }}',
      want: 'password;token;username;',
    },
    {
      name: 'assignment inside a range changes the outer variable',
      tpl: '{{ $repo := "none" }}{{ range .Connector.Spec.Auth.Params }}{{ if eq .Name "repository" }}{{ $repo = .Value.StringVal }}{{ end }}{{ end }}{{ $repo }}',
      want: 'org/repo name.git',
    },
    {
      name: 'a variable declared in a range body ends with each iteration',
      tpl: '{{ range .Connector.Spec.Auth.Params }}{{ $n := .Name }}{{ $n }}{{ end }}',
      want: 'otherrepository',
    },
    {
      name: 'if with a declaration',
      tpl: '{{ if $n := .Connector.Name }}{{ $n }}{{ end }}',
      want: 'git-github',
    },
    { name: '(urlParse $x).host', tpl: '{{ $u := "https://h:1/p" }}{{ (urlParse $u).host }}', want: 'h:1' },
    {
      name: 'ne and not',
      tpl: '{{ if ne .Connector.Name "x" }}ne{{ end }}{{ if not "" }}!{{ end }}',
      want: 'ne!',
    },
    {
      name: 'trim, trimPrefix',
      tpl: '[{{ trim "  a b \\n" }}]{{ trimPrefix "c-" "c-git" }}',
      want: '[a b]git',
    },
    { name: 'replace every occurrence', tpl: '{{ "a\\nb\\nc" | replace "\\n" "\\\\n" }}', want: 'a\\nb\\nc' },
    {
      name: 'dot inside range',
      tpl: '{{ range .Connector.Spec.Params }}{{ .Name }}={{ .Value.StringVal }}{{ end }}',
      want: 'sslVerify=false',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(renderTemplate(c.tpl, c.data ?? withSecret)).to.equal(c.want);
    });
  }

  it('reads array and object parameter values as ParamValue', () => {
    const data = templateData(
      {
        metadata: { name: 'n', namespace: 'ns' },
        spec: {
          connectorClassName: 'c',
          params: [
            { name: 'list', value: ['a', 'b'] },
            { name: 'obj', value: { k: 'v' } },
          ],
        },
      },
      null,
    );
    expect(
      renderTemplate(
        '{{ range .Connector.Spec.Params }}{{ .Value.Type }}:{{ range .Value.ArrayVal }}{{ . }}{{ end }}{{ .Value.ObjectVal.k }};{{ end }}',
        data,
      ),
    ).to.equal('array:ab;object:v;');
  });
});

describe('template: errors name the construct', () => {
  const cases: { tpl: string; error: RegExp; data?: unknown }[] = [
    {
      tpl: '{{ lower .Connector.Name }}',
      error:
        /function "lower" is not supported in templates \(supported: b64enc, eq, ne, not, printf, replace, trim, trimPrefix, trimSuffix, urlParse, urlquery\)/,
    },
    { tpl: '{{ $x }}', error: /1:4: undefined variable "\$x"/ },
    { tpl: '{{ $x = 1 }}', error: /undefined variable "\$x"/ },
    { tpl: '{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}', error: /undefined variable "\$x"/ },
    { tpl: '{{ $a, $b := 1 }}', error: /too many declarations/ },
    { tpl: '{{ $a, $b }}', error: /missing ":=" after the variables/ },
    { tpl: '{{ $x := 1 := 2 }}', error: /unexpected ":="/ },
    { tpl: '{{ ne 1 }}', error: /ne: wants 2 arguments, got 1/ },
    { tpl: '{{ replace "a" "b" }}', error: /replace: wants 3 arguments, got 2/ },
    { tpl: '{{ trim 3 }}', error: /trim: the argument must be a string, not int/ },
    { tpl: '{{ with .Secret }}x{{ end }}', error: /"with" is not supported/ },
    { tpl: '{{ template "x" }}', error: /"template" is not supported/ },
    { tpl: '{{/* note */}}', error: /comments .* are not supported/ },
    { tpl: '{{ if .Secret }}x{{ else if .Connector }}y{{ end }}', error: /"else if" is not supported/ },
    { tpl: '{{ if .Secret }}x', error: /\{\{ if \}\} without \{\{ end \}\}/ },
    { tpl: 'x{{ end }}', error: /1:5: unexpected \{\{ end \}\}/ },
    { tpl: '{{ .Connector.Name', error: /unclosed action/ },
    { tpl: '{{ "abc }}', error: /unterminated quoted string/ },
    { tpl: '{{ 1.5 }}', error: /only decimal integer numbers/ },
    { tpl: '{{ printf "%5s" "a" }}', error: /printf: verb "%5" is not supported/ },
    { tpl: '{{ .Connector.Spec.Nope }}', error: /can't evaluate field Nope in type v1alpha1.ConnectorSpec/ },
    {
      tpl: '{{ .Secret.StringData.password }}',
      error: /nil pointer evaluating .Secret.StringData/,
      data: noSecret,
    },
    {
      tpl: '{{ eq .Connector.Spec.Params "x" }}',
      error: /eq: incompatible types for comparison \(slice and string\)/,
    },
    { tpl: '{{ eq "x" }}', error: /eq: missing argument for comparison/ },
    { tpl: '{{ b64enc 3 }}', error: /b64enc: the argument must be a string, not int/ },
    { tpl: '{{ range .Connector.Name }}{{ end }}', error: /range can't iterate over string/ },
    {
      tpl: '{{ .Connector.Name "x" }}',
      error: /can't give an argument to a non-function \(.Connector.Name\)/,
    },
    { tpl: '{{ urlParse "not a url" }}', error: /urlParse: the argument is not an absolute URL/ },
    { tpl: '{{ ) }}', error: /unexpected "\)"/ },
    { tpl: '{{ ( .Connector.Name }}', error: /unclosed "\("/ },
    { tpl: '{{ | b64enc }}', error: /missing command in pipeline/ },
    { tpl: '{{ }}', error: /empty action/ },
    { tpl: '{{ .A, .B }}', error: /unexpected ","/ },
    { tpl: '{{ .A ; }}', error: /unexpected character ";"/ },
  ];
  for (const c of cases) {
    it(`${c.tpl} → ${c.error.source}`, () => {
      expect(() => renderTemplate(c.tpl, c.data ?? withSecret))
        .to.throw(TemplateError)
        .with.property('message')
        .that.matches(/^template: \d+:\d+: /)
        .and.matches(c.error);
    });
  }

  it('never puts an evaluated value in an error', () => {
    try {
      renderTemplate('{{ eq .Secret.StringData.password 1 }}', withSecret);
      expect.fail('expected an error');
    } catch (err) {
      expect((err as Error).message).to.not.contain('pa:ss');
    }
  });

  it('Go structs, typed maps and plain values behave as in Go', () => {
    const data = new GoStruct('T', { M: new GoMap('map[string]string', new Map([['k', 'v']]), '') });
    expect(renderTemplate('{{ .M.k }}{{ .M.z }}', data)).to.equal('v');
    expect(() => renderTemplate('{{ .Z }}', data)).to.throw(/can't evaluate field Z in type T/);
  });
});

interface ProbeHttp {
  path?: string;
  httpHeaders?: { name: string; value: string }[];
}
interface ClassDoc {
  kind?: string;
  metadata?: { name?: string };
  spec?: {
    livenessProbe?: { http?: ProbeHttp; api?: { path?: string } };
    authProbes?: { authName: string; probe: { http?: ProbeHttp; api?: { path?: string } } }[];
  };
}

function shippedClasses(): { file: string; cls: ClassDoc }[] {
  const root = repoRoot();
  const dir = join(root, 'manifests', 'classes');
  const files = [
    ...readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(dir, f)),
    join(root, 'test', 'fixtures', 'upstream-examples.yaml'),
  ];
  return files.flatMap((file) =>
    (loadAllYaml(readFileSync(file, 'utf8')) as ClassDoc[])
      .filter((d) => d.kind === 'ConnectorClass')
      .map((cls) => ({ file: file.slice(root.length + 1), cls })),
  );
}

describe('template: every shipped probe template evaluates', () => {
  const classes = shippedClasses();

  it('finds the shipped classes and the upstream example', () => {
    const names = classes.map((c) => c.cls.metadata?.name);
    for (const n of ['git', 'github', 'gitlab', 'harbor', 'k8s', 'maven', 'npm', 'oci', 'pypi', 'sonarqube'])
      expect(names).to.include(n);
    expect(classes.filter((c) => c.file.includes('upstream-examples'))).to.have.length(1);
  });

  for (const { file, cls } of classes) {
    const templates: { where: string; tpl: string }[] = [];
    const collect = (
      where: string,
      probe: { http?: ProbeHttp; api?: { path?: string } } | undefined,
    ): void => {
      if (probe?.http?.path) templates.push({ where: `${where}.http.path`, tpl: probe.http.path });
      for (const h of probe?.http?.httpHeaders ?? []) {
        templates.push({ where: `${where}.http.httpHeaders[${h.name}]`, tpl: h.value });
      }
      if (probe?.api?.path) templates.push({ where: `${where}.api.path`, tpl: probe.api.path });
    };
    collect('livenessProbe', cls.spec?.livenessProbe);
    for (const p of cls.spec?.authProbes ?? []) collect(`authProbes[${p.authName}].probe`, p.probe);
    for (const { where, tpl } of templates) {
      it(`${file} ${cls.metadata?.name ?? ''} ${where}`, () => {
        const a = renderTemplate(tpl, withSecret);
        const b = renderTemplate(tpl, noSecret);
        expect(a).to.be.a('string');
        expect(b).to.be.a('string');
        if (where.endsWith('path')) {
          expect(a.startsWith('/'), a).to.equal(true);
          expect(a).to.not.contain('<no value>');
        }
      });
    }
  }

  it('the git class renders the published probe exactly', () => {
    const git = classes.find((c) => c.cls.metadata?.name === 'git' && c.file.startsWith('manifests'));
    const auth = git?.cls.spec?.authProbes?.[0]?.probe.http;
    expect(renderTemplate(auth?.path ?? '', withSecret)).to.equal(
      '/org/repo name.git/info/refs?service=git-upload-pack',
    );
    const header = auth?.httpHeaders?.find((h) => h.name === 'Authorization')?.value ?? '';
    expect(renderTemplate(header, withSecret)).to.equal(`Basic ${b64('alice:pa:ss')}`);
    expect(renderTemplate(header, noSecret)).to.equal('');
  });

  it('the oci class escapes the repository into its API probe query', () => {
    const oci = classes.find((c) => c.cls.metadata?.name === 'oci');
    const path = oci?.cls.spec?.authProbes?.[0]?.probe.api?.path ?? '';
    expect(renderTemplate(path, withSecret)).to.equal('/tags?itemsPerPage=1&repository=org%2Frepo+name.git');
  });

  it('the k8s class keeps the address prefix itself', () => {
    const k8s = classes.find((c) => c.cls.metadata?.name === 'k8s');
    expect(renderTemplate(k8s?.cls.spec?.livenessProbe?.http?.path ?? '', noSecret)).to.equal(
      '/kubernetes/c1/version',
    );
  });
});
