/**
 * `home_dir`: the original bound each user to its bucket by this directory, so two
 * accounts must not share one or nest one inside another.
 *
 * @module
 */

import { resolve, sep } from "node:path";
import type { AccountContext, StorageChoice } from "./context.ts";
import type { IssueLog } from "./issues.ts";
import { ACCOUNT_SPECS as KEYS, namesOf } from "./keys.ts";
import { readValue, type SectionReader } from "./sections.ts";
import { printable } from "./show.ts";

/** An account's absolute home_dir and where it was set. */
export interface PlacedHome {
  section: string;
  dir: string;
  line: number;
}

/** home_dir (older: cos_user_home_dir) against `cwd`; a local account may omit it for local_root. */
export function readHomeDir(
  section: SectionReader,
  choice: StorageChoice,
  ctx: AccountContext,
): PlacedHome | null {
  const entry = section.first(...namesOf(KEYS.homeDir));
  if (entry !== undefined) {
    const dir = readValue(section, entry.key, KEYS.homeDir.parse, null, ctx.log);
    return dir === null
      ? null
      : { section: section.name, dir: resolve(ctx.cwd, dir), line: entry.line };
  }
  const localRoot = section.get(KEYS.localRoot.key);
  if (choice.storage?.kind === "local" && localRoot !== undefined) {
    return { section: section.name, dir: choice.storage.root, line: localRoot.line };
  }
  // Local storage without either directory has already been reported by the storage reader.
  if (choice.kind !== "local") {
    const message = `[${section.name}] needs home_dir (cos_user_home_dir in the older format), ` +
      "which must differ between accounts";
    ctx.log.error(section.line, "home_dir", message);
  }
  return null;
}

/** Reports equal or nested home_dirs, naming both sections. */
export function checkHomeDirs(homes: PlacedHome[], log: IssueLog): void {
  homes.forEach((home, j) => {
    for (const earlier of homes.slice(0, j)) {
      const relation = relate(earlier.dir, home.dir);
      if (relation === "") continue;
      log.error(
        home.line,
        "home_dir",
        `${printable(home.dir)} of [${home.section}] ${relation} ` +
          `${printable(earlier.dir)} of [${earlier.section}] (line ${earlier.line}); ` +
          "each account needs its own home_dir, not inside another's",
      );
    }
  });
}

/** Segment-wise, so `/data/a` and `/data/ab` do not overlap. */
function relate(a: string, b: string): string {
  const sa = segments(a);
  const sb = segments(b);
  const common = sa.findIndex((segment, i) => segment !== sb[i]);
  const shared = common < 0 ? Math.min(sa.length, sb.length) : common;
  if (sa.length === sb.length && shared === sa.length) return "is the same as";
  if (shared === sa.length) return "is inside";
  if (shared === sb.length) return "contains";
  return "";
}

function segments(path: string): string[] {
  return path.split(sep).filter((segment) => segment !== "");
}
