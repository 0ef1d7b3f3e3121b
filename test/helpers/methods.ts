// HTTP methods as the tests send them: the six the one method→verb table serves, written out here
// so that the tests state it themselves, and every other method Node's HTTP parser knows
// (http.METHODS), none of which may reach a tool. CONNECT is left out of the latter: it opens a
// tunnel, and each surface's tests treat it on its own.

import { METHODS } from 'node:http';

export const servedMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const unservedMethods: readonly string[] = METHODS.filter(
  (m) => m !== 'CONNECT' && !(servedMethods as readonly string[]).includes(m),
);
