// Where a command reads and writes: the process's streams and environment, or a test's.

import type { Readable, Writable } from 'node:stream';

export interface Io {
  stdout: Writable;
  /** `isTTY` decides whether a spinner may show. */
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  now(): number;
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    now: Date.now,
  };
}

/** Writes `text` and resolves once the stream took it (a pipe may be slow). */
export function write(stream: Writable, text: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}
