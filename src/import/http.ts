// The import command's HTTP: node:http(s) with keep-alive connections, not fetch. fetch loads undici,
// about 15 MB of resident memory in Node 24: a tenth of the importer's 150 MB budget (issue 13),
// for nothing the command needs beyond one request and its whole answer.
import http from 'node:http';
import https from 'node:https';

export type HttpRequest = { method?: string; headers: Record<string, string>; body?: string };
export type HttpAnswer = { status: number; retryAfter: string | null; body: string };

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

export function createHttp() {
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  /** One request and its whole answer, or an error (network, or TimeoutError after timeoutMs). */
  function request(url: string, init: HttpRequest, timeoutMs: number): Promise<HttpAnswer> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(target, { method: init.method ?? 'GET', headers, agent: secure ? agents.https : agents.http }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        // An answer cut off mid-body errs here, not on the request: its timer goes too, or it would
        // keep the finished process alive until --timeout.
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const retryAfter = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      // The whole exchange is bounded, not only idle time: a server that trickles its answer is cut too.
      const timer = setTimeout(() => req.destroy(new TimeoutError(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(init.body);
    });
  }

  /** Ends the kept-alive connections, so the process can exit. */
  const close = () => {
    agents.http.destroy();
    agents.https.destroy();
  };

  return { request, close };
}
