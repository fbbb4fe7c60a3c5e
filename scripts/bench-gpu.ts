/**
 * The parts of scripts/bench-gpu.sh that are more than running commands:
 *
 *   npx tsx scripts/bench-gpu.ts adapter [--allow-software]
 *     prints the WebGPU adapter `ares bench --backend webgpu` runs on; exits 3 with one line when
 *     it is a software one (SwiftShader, llvmpipe: a GPU emulated on the CPU, so its time is no GPU
 *     speed) unless --allow-software, and 2 when there is none
 *   npx tsx scripts/bench-gpu.ts table [--allow-software] < lines
 *     reads the JSON lines of `ares bench --json` and `bench/torch_step.py` and prints one row per
 *     model: ms per step of each and their ratio (ares / PyTorch)
 */
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';

/** One timed CE step as either side prints it (the fields the table reads). */
export interface StepLine {
  side: 'ares' | 'pytorch';
  model: string;
  method: string;
  batch: number;
  /** ares: the backend (webgpu); PyTorch: the device (cuda). */
  device: string;
  msPerStep: number;
}

/** The JSON lines of a sitting; other lines (warnings, blank) are skipped, a JSON line that is neither side's is an error. */
export function parseStepLines(text: string): StepLine[] {
  const out: StepLine[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(t);
    } catch {
      throw new Error(`line ${i + 1} is not JSON: ${t.slice(0, 80)}`);
    }
    const ms = Number(o.ms_per_step);
    if (typeof o.model !== 'string' || !Number.isFinite(ms)) throw new Error(`line ${i + 1} has no model and ms_per_step: ${t.slice(0, 80)}`);
    const pytorch = o.impl === 'pytorch';
    out.push({
      side: pytorch ? 'pytorch' : 'ares', model: o.model, method: String(o.method), batch: Number(o.batch),
      device: String(pytorch ? o.device : o.backend), msPerStep: ms,
    });
  }
  return out;
}

/** The ratio table: one row per model (in the order ares ran them), ares's ms, PyTorch's ms, ares / PyTorch. */
export function ratioTable(lines: StepLine[], opts: { software?: boolean } = {}): string {
  const models = [...new Set(lines.map((l) => l.model))];
  const head = opts.software
    ? 'NOT A SPEED: the WebGPU adapter is a software one (a GPU emulated on the CPU); these times only show that the sitting runs'
    : 'CE training step, ms per step (median), one sitting';
  const rows = [head, `${'model'.padEnd(10)} ${'batch'.padStart(5)} ${'ares'.padStart(18)} ${'pytorch'.padStart(18)} ${'ratio'.padStart(7)}`];
  for (const m of models) {
    const a = lines.find((l) => l.model === m && l.side === 'ares');
    const p = lines.find((l) => l.model === m && l.side === 'pytorch');
    const cell = (l?: StepLine) => (l ? `${l.msPerStep.toFixed(1)} (${l.device})` : 'missing').padStart(18);
    const ratio = a && p && p.msPerStep > 0 ? (a.msPerStep / p.msPerStep).toFixed(2) : '—';
    rows.push(`${m.padEnd(10)} ${String((a ?? p)!.batch).padStart(5)} ${cell(a)} ${cell(p)} ${ratio.padStart(7)}`);
  }
  rows.push('ratio = ares ms / PyTorch ms (above 1: ares is slower)');
  return rows.join('\n');
}

/** Whether the sitting may run on this adapter: null when it may, else the line to stop with. */
export function adapterRefusal(adapter: { description: string; software: boolean } | null, allowSoftware: boolean): string | null {
  if (!adapter) return 'bench-gpu: no WebGPU adapter found (install the GPU\'s Vulkan, Metal or D3D12 driver)';
  if (adapter.software && !allowSoftware) {
    return `bench-gpu: the WebGPU adapter is ${adapter.description}, a GPU emulated on the CPU: its times are no GPU speed. `
      + 'Run on a machine with a GPU driver, or pass --allow-software for a smoke test (output marked "not a speed")';
  }
  return null;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const allowSoftware = rest.includes('--allow-software');
  const { probeWebGpu } = await import('../src/engine/webgpu.js');
  const adapter = await probeWebGpu();
  if (command === 'adapter') {
    const refusal = adapterRefusal(adapter, allowSoftware);
    if (refusal) {
      process.stderr.write(`${refusal}\n`);
      process.exit(adapter ? 3 : 2);
    }
    process.stdout.write(`adapter: ${adapter!.description}${adapter!.software ? ' (software: NOT A SPEED)' : ''}\n`);
  } else if (command === 'table') {
    process.stdout.write(`${ratioTable(parseStepLines(readFileSync(0, 'utf8')), { software: adapter?.software ?? false })}\n`);
  } else {
    process.stderr.write('usage: bench-gpu.ts adapter|table [--allow-software]\n');
    process.exit(2);
  }
  // Dawn keeps the process alive while its instance exists.
  process.exit(0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
