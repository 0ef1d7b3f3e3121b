// The Node.js this project runs on: 24 LTS (package.json "engines"; Node 20 is end of life).

export const requiredNodeMajor = 24;

/** The major version in a `vX.Y.Z` string; NaN when it is not one. */
export function nodeMajor(version: string): number {
  const m = /^v(\d+)\./.exec(version);
  return m ? Number(m[1]) : Number.NaN;
}
