import { AresError } from '../errors.js';

/**
 * JSON.parse whose failure is an AresError naming the file. Pure (no Node imports), so the
 * browser loader shares it with the Node readers. `prefix` leads the message, e.g. "corrupt run config: ".
 */
export function parseJsonText(text: string, file: string, prefix = ''): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AresError(`${prefix}not valid JSON (${(err as Error).message})`, { file });
  }
}
