// The smart-HTTP ref advertisement (`GET {repo}/info/refs?service=git-upload-pack`, protocol v0/v1)
// as a stream of pkt-lines (gitprotocol-common, gitprotocol-http):
//
//   001e# service=git-upload-pack\n   only over HTTP, then a flush packet
//   0000
//   <oid> SP <first ref> NUL <capabilities> LF
//   <oid> SP <ref> LF                   …
//   <oid> SP refs/tags/v1^{} LF         the commit an annotated tag points to ("peeled")
//   0000
//
// An empty repository advertises a zero id and the name `capabilities^{}`. The parser works on
// chunks as they arrive and keeps only the refs asked for, so a server that also advertises a
// hundred thousand pull-request refs costs time, not memory.

export interface Ref {
  /** Full name, e.g. `refs/heads/main`. */
  name: string;
  /** The object the ref points to: a commit, or a tag object for annotated tags. */
  oid: string;
  /** For annotated tags: the commit the tag object points to. */
  peeled?: string;
}

/** The commit a ref stands for: the peeled commit of an annotated tag, else the ref's own id. */
export function commitOf(ref: Ref): string {
  return ref.peeled ?? ref.oid;
}

export class GitProtocolError extends Error {
  constructor(
    message: string,
    /** True when the server itself reported the error (an `ERR` packet). */
    readonly fromServer = false,
  ) {
    super(message);
    this.name = 'GitProtocolError';
  }
}

const maxPktLength = 65520;
const oidPattern = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Incremental parser; `push` every chunk, then `end` for the refs. */
export class RefAdvertisementParser {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly refs = new Map<string, Ref>();
  private sawRef = false;
  private expectServiceFlush = false;
  private lines = 0;
  private done = false;
  capabilities: string[] = [];

  /** `keep` decides which refs are kept (by full name); everything else is skipped. */
  constructor(private readonly keep: (name: string) => boolean = () => true) {}

  push(chunk: Buffer): void {
    if (this.finished()) return; // anything after the final flush is not part of the advertisement
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    while (!this.finished() && this.buffer.length - offset >= 4) {
      const hex = this.buffer.toString('latin1', offset, offset + 4);
      if (!/^[0-9a-f]{4}$/i.test(hex)) {
        throw new GitProtocolError(`not a pkt-line length: ${JSON.stringify(hex)}`);
      }
      const length = parseInt(hex, 16);
      if (length === 0) {
        offset += 4;
        this.flush();
        continue;
      }
      if (length < 4 || length > maxPktLength) {
        throw new GitProtocolError(`pkt-line length ${length} is not allowed in a ref advertisement`);
      }
      if (this.buffer.length - offset < length) break;
      this.line(this.buffer.subarray(offset + 4, offset + length));
      offset += length;
    }
    this.buffer = this.buffer.subarray(offset);
  }

  /** The refs kept, in advertisement order. Throws if the advertisement was cut short. */
  end(): Ref[] {
    if (!this.done) {
      throw new GitProtocolError(
        this.lines === 0 ? 'the response is empty' : 'the ref advertisement ended before its flush packet',
      );
    }
    return [...this.refs.values()];
  }

  /** A method, not the field: a flush inside the loop ends the advertisement mid-chunk. */
  private finished(): boolean {
    return this.done;
  }

  private flush(): void {
    if (this.expectServiceFlush) {
      this.expectServiceFlush = false;
      return;
    }
    this.done = true;
  }

  private line(raw: Buffer): void {
    this.lines++;
    let text = raw.toString('utf8');
    if (text.endsWith('\n')) text = text.slice(0, -1);
    if (this.lines === 1 && text.startsWith('# service=')) {
      this.expectServiceFlush = true;
      return;
    }
    if (text.startsWith('ERR ')) {
      throw new GitProtocolError(text.slice(4), true);
    }
    if (!this.sawRef && /^version \d+$/.test(text)) {
      if (text !== 'version 1') throw new GitProtocolError(`unexpected protocol ${text}`);
      return;
    }
    if (!this.sawRef) {
      const nul = text.indexOf('\0');
      if (nul >= 0) {
        this.capabilities = text
          .slice(nul + 1)
          .split(' ')
          .filter(Boolean);
        text = text.slice(0, nul);
      }
    }
    const space = text.indexOf(' ');
    const oid = text.slice(0, space);
    const name = text.slice(space + 1);
    if (oid === 'shallow') return; // a shallow repository's boundary commits; not refs
    if (space < 0 || !oidPattern.test(oid) || name === '') {
      throw new GitProtocolError(`malformed ref line ${JSON.stringify(text.slice(0, 120))}`);
    }
    const first = !this.sawRef;
    this.sawRef = true;
    if (first && name === 'capabilities^{}') return; // an empty repository
    if (name.endsWith('^{}')) {
      const ref = this.refs.get(name.slice(0, -3));
      if (ref) ref.peeled = oid;
      return;
    }
    if (this.keep(name)) this.refs.set(name, { name, oid });
  }
}

/** Parses a whole advertisement at once. */
export function parseRefAdvertisement(body: Buffer, keep?: (name: string) => boolean): Ref[] {
  const parser = new RefAdvertisementParser(keep);
  parser.push(body);
  return parser.end();
}
