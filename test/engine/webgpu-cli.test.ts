import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../data/helpers.js';

// The CLI's --backend webgpu and auto in child processes, each with its own Vulkan driver list:
// none (VK_ICD_FILENAMES naming a file that does not exist makes the Vulkan loader find no driver,
// whatever the machine has), or Chromium's SwiftShader where it is installed.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env = (icd: string) => ({ VK_ICD_FILENAMES: icd, ARES_THREADS: '1', XDG_RUNTIME_DIR: mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-')) });
const NO_DRIVER = env('/nonexistent/no-vulkan-driver.json');
const tinyBench = ['bench', '--steps', '1', '--warmup', '0', '--batch', '2', '--json'];

describe('--backend webgpu and auto without an adapter', () => {
  it('webgpu: one error line saying how to get an adapter, exit 2', async () => {
    const r = await runCli([...tinyBench, '--backend', 'webgpu'], NO_DRIVER);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ares: error: backend "webgpu": no WebGPU adapter found; install the GPU's Vulkan .*VK_ICD_FILENAMES=/m);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(r.stdout).toBe('');
  });

  it('auto: says it falls back to wasm, in one line, and runs there', async () => {
    const r = await runCli(['--backend', 'auto', ...tinyBench], NO_DRIVER);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/^ares: backend auto: .*$/gm)).toEqual(['ares: backend auto: wasm (no WebGPU adapter)']);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'wasm', steps: 1 });
  });

  it('scoring commands take webgpu and auto like the others', async () => {
    const r = await runCli(['eval', '--run', 'no-such-run', '--backend', 'webgpu'], NO_DRIVER);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ares: error: backend "webgpu": no WebGPU adapter found/m);
    const a = await runCli(['eval', '--run', 'no-such-run'], { ...NO_DRIVER, ARES_BACKEND: 'auto' });
    expect(a.stderr).toMatch(/^ares: backend auto: wasm \(no WebGPU adapter\)$/m);
    expect(a.stderr).toMatch(/no-such-run/); // then it goes on, on wasm, to the missing run folder
  });

  it('rejects an unknown backend name, listing the choices', async () => {
    const r = await runCli([...tinyBench, '--backend', 'metal'], NO_DRIVER);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/argument 'metal' is invalid\. Allowed choices are wasm, tensorflow, cpu, webgpu, auto/);
  });
});

describe.skipIf(!existsSync(SWIFTSHADER_ICD))('--backend webgpu on SwiftShader', () => {
  it('auto passes over a CPU emulation for wasm, saying so', async () => {
    const r = await runCli([...tinyBench, '--backend', 'auto'], env(SWIFTSHADER_ICD));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^ares: backend auto: wasm \(the only WebGPU adapter is a CPU emulation, google swiftshader/m);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'wasm' });
  });

  it('bench times the CE step on webgpu, with the loss wasm gives and no tensor growth', async () => {
    // One step at batch 2: SwiftShader needs seconds for what a GPU does in milliseconds.
    const [gpu, wasm] = await Promise.all([
      runCli([...tinyBench, '--backend', 'webgpu'], env(SWIFTSHADER_ICD)),
      runCli([...tinyBench, '--backend', 'wasm'], env(SWIFTSHADER_ICD)),
    ]);
    expect(gpu.stderr).not.toMatch(/error/i);
    const [g, w] = [JSON.parse(gpu.stdout), JSON.parse(wasm.stdout)];
    expect(g).toMatchObject({ backend: 'webgpu', model: 'cnn', method: 'ce', steps: 1, tensor_growth: 0, custom_kernels: 0 });
    // The first step's loss is the forward pass on the seed's initial weights: float32 rounding apart.
    expect(Math.abs(g.loss - w.loss)).toBeLessThan(1e-4 * w.loss);
  });
});
