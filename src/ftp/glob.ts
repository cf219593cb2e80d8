/**
 * Shell-style wildcards for LIST/NLST/STAT arguments: `*`, `?` and `[...]`
 * classes (ranges, `!` or `^` to negate).
 *
 * Matched without regular expressions: a glob such as `*a*a*a*a*a*a*a*b`
 * turned into a regex backtracks exponentially (measured: 36 s for one
 * 60-character name, freezing every session). This matcher remembers only
 * the last `*`, so it runs in O(pattern x name) at worst.
 *
 * @module
 */

/** One pattern element. */
type Token =
  | { kind: "star" }
  | { kind: "any" }
  | { kind: "char"; char: string }
  | { kind: "class"; negate: boolean; ranges: Array<[string, string]> };

/** Whether `text` contains wildcard characters. */
export function hasWildcard(text: string): boolean {
  return /[*?[]/.test(text);
}

/** A predicate matching whole names against `glob`. */
export function globMatcher(glob: string): (name: string) => boolean {
  const tokens = tokenize(glob);
  return (name) => matches(tokens, [...name]);
}

function matches(tokens: Token[], name: string[]): boolean {
  let t = 0;
  let n = 0;
  let starToken = -1;
  let starName = 0;
  while (n < name.length) {
    const token = tokens[t];
    if (token?.kind === "star") {
      starToken = t++;
      starName = n;
    } else if (token && matchesOne(token, name[n])) {
      t++;
      n++;
    } else if (starToken >= 0) {
      t = starToken + 1;
      n = ++starName;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === "star") t++;
  return t === tokens.length;
}

function matchesOne(token: Token, char: string): boolean {
  if (token.kind === "any") return true;
  if (token.kind === "char") return token.char === char;
  if (token.kind === "class") {
    const inside = token.ranges.some(([low, high]) => char >= low && char <= high);
    return inside !== token.negate;
  }
  return false;
}

function tokenize(glob: string): Token[] {
  const chars = [...glob];
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "*") {
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star" });
    } else if (c === "?") {
      tokens.push({ kind: "any" });
    } else if (c === "[") {
      const parsed = parseClass(chars, i);
      if (parsed) {
        tokens.push(parsed.token);
        i = parsed.end;
      } else tokens.push({ kind: "char", char: c });
    } else {
      tokens.push({ kind: "char", char: c });
    }
  }
  return tokens;
}

/** `[...]` starting at `start`; `null` when unterminated (then `[` is literal). */
function parseClass(chars: string[], start: number): { token: Token; end: number } | null {
  let i = start + 1;
  const negate = chars[i] === "!" || chars[i] === "^";
  if (negate) i++;
  const ranges: Array<[string, string]> = [];
  for (let first = true; i < chars.length; i++, first = false) {
    if (chars[i] === "]" && !first) return { token: { kind: "class", negate, ranges }, end: i };
    if (chars[i + 1] === "-" && chars[i + 2] !== undefined && chars[i + 2] !== "]") {
      ranges.push([chars[i], chars[i + 2]]);
      i += 2;
    } else {
      ranges.push([chars[i], chars[i]]);
    }
  }
  return null;
}
