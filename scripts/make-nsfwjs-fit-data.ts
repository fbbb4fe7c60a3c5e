/**
 * The data of BENCHMARKS.md's "ares fit at 224×224" section: nsfwjs's MobileNetV2 layers model
 * (npm nsfwjs, devDependency) written back as model.json + shard into <dir>/mobilenet_v2, and an ID
 * folder <dir>/id of its 5 classes × 120 different 400×300 crops of the mate-backgrounds photos
 * (Debian package mate-backgrounds): Drawing from the abstract renders, Neutral from the nature
 * photos, the other three from both (only memory and time are measured, not accuracy).
 *
 *   npx tsx scripts/make-nsfwjs-fit-data.ts /tmp/nsfwjs-fit
 */
import { join } from 'node:path';
import { NSFWJS_CLASSES, abstractImages, havePhotos, photos, writeCrops, writeNsfwjsModel } from '../test/fixtures/nsfwjs.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: npx tsx scripts/make-nsfwjs-fit-data.ts <dir>');
if (!havePhotos()) throw new Error('needs the Debian package mate-backgrounds (/usr/share/backgrounds/mate)');
writeNsfwjsModel('mobilenet_v2', join(dir, 'mobilenet_v2'));
const nature = photos(), drawings = abstractImages(), all = [...nature, ...drawings];
for (const [i, c] of NSFWJS_CLASSES.entries()) {
  const sources = c === 'Drawing' ? drawings : c === 'Neutral' ? nature : [...all.slice(i * 3), ...all.slice(0, i * 3)];
  await writeCrops(sources, join(dir, 'id', c), 120, 400, 300);
}
console.log(`wrote ${join(dir, 'mobilenet_v2')} and ${join(dir, 'id')} (${NSFWJS_CLASSES.length} × 120 images)`);
