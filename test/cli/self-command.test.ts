import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selfCommand } from '../../src/cli/options.js';

describe('selfCommand (the command hints name)', () => {
  it('is `node bin/ares.js` in a source checkout run from its folder', () => {
    expect(selfCommand(join('/home/u/ares-ood', 'bin', 'ares.js'), '/home/u/ares-ood')).toBe('node bin/ares.js');
  });
  it('is `npx ares` for an installed package, or when run from elsewhere', () => {
    expect(selfCommand('/home/u/app/node_modules/ares-ood/bin/ares.js', '/home/u/app/node_modules/ares-ood')).toBe('npx ares');
    expect(selfCommand('/home/u/app/node_modules/.bin/ares', '/home/u/app')).toBe('npx ares');
    expect(selfCommand('/home/u/ares-ood/bin/ares.js', '/tmp')).toBe('npx ares');
  });
});
