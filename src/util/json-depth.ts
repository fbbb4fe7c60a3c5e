/**
 * How deeply JSON text nests, found by scanning the text (no parse, no recursion).
 *
 * V8's JSON.parse is iterative and accepts a million nested brackets, but JSON.stringify, tfjs's
 * model deserialisers and structuredClone recurse, so a file nested that deep parses fine and then
 * overflows the stack far from where it was read. Checking the text first turns that into an error
 * that names the file. Pure (no Node imports): the browser loader shares it.
 */

/** Deeper than any real model.json or checkpoint header (converter output nests about 10 levels). */
export const MAX_JSON_DEPTH = 100;

/**
 * The deepest nesting of [ and { in `text` outside strings, stopping as soon as it passes `limit`
 * (so a hostile file costs one pass at most). Malformed text is left to JSON.parse to report.
 */
export function jsonNestingDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}
