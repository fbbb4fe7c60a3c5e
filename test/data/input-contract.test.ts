import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseResizeMode, resizeImages, toModelPixels } from '../../src/data/input-contract.js';
import { decodeImage, decodePixels, probeImage } from '../../src/data/image-decode.js';
import { DETECTOR_VERSION, parseDetectorSpec } from '../../src/run/detector.js';
import { expectAresError } from '../run/helpers.js';

/**
 * The input contract (src/data/input-contract.ts) on hand-checkable images: the three resize
 * modes' geometry, alpha onto black, value scales, channel rules; sharp's decoding with EXIF
 * orientation; and detector.json's `resize` field with version 1 files read as crop.
 */
const grey = (w: number, h: number, f: (x: number, y: number) => number) =>
  ({ width: w, height: h, data: Float32Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))) });

describe('resize modes', () => {
  it('crop keeps the centre, stretch keeps everything, pad adds black margins', () => {
    // 2 rows × 4 columns; columns 0..3 hold 0.1, 0.4, 0.6, 0.9.
    const cols = [0.1, 0.4, 0.6, 0.9];
    const img = grey(4, 2, (x) => cols[x]);
    expect(Array.from(toModelPixels(img, [2, 2, 1], 'crop'))).toEqual([0.4, 0.6, 0.4, 0.6].map(Math.fround));
    // stretch halves the width: (3a + 3b + c)/7 and (b + 3c + 3d)/7 (see transform.test.ts).
    const s = toModelPixels(img, [2, 2, 1], 'stretch');
    expect(s[0]).toBeCloseTo((3 * 0.1 + 3 * 0.4 + 0.6) / 7, 6);
    expect(s[1]).toBeCloseTo((0.4 + 3 * 0.6 + 3 * 0.9) / 7, 6);
    // pad into 4×4: the 4×2 image keeps its size, centred: rows 1 and 2, black rows 0 and 3.
    const p = toModelPixels(img, [4, 4, 1], 'pad');
    expect(Array.from(p.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(Array.from(p.subarray(4, 8))).toEqual(cols.map(Math.fround));
    expect(Array.from(p.subarray(8, 12))).toEqual(cols.map(Math.fround));
    expect(Array.from(p.subarray(12, 16))).toEqual([0, 0, 0, 0]);
  });

  it('pad keeps the aspect ratio of a portrait image inside a square', () => {
    const white = grey(10, 20, () => 1);
    const p = toModelPixels(white, [8, 8, 1], 'pad');
    // 10×20 → 4×8 inside 8×8: columns 2..5 white, the rest black.
    for (let y = 0; y < 8; y++) expect(Array.from(p.subarray(y * 8, y * 8 + 8))).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });

  it('one image of a batch resize equals toModelPixels of that image', () => {
    const a = grey(7, 5, (x, y) => ((x * 13 + y * 7) % 11) / 10);
    const b = grey(7, 5, (x, y) => ((x * 3 + y * 5) % 7) / 6);
    const batch = new Float32Array([...a.data, ...b.data]);
    for (const mode of ['crop', 'stretch', 'pad'] as const) {
      const out = resizeImages(batch, 2, [5, 7, 1], [4, 4], mode);
      expect(Array.from(out.subarray(16))).toEqual(Array.from(toModelPixels(b, [4, 4, 1], mode)));
    }
  });
});

describe('values, alpha and channels', () => {
  it('8-bit, 16-bit and float inputs of the same picture agree', () => {
    const u8 = Uint8Array.from({ length: 6 * 4 * 3 }, (_, i) => (i * 37) % 256);
    const u16 = Uint16Array.from(u8, (v) => v * 257);
    const f32 = Float32Array.from(u8, (v) => v / 255);
    const a = toModelPixels({ width: 6, height: 4, data: u8 }, [3, 3, 3], 'crop');
    const b = toModelPixels({ width: 6, height: 4, data: u16 }, [3, 3, 3], 'crop');
    const c = toModelPixels({ width: 6, height: 4, data: f32 }, [3, 3, 3], 'crop');
    for (let i = 0; i < a.length; i++) { expect(b[i]).toBeCloseTo(a[i], 6); expect(c[i]).toBeCloseTo(a[i], 6); }
  });

  it('alpha is composited onto black (whatever colour a transparent pixel stores), then dropped', () => {
    const rgba = Uint8ClampedArray.of(200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 51);
    const out = toModelPixels({ width: 3, height: 1, data: rgba }, [1, 3, 3], 'stretch');
    expect(Array.from(out.subarray(0, 3))).toEqual([200 / 255, 100 / 255, 50 / 255].map(Math.fround));
    expect(Array.from(out.subarray(3, 6))).toEqual([0, 0, 0]);
    expect(out[6]).toBeCloseTo((200 / 255) * 0.2, 6);
    // Grey + alpha: the same rule.
    const ga = toModelPixels({ width: 2, height: 1, data: Uint8Array.of(255, 0, 255, 255) }, [1, 2, 1], 'stretch');
    expect(Array.from(ga)).toEqual([0, 1]);
  });

  it('RGB → grey by ITU-R 601 luma; grey → RGB repeats', () => {
    const red = toModelPixels({ width: 1, height: 1, data: Uint8Array.of(255, 0, 0) }, [1, 1, 1], 'crop');
    expect(red[0]).toBeCloseTo(0.299, 6);
    const g = toModelPixels({ width: 1, height: 1, data: Uint8Array.of(51) }, [1, 1, 3], 'crop');
    expect(Array.from(g)).toEqual([0.2, 0.2, 0.2].map(Math.fround));
  });

  it('names the image when its values do not fit its size, and refuses models of other channel counts', async () => {
    await expectAresError(() => toModelPixels({ width: 2, height: 2, data: new Uint8Array(5) }, [2, 2, 3], 'crop', 'photo.png'), 'photo.png', '5 values for 2×2 pixels');
    await expectAresError(() => toModelPixels({ width: 1, height: 1, data: new Uint8Array(3) }, [1, 1, 2], 'crop'), 'takes 2 channels');
    expect(parseResizeMode('pad', '--resize')).toBe('pad');
    expect(parseResizeMode('cover', '--fit')).toBe('crop');
    expect(parseResizeMode('fill', '--fit')).toBe('stretch');
    await expectAresError(() => parseResizeMode('squash', '--resize'), '--resize must be one of crop, stretch, pad, got "squash"');
  });
});

describe('decoding (sharp)', () => {
  it('applies EXIF orientation: a JPEG tagged "rotate 90° clockwise" decodes as its pixels rotated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ares-exif-'));
    try {
      // 6 wide × 4 high; both files hold the same JPEG data, only the orientation tag differs.
      const raw = Buffer.from(Uint8Array.from({ length: 6 * 4 * 3 }, (_, i) => (i * 53) % 256));
      const plain = join(dir, 'plain.jpg');
      const tagged = join(dir, 'tagged.jpg');
      const jpeg = await sharp(raw, { raw: { width: 6, height: 4, channels: 3 } }).jpeg({ quality: 100 }).toBuffer();
      await sharp(jpeg).toFile(plain);
      await sharp(jpeg).withMetadata({ orientation: 6 }).toFile(tagged);
      const a = await decodePixels(plain);
      const b = await decodePixels(tagged);
      expect([a.width, a.height]).toEqual([6, 4]);
      expect([b.width, b.height]).toEqual([4, 6]);
      expect(await probeImage(tagged)).toMatchObject({ width: 4, height: 6 });
      // Orientation 6: displayed pixel (x, y) is stored pixel (y, H − 1 − x) with H = 4 stored rows.
      let same = true;
      for (let y = 0; y < 6; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) {
        if (b.data[(y * 4 + x) * 3 + c] !== a.data[((3 - x) * 6 + y) * 3 + c]) same = false;
      }
      expect(same).toBe(true);
      // decodeImage is decodePixels through the contract.
      expect(Array.from(await decodeImage(tagged, [3, 3, 3], 'pad'))).toEqual(Array.from(toModelPixels(b, [3, 3, 3], 'pad')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('detector.json resize', () => {
  const base = { classNames: ['a', 'b'], inputShape: [4, 4, 3], normalization: { mean: [0, 0, 0], std: [1, 1, 1] }, score: { name: 'msp' }, threshold: { gamma: 0.5, tpr: 0.95, on: 'id-validation' } };

  it('version 2 carries the mode; version 1 files (no field) mean crop, as they did', () => {
    expect(DETECTOR_VERSION).toBe(2);
    expect(parseDetectorSpec({ ...base, version: 2, resize: 'pad' }, 'd.json').resize).toBe('pad');
    const old = parseDetectorSpec({ ...base, version: 1 }, 'd.json');
    expect(old.resize).toBe('crop');
    expect(old.version).toBe(2);
  });

  it('refuses a version 2 file without a valid mode, and unknown versions', async () => {
    await expectAresError(() => parseDetectorSpec({ ...base, version: 2 }, 'd.json'), 'd.json', 'resize must be one of crop, stretch, pad');
    await expectAresError(() => parseDetectorSpec({ ...base, version: 2, resize: 'cover' }, 'd.json'), 'resize must be one of');
    await expectAresError(() => parseDetectorSpec({ ...base, version: 3, resize: 'crop' }, 'd.json'), 'unsupported version 3');
  });
});
