#!/usr/bin/env bash
# Sets the release version everywhere it is carried, so that test/unit/release.test.ts passes:
# package.json and package-lock.json, the chart's version and appVersion, the image tag of every
# ghcr.io/connectors/connectors image in manifests/, values.yaml's image.tag when it pins one, and
# CHANGELOG.md, whose "## [Unreleased]" notes become the version's entry (dated today).
#
#   hack/set-version.sh 0.2.0
#
# Write the release notes under "## [Unreleased]" first: without them this changes nothing.
set -euo pipefail

version="${1:-}"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "usage: $0 <major.minor.patch[-prerelease]>  (got '${version}')" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

# CHANGELOG.md first, as it is the one that can refuse: nothing is changed unless it is ready.
top="$(grep -m1 -oE '^## \[[0-9][^]]*\]' CHANGELOG.md | sed 's/^## \[\(.*\)\]$/\1/' || true)"
if [[ "$top" != "$version" ]]; then
  # The lines between "## [Unreleased]" and the next "## " heading must say something.
  notes="$(awk '/^## \[Unreleased\]/{u=1; next} /^## /{u=0} u' CHANGELOG.md | grep -c '[^[:space:]]' || true)"
  if [[ "$notes" == 0 ]]; then
    echo "CHANGELOG.md: write the notes of $version under '## [Unreleased]' first (its top entry is ${top:-none})" >&2
    exit 1
  fi
  today="$(date -u +%Y-%m-%d)"
  sed -i "s/^## \[Unreleased\]\$/## [Unreleased]\n\n## [$version] - $today/" CHANGELOG.md
fi

# package.json and the root of package-lock.json: read and written as JSON (npm's own 2-space
# layout), so no other field moves.
node -e '
  const fs = require("node:fs");
  const version = process.argv[1];
  const edit = (file, change) => {
    const json = JSON.parse(fs.readFileSync(file, "utf8"));
    change(json);
    fs.writeFileSync(file, JSON.stringify(json, null, 2) + "\n");
  };
  edit("package.json", (p) => { p.version = version; });
  edit("package-lock.json", (l) => { l.version = version; l.packages[""].version = version; });
' "$version"

sed -i -E "s/^(version|appVersion): .*/\1: $version/" charts/connectors/Chart.yaml
# values.yaml's image.tag is normally '' (the appVersion); a pinned tag follows the release too.
sed -i -E "s/^(  tag: )'[^']+'\$/\1'$version'/" charts/connectors/values.yaml
grep -rlE 'ghcr\.io/connectors/connectors:' manifests | while read -r f; do
  sed -i -E "s#(ghcr\.io/connectors/connectors):[A-Za-z0-9_.-]+#\1:$version#g" "$f"
done
echo "version $version set; check with: git diff && mocha dist/test/unit/release.test.js" >&2
