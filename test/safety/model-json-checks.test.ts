import { describe, expect, it } from 'vitest';
import { expectedWeightBytes, nonFiniteWeight, parseModelJson } from '../../src/export/model-json.js';
import { jsonNestingDepth } from '../../src/util/json-depth.js';
import { expectAresError } from '../run/helpers.js';

/** The rules behind the model.json checks, one by one (the CLI tests show the messages end to end). */
const manifest = (weights: object[]) => JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights }] });
const parse = (weights: object[]) => parseModelJson(manifest(weights), 'm/model.json');

describe('weightsManifest entries', () => {
  it('byte sizes count quantised weights by their stored dtype', () => {
    const m = parse([
      { name: 'a', shape: [2, 3], dtype: 'float32' },
      { name: 'b', shape: [5], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: -1 } },
      { name: 'c', shape: [4], dtype: 'int32', quantization: { dtype: 'uint16', scale: 1, min: 0 } },
      { name: 'd', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'e', shape: [], dtype: 'bool' },
    ]);
    expect(expectedWeightBytes(m)).toBe(24 + 5 + 8 + 6 + 1);
    expect(Number.isNaN(expectedWeightBytes(parse([{ name: 's', shape: [2], dtype: 'string' }])))).toBe(true);
  });

  it('refuses quantisation tfjs would decode wrongly or not at all', async () => {
    await expectAresError(() => parse([{ name: 'k', shape: [2], dtype: 'int32', quantization: { dtype: 'float16' } }]), 'm/model.json', /weight "k": int32 weights cannot be quantised as float16/);
    await expectAresError(() => parse([{ name: 'k', shape: [2], dtype: 'float32', quantization: { dtype: 'int8', scale: 1, min: 0 } }]), /"quantization" must give a dtype of uint8, uint16, float16, got "int8"/);
    await expectAresError(() => parse([{ name: 'k', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 1, min: null } }]), /uint16 quantisation needs finite "scale" and "min"/);
    await expectAresError(() => parse([{ name: 'k', shape: [2], dtype: 'string', quantization: { dtype: 'uint8', scale: 1, min: 0 } }]), /string weights cannot be quantised as uint8/);
  });

  it('refuses shapes that are not lists of non-negative integers, or too large to count', async () => {
    for (const shape of [[-1], [1.5], ['3'], [2 ** 53], null]) {
      await expectAresError(() => parse([{ name: 'k', shape, dtype: 'float32' }]), /weight "k": "shape" must be a list of non-negative integers/);
    }
    await expectAresError(() => parse([{ name: 'k', shape: [2 ** 30, 2 ** 30], dtype: 'float32' }]), /shape \[1073741824, 1073741824\] has too many values/);
    await expectAresError(() => parse([{ name: 'k', shape: [1], dtype: 'float64' }]), /unknown dtype "float64"/);
  });
});

describe('non-finite weights', () => {
  const f32 = (...v: number[]) => new Float32Array(v).buffer;
  it('finds NaN in float32 weights (also when a 1-byte weight before it leaves it unaligned), and ±Infinity unless allowed', () => {
    const specs = [{ name: 'flag', shape: [1], dtype: 'bool' as const }, { name: 'w', shape: [2], dtype: 'float32' as const }];
    const bytes = new Uint8Array(9);
    new DataView(bytes.buffer).setFloat32(5, NaN, true);
    expect(nonFiniteWeight(specs, bytes.buffer, true)).toEqual({ name: 'w', what: 'NaN' });
    const w = [{ name: 'w', shape: [2], dtype: 'float32' as const }];
    expect(nonFiniteWeight(w, f32(1, -Infinity), false)).toEqual({ name: 'w', what: 'infinite values' });
    expect(nonFiniteWeight(w, f32(1, -Infinity), true)).toBeNull(); // graph models may mask with -inf
    expect(nonFiniteWeight(w, f32(1, 2), false)).toBeNull();
    // Fewer bytes than described (possible when a string weight hides the total): no read past the end.
    expect(nonFiniteWeight([...w, { name: 's', shape: [1], dtype: 'string' as const }], f32(1), false)).toBeNull();
  });

  it('finds NaN in float16-quantised weights (exponent all ones, mantissa non-zero)', () => {
    const h = [{ name: 'h', shape: [2], dtype: 'float32' as const, quantization: { dtype: 'float16' as const } }];
    expect(nonFiniteWeight(h, new Uint16Array([0x3c00, 0x7e00]).buffer, true)).toEqual({ name: 'h', what: 'NaN' });
    expect(nonFiniteWeight(h, new Uint16Array([0x3c00, 0xfc00]).buffer, true)).toBeNull(); // -Infinity
    expect(nonFiniteWeight(h, new Uint16Array([0x3c00, 0xfc00]).buffer, false)).not.toBeNull();
  });
});

describe('jsonNestingDepth', () => {
  it('counts brackets outside strings only, escapes included', () => {
    expect(jsonNestingDepth('{"a": [1, {"b": []}]}')).toBe(4);
    expect(jsonNestingDepth('{"a": "[[[[{{{{"}')).toBe(1);
    expect(jsonNestingDepth('["\\"[[[", [[]]]')).toBe(3);
    expect(jsonNestingDepth('"[["')).toBe(0);
    expect(jsonNestingDepth('['.repeat(1000), 50)).toBe(51); // stops just past the limit
  });
});
