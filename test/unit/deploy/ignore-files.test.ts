// compose tells operators to put API_KEYS in `.env`: git and the image build context must never see it.
import { describe, expect, it } from 'vitest';
import { broken, real, type Artifacts } from '../../support/deploy-artifacts.ts';

/** Whether one of the ignore file's patterns matches `.env` at the top (gitignore syntax, the subset used here). */
function ignoresDotEnv(text: string): boolean {
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const matches = (p: string) => new RegExp(`^/?${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`).test('.env');
  let ignored = false;
  for (const p of patterns) {
    if (p.startsWith('!') && matches(p.slice(1))) ignored = false;
    else if (!p.startsWith('!') && matches(p)) ignored = true;
  }
  return ignored;
}

function ignoreProblems(a: Artifacts): string[] {
  return ['.gitignore', '.dockerignore'].filter((f) => !ignoresDotEnv(a.texts[f] ?? '')).map((f) => `${f}: does not ignore .env (where compose keeps API_KEYS)`);
}

describe('ignore files', () => {
  it('when .gitignore and .dockerignore are read, then both ignore .env', () => {
    expect(ignoreProblems(real)).toEqual([]);
  });

  it('when .env is dropped from .dockerignore or re-included in .gitignore, then the check reports it', () => {
    expect(ignoreProblems(broken('.dockerignore', /^\.env$/m, ''))).toEqual(['.dockerignore: does not ignore .env (where compose keeps API_KEYS)']);
    expect(ignoreProblems(broken('.gitignore', /$/, '\n!.env\n'))).toEqual(['.gitignore: does not ignore .env (where compose keeps API_KEYS)']);
  });
});
