import { createRequire } from 'node:module';

export type Esbuild = typeof import('esbuild');

/** esbuild ships with tsx (a dependency); resolve it through tsx so either install layout works. */
export async function loadEsbuild(): Promise<Esbuild> {
  try {
    return await import('esbuild');
  } catch {
    const req = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
    return req('esbuild') as Esbuild;
  }
}
