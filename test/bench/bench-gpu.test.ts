import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adapterRefusal, parseStepLines, ratioTable } from '../../scripts/bench-gpu.js';
import { ROOT } from '../data/helpers.js';

// scripts/bench-gpu.sh's table (ares webgpu vs PyTorch cuda) on canned lines, and its refusal of a
// software adapter, run for real on Chromium's SwiftShader where it is installed.
const ARES = (model: string, ms: number) => JSON.stringify({ model, method: 'ce', backend: 'webgpu', threads: 1, batch: 128, steps: 10, warmup: 3, ms_per_step: ms, loss: 2.3 });
const TORCH = (model: string, ms: number) => JSON.stringify({ impl: 'pytorch', torch: '2.5', device: 'cuda', model, method: 'ce', batch: 128, ms_per_step: ms });

describe('bench-gpu table', () => {
  it('pairs each model\'s ares and PyTorch lines and prints ms per step and the ratio ares / PyTorch', () => {
    const text = ['# a comment line', ARES('cnn', 12.5), TORCH('cnn', 5), '', ARES('resnet18', 90), TORCH('resnet18', 30), ARES('wrn40-2', 40), TORCH('wrn40-2', 50)].join('\n');
    const lines = parseStepLines(text);
    expect(lines.map((l) => `${l.side} ${l.model} ${l.device} ${l.msPerStep}`)).toEqual([
      'ares cnn webgpu 12.5', 'pytorch cnn cuda 5', 'ares resnet18 webgpu 90', 'pytorch resnet18 cuda 30', 'ares wrn40-2 webgpu 40', 'pytorch wrn40-2 cuda 50',
    ]);
    const table = ratioTable(lines).split('\n');
    expect(table[0]).not.toMatch(/NOT A SPEED/);
    expect(table.find((r) => r.startsWith('cnn'))).toMatch(/^cnn\s+128\s+12\.5 \(webgpu\)\s+5\.0 \(cuda\)\s+2\.50$/);
    expect(table.find((r) => r.startsWith('resnet18'))).toMatch(/\s3\.00$/);
    expect(table.find((r) => r.startsWith('wrn40-2'))).toMatch(/\s0\.80$/);
  });

  it('marks a software adapter\'s table NOT A SPEED, shows a missing side, and rejects a JSON line of neither side', () => {
    const t = ratioTable(parseStepLines([ARES('cnn', 3000)].join('\n')), { software: true });
    expect(t.split('\n')[0]).toMatch(/^NOT A SPEED/);
    expect(t).toMatch(/^cnn\s+128\s+3000\.0 \(webgpu\)\s+missing\s+—$/m);
    expect(() => parseStepLines('{"hello": 1}')).toThrow(/line 1 has no model and ms_per_step/);
  });

  it('refuses a software adapter unless allowed, and no adapter at all', () => {
    const swiftshader = { description: 'google swiftshader (SwiftShader driver 5.0.0)', software: true };
    expect(adapterRefusal(swiftshader, false)).toMatch(/swiftshader.*emulated on the CPU.*no GPU speed.*--allow-software/);
    expect(adapterRefusal(swiftshader, true)).toBeNull();
    expect(adapterRefusal({ description: 'nvidia hopper', software: false }, false)).toBeNull();
    expect(adapterRefusal(null, true)).toMatch(/no WebGPU adapter/);
  });
});

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
describe.skipIf(!existsSync(SWIFTSHADER_ICD))('scripts/bench-gpu.sh on SwiftShader', () => {
  it('stops before any bench with one line naming the software adapter', async () => {
    const env = { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, XDG_RUNTIME_DIR: mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-')) };
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      execFile('bash', ['scripts/bench-gpu.sh', '2', '1'], { cwd: ROOT, env }, (err, stdout, stderr) => res({ code: err ? Number(err.code) : 0, stdout, stderr }));
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^bench-gpu: the WebGPU adapter is google swiftshader .*no GPU speed/m);
    expect(r.stdout).toBe('');
  }, 60_000);
});
