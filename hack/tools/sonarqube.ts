// A stand-in for a SonarQube server's web API, for the `sonarqube` class's probes and proxy: it
// answers as SonarQube does, under an optional context path (sonar.web.context).
//
//   GET <context>/api/system/status            → 200 {"id","version","status":"UP"}
//   GET <context>/api/authentication/validate  → 200 {"valid": true|false}; like SonarQube, a wrong or
//                                                missing token is not a 401 but valid: false
//   anything else                              → 404 {"errors":[{"msg":"Unknown url"}]}
//
// It takes the token the way SonarQube 9.9 does, as the Basic username with an empty password only
// (Bearer came in 10.0), so a test shows the credential arrived in the form every version accepts.
// Every request is recorded with whether its credential was the token.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RecordedRequest } from './echo-tool.js';

export interface SonarQubeRequest extends RecordedRequest {
  /** Whether the request carried the token as the Basic username. */
  valid: boolean;
}

export interface SonarQube {
  /** http://127.0.0.1:<port><context>, no trailing slash. */
  readonly url: string;
  readonly requests: SonarQubeRequest[];
  /** Changes the token it accepts. */
  setToken(token: string): void;
  close(): Promise<void>;
}

export async function startSonarQube(opts: { token: string; context?: string }): Promise<SonarQube> {
  const context = opts.context ?? '';
  let expected = '';
  const setToken = (token: string): void => {
    expected = `Basic ${Buffer.from(`${token}:`).toString('base64')}`;
  };
  setToken(opts.token);
  const requests: SonarQubeRequest[] = [];
  const json = (status: number, body: unknown): [number, string] => [status, JSON.stringify(body)];

  const server: Server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const valid = req.headers.authorization === expected;
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      bodyBytes: 0,
      remoteAddress: req.socket.remoteAddress ?? '',
      valid,
    });
    let answer: [number, string];
    if (req.method !== 'GET') answer = json(405, { errors: [{ msg: 'Method not allowed' }] });
    else if (path === `${context}/api/system/status`) {
      answer = json(200, { id: 'connectors-test', version: '9.9.8', status: 'UP' });
    } else if (path === `${context}/api/authentication/validate`) answer = json(200, { valid });
    else answer = json(404, { errors: [{ msg: `Unknown url : ${path}` }] });
    res.writeHead(answer[0], { 'content-type': 'application/json' });
    res.end(answer[1]);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${context}`,
    requests,
    setToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
