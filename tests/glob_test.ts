/**
 * The wildcard matcher behind LIST/NLST/STAT globs: shell semantics, and
 * time linear enough that no pattern can freeze the server.
 */

import { globMatcher } from "../src/ftp/glob.ts";
import { assert, assertEquals } from "./support/assert.ts";

Deno.test("glob: *, ?, classes, ranges, negation and literal brackets", () => {
  const cases: Array<[string, string, boolean]> = [
    ["*.txt", "a.txt", true],
    ["*.txt", "a.txt.bak", false],
    ["?.txt", "ab.txt", false],
    ["a?c", "abc", true],
    ["[ab]*", "b1", true],
    ["[a-c]x", "dx", false],
    ["[!a-c]x", "dx", true],
    ["[^a]x", "ax", false],
    ["报告*", "报告 2026.pdf", true],
    ["[unclosed", "[unclosed", true],
    ["**a**", "xxa", true],
    ["", "", true],
    ["*", "", true],
  ];
  for (const [glob, name, expected] of cases) {
    assertEquals(globMatcher(glob)(name), expected, `${glob} ~ ${name}`);
  }
});

Deno.test("glob: a pathological pattern stays fast (no exponential backtracking)", () => {
  const name = "a".repeat(255);
  const pattern = "*a".repeat(40) + "b";
  const started = performance.now();
  assertEquals(globMatcher(pattern)(name), false);
  const ms = performance.now() - started;
  assert(ms < 200, `took ${ms} ms`);
});
