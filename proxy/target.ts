// Where a request may go. The target is always the Connector's own origin: the address's path
// prefix plus the caller's sub-path, built from validated segments. Anything that could change the
// origin or climb out of the prefix, in any encoding, is refused before a byte is sent.

import { ProxyError } from './errors.js';

export interface ToolAddress {
  /** `scheme://host:port`, as WHATWG URL serialises it. */
  origin: string;
  /** The address's path without a trailing slash ('' for a root address). */
  prefix: string;
}

/** Parses a Connector address (or an address extension). Only absolute http(s) URLs qualify. */
export function parseToolAddress(address: string): ToolAddress {
  // Messages never repeat the address: it may carry userinfo, which may be a credential.
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ProxyError('InvalidTarget', 'the address is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProxyError(
      'InvalidTarget',
      `the address must use http or https, not ${url.protocol.slice(0, -1)}`,
    );
  }
  if (url.username || url.password) {
    throw new ProxyError('InvalidTarget', 'the address must not contain user information; use the Secret');
  }
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, '') };
}

// Control characters (CR, LF, NUL…), backslash and '@' are never legitimate in a tool path we
// forward; the first two are header-injection and host-confusion tricks, '@' turns a naive
// concatenation into userinfo.
// eslint-disable-next-line no-control-regex
const forbiddenDecoded = /[\u0000-\u001f\u007f\\@]/;

function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ProxyError('InvalidTarget', `path segment "${raw}" has malformed percent-encoding`);
  }
}

const escape = /%[0-9a-fA-F]{2}/;
const maxDecodeRounds = 8;

/**
 * Decodes every escape byte by byte, as a tool that decodes again would: leniently, whatever the
 * bytes spell in UTF-8 (a stray `%E9` or a lone '%' must not stop the next round's checks).
 */
function decodeBytes(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Validates raw path segments and returns the tool-side path (prefix + segments). Segments stay
 * as the caller encoded them; each is checked in decoded form, and decoded again while it still
 * holds escapes, so that multiple encoding (`%252e%252e`) cannot smuggle a dot-segment to a tool
 * that decodes more than once.
 */
export function toolPath(address: ToolAddress, segments: readonly string[]): string {
  segments.forEach((raw, i) => {
    if (raw === '' && i !== segments.length - 1) {
      throw new ProxyError('InvalidTarget', 'empty path segments ("//") are not allowed');
    }
    // What a request line can carry as it is: visible ASCII, and the bytes 0x80-0xFF that Node
    // hands over as latin1 and undici sends back as the same bytes. Anything else must arrive
    // percent-encoded (undici would refuse it, which looked like an unreachable tool). A raw '?' or
    // '#' would end the path early at the tool, hiding the rest of the segment from the checks below.
    if (/[^\x21-\x7e\x80-\xff]|[?#]/.test(raw)) {
      throw new ProxyError(
        'InvalidTarget',
        "a path segment holds a space, a control character, '?', '#' or a character beyond U+00FF that is not percent-encoded",
      );
    }
    let decoded = decodeSegment(raw);
    for (let round = 1; ; round++) {
      if (forbiddenDecoded.test(decoded)) {
        throw new ProxyError(
          'InvalidTarget',
          `path segment "${raw}" contains a control character, a backslash or '@', which are not forwarded`,
        );
      }
      for (const piece of decoded.split('/')) {
        // `..;x` is a dot-segment to servlet containers (path parameters), so it counts as one here.
        if (/^\.\.?(;.*)?$/.test(piece)) {
          throw new ProxyError(
            'InvalidTarget',
            `path segment "${raw}" is a dot-segment, which is not allowed`,
          );
        }
      }
      if (!escape.test(decoded)) break;
      if (round === maxDecodeRounds) {
        throw new ProxyError(
          'InvalidTarget',
          `path segment "${raw}" is percent-encoded more than ${maxDecodeRounds} times over`,
        );
      }
      decoded = decodeBytes(decoded);
    }
  });
  return `${address.prefix}/${segments.join('/')}`;
}

/** Whether a URL path is the address prefix itself or lies below it, segment by segment. */
export function isUnderPrefix(prefix: string, pathname: string): boolean {
  return prefix === '' || pathname === prefix || pathname.startsWith(`${prefix}/`);
}

/**
 * The path and query to send for an absolute URL that must lie inside `address`: on its origin,
 * under its path prefix segment by segment (`/team-a` does not admit `/team-ab`), and made of
 * segments toolPath accepts, so a URL a tool or a caller hands us is held to the same rules as a
 * caller's path. Throws InvalidTarget otherwise. Messages never repeat the URL: its query may
 * hold a token.
 */
export function targetWithin(address: ToolAddress, url: URL): string {
  if (url.origin !== address.origin) {
    throw new ProxyError('InvalidTarget', `${url.origin} is not the Connector's origin ${address.origin}`);
  }
  if (url.username || url.password) {
    throw new ProxyError('InvalidTarget', 'the URL contains user information');
  }
  if (!isUnderPrefix(address.prefix, url.pathname)) {
    throw new ProxyError(
      'InvalidTarget',
      `the path is not under the Connector's address path ${address.prefix}`,
    );
  }
  const rest = url.pathname.slice(address.prefix.length);
  const path = rest === '' ? address.prefix : toolPath(address, rest.slice(1).split('/'));
  const query = url.search.slice(1);
  checkQuery(query);
  return query === '' ? path : `${path}?${query}`;
}

/** Where a redirect answered to a request for `from` (path and query) may be followed, if anywhere. */
export type RedirectTarget = { inside: true; path: string } | { inside: false; why: string };

/**
 * The redirect decision: `location` (as the tool sent it, resolved against the URL that answered)
 * is followed, with the credential, only to a target targetWithin accepts. `why` says where it
 * pointed instead, without repeating the location.
 */
export function redirectTarget(address: ToolAddress, from: string, location: string): RedirectTarget {
  let url: URL;
  try {
    url = new URL(location, address.origin + from);
  } catch {
    return { inside: false, why: 'to a location that is not a URL' };
  }
  if (url.origin !== address.origin) return { inside: false, why: `to another origin (${url.origin})` };
  if (url.username || url.password) return { inside: false, why: 'to a URL with user information' };
  try {
    return { inside: true, path: targetWithin(address, url) };
  } catch (err) {
    if (!(err instanceof ProxyError)) throw err;
    return {
      inside: false,
      why: isUnderPrefix(address.prefix, url.pathname)
        ? 'to a path that is not forwarded (dot-segments, empty segments or characters that are refused)'
        : `outside the Connector's address path ${address.prefix}`,
    };
  }
}

/** Checks a raw query string: it is forwarded as is, so it must not carry raw control characters. */
export function checkQuery(query: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(query)) {
    throw new ProxyError('InvalidTarget', 'the query contains control characters or spaces');
  }
}
