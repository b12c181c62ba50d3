// API keys made the documented way (scripts/api-key.ts): the API is configured with their hashes only.
import { execFileSync } from 'node:child_process';

export type TestKey = { key: string; entry: Record<string, unknown> };

export function makeKey(id: string, scopes: string, ...extra: string[]): TestKey {
  const out = execFileSync(process.execPath, ['scripts/api-key.ts', id, scopes, ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out) as TestKey;
}

export const bearer = (k: { key: string }) => ({ authorization: `Bearer ${k.key}` });
export const keysEnv = (...keys: TestKey[]) => JSON.stringify(keys.map((k) => k.entry));
