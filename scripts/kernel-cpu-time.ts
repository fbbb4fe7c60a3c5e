/**
 * Single-thread process CPU time (not wall time: it stays meaningful on a shared machine) of the
 * wasm kernels, for comparing kernel builds (ARES_WASM_SIMD=plain|relaxed) or checkouts.
 *
 *   ARES_THREADS=1 ARES_WASM_SIMD=relaxed npx tsx scripts/kernel-cpu-time.ts step wrn40-2 [calls]
 *     minimum CPU time of `calls` (default 3) CE bench steps at batch 128, after one warm-up step
 *   ARES_THREADS=1 ARES_WASM_SIMD=relaxed npx tsx scripts/kernel-cpu-time.ts winograd [calls]
 *     minimum CPU time of `calls` (default 4) calls, after one warm-up, of the 3x3 stride-1
 *     convolution's forward, input gradient and filter gradient at batch 128 on WRN-40-2's three
 *     layer shapes (32x32x32, 16x16x64, 8x8x128)
 *   ARES_THREADS=1 ARES_WASM_SIMD=relaxed npx tsx scripts/kernel-cpu-time.ts stride2 [calls]
 *     the same for the stride-2 3x3 convolutions ('same' padding) at batch 128 on ResNet-18's three
 *     downsampling shapes (32x32x64 -> 16x16x128, 16x16x128 -> 8x8x256, 8x8x256 -> 4x4x512)
 *
 * Prints one JSON line: the kernel build that ran and the minima in milliseconds. Run it
 * alternately for the variants being compared and take the minimum over several processes.
 */
import { initEngine, tf } from '../src/engine/backend.js';
import { benchStepFactory } from '../src/bench/index.js';
import { kernelRuntime } from '../src/engine/kernels/index.js';

function cpuMs(f: () => void): number {
  const start = process.cpuUsage();
  f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Minimum of `calls` timed calls after one untimed warm-up call, to 0.1 ms. */
function minCpuMs(f: () => void, calls: number): number {
  f();
  const times = Array.from({ length: calls }, () => cpuMs(f));
  return Math.round(Math.min(...times) * 10) / 10;
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  await initEngine({ backend: 'wasm', threads: 1 });
  const build = kernelRuntime()?.build ?? null;
  if (mode === 'step') {
    const model = rest[0] ?? 'cnn', calls = Number(rest[1] ?? 3);
    const bench = await benchStepFactory(model, 'ce')({ batch: 128, seed: 0 });
    let loss = NaN;
    const ms = minCpuMs(() => { loss = bench.step(); }, calls);
    bench.dispose();
    console.log(JSON.stringify({ kernel_simd: build, model, batch: 128, min_cpu_ms: ms, last_loss: loss }));
  } else if (mode === 'winograd' || mode === 'stride2') {
    const calls = Number(rest[0] ?? 4), stride = mode === 'winograd' ? 1 : 2;
    const shapes = mode === 'winograd' ? [[32, 32], [16, 64], [8, 128]] : [[32, 64], [16, 128], [8, 256]];
    const out: Record<string, number[]> = { forward: [], input_gradient: [], filter_gradient: [] };
    for (const [size, channels] of shapes) {
      const shape: [number, number, number, number] = [128, size, size, channels];
      const outSize = size / stride, outChannels = channels * stride;
      const x = tf.randomNormal(shape) as tf.Tensor4D;
      const dy = tf.randomNormal([128, outSize, outSize, outChannels]) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, channels, outChannels]) as tf.Tensor4D;
      const run = (f: () => tf.Tensor) => () => { const y = f(); y.dataSync(); y.dispose(); };
      out.forward.push(minCpuMs(run(() => tf.conv2d(x, w, stride, 'same')), calls));
      out.input_gradient.push(minCpuMs(run(() => tf.conv2dTranspose(dy, w, shape, stride, 'same')), calls));
      out.filter_gradient.push(minCpuMs(run(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
        { strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, channels, outChannels] }) as tf.Tensor), calls));
      tf.dispose([x, dy, w]);
    }
    const names = shapes.map(([size, channels]) => `${size}x${size}x${channels}`);
    console.log(JSON.stringify({ kernel_simd: build, batch: 128, stride, shapes: names, min_cpu_ms: out }));
  } else {
    throw new Error('usage: kernel-cpu-time.ts step <model> [calls] | winograd [calls] | stride2 [calls]');
  }
}

await main();
