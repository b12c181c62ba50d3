import { afterEach, describe, expect, it } from 'vitest';
import { startMongoProxy, type MongoProxy } from '../support/fault-proxy.ts';

let proxy: MongoProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('the fault proxy in front of a MongoDB-protocol server', () => {
  it('when the target URL carries options, then the proxy URL keeps them (directConnection, replica set name, ...)', async () => {
    // Issue 21: it dropped the query string, so the testcontainers path's directConnection=true was lost.
    proxy = await startMongoProxy('mongodb://127.0.0.1:27017/?directConnection=true&serverSelectionTimeoutMS=2000');
    expect(proxy.url).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/\?directConnection=true&serverSelectionTimeoutMS=2000$/);
  });

  it('when the target URL has no options, then the proxy URL has none', async () => {
    proxy = await startMongoProxy('mongodb://127.0.0.1:27017/');
    expect(proxy.url).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
  });
});
