/**
 * The local backend against the storage contract: paging, exact-key stat,
 * invisible-until-commit writes, abort leaving nothing, reserved names.
 */

import { StorageError } from "../src/storage/errors.ts";
import { LocalStorage, STAGING_DIR } from "../src/storage/local.ts";
import type { Entry } from "../src/storage/types.ts";
import { assert, assertEquals, assertRejects } from "./support/assert.ts";

async function withStorage(fn: (storage: LocalStorage, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir();
  const storage = await LocalStorage.open(root);
  try {
    await fn(storage, root);
  } finally {
    await storage.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function collect(pages: AsyncIterable<Entry[]>): Promise<{ pages: number; names: string[] }> {
  let count = 0;
  const names: string[] = [];
  for await (const page of pages) {
    count++;
    names.push(...page.map((e) => `${e.name}${e.kind === "dir" ? "/" : ""}`));
  }
  return { pages: count, names: names.sort() };
}

async function kindOf(promise: Promise<unknown>): Promise<string> {
  const error = await assertRejects(() => promise);
  assert(error instanceof StorageError, `expected a StorageError, got ${error}`);
  return error.kind;
}

Deno.test("local: list pages, hides the staging directory, dirs end in /", async () => {
  await withStorage(async (storage, root) => {
    for (let i = 0; i < 25; i++) await Deno.writeTextFile(`${root}/f${i}`, "x");
    await storage.mkdir("sub/");
    const listed = await collect(storage.list("", { pageSize: 10 }));
    assertEquals(listed.pages, 3);
    assertEquals(listed.names.length, 26);
    assert(listed.names.includes("sub/"));
    assert(!listed.names.some((n) => n.startsWith(STAGING_DIR)));
  });
});

Deno.test("local: writes are invisible until commit; abort leaves nothing and keeps the old file", async () => {
  await withStorage(async (storage, root) => {
    await Deno.writeTextFile(`${root}/k`, "old");
    const sink = await storage.write("k");
    await sink.write(new TextEncoder().encode("new bytes"));
    assertEquals(await Deno.readTextFile(`${root}/k`), "old");
    await sink.abort();
    await sink.abort(); // twice is fine
    assertEquals(await Deno.readTextFile(`${root}/k`), "old");
    assertEquals([...Deno.readDirSync(`${root}/${STAGING_DIR}`)].length, 0);
    const next = await storage.write("a/b/k");
    await next.write(new TextEncoder().encode("fresh"));
    assertEquals(await storage.stat("a/b/k"), null);
    const entry = await next.commit();
    assertEquals([entry.name, entry.size], ["k", 5]);
    assertEquals(await Deno.readTextFile(`${root}/a/b/k`), "fresh");
    assert(await storage.isDirectory("a/"), "parents of a committed key exist");
  });
});

Deno.test("local: stat is exact (no prefix match), errors have kinds", async () => {
  await withStorage(async (storage, root) => {
    await Deno.writeTextFile(`${root}/foobar.txt`, "x");
    assertEquals(await storage.stat("foo"), null);
    assertEquals(await storage.isDirectory("foo/"), false);
    assertEquals(await storage.isDirectory(""), true);
    assertEquals(await kindOf(storage.delete("foo")), "not-found");
    await storage.mkdir("d/");
    assertEquals(await kindOf(storage.mkdir("d/")), "exists");
    assertEquals(await kindOf(storage.delete("d")), "is-a-directory");
    await Deno.writeTextFile(`${root}/d/x`, "x");
    assertEquals(await kindOf(storage.rmdir("d/")), "not-empty");
    assertEquals(await kindOf(storage.rmdir("nope/")), "not-found");
    assertEquals(await kindOf(storage.read("nope")), "not-found");
    assertEquals(await kindOf(storage.stat("../etc/passwd")), "invalid-name");
    assertEquals(await kindOf(storage.write(`${STAGING_DIR}/x`)), "invalid-name");
  });
});

Deno.test("local: ranged read and rename of files and directories", async () => {
  await withStorage(async (storage, root) => {
    await Deno.writeTextFile(`${root}/r.txt`, "0123456789");
    const stream = await storage.read("r.txt", { offset: 4 });
    assertEquals(await new Response(stream).text(), "456789");
    await storage.rename("r.txt", "s.txt");
    assertEquals(await storage.stat("r.txt"), null);
    await storage.mkdir("d/");
    await storage.rename("s.txt", "d/s.txt");
    await storage.rename("d/", "e/");
    assertEquals(await Deno.readTextFile(`${root}/e/s.txt`), "0123456789");
  });
});

Deno.test("local: stale staging files from a crash are removed on open", async () => {
  const root = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/${STAGING_DIR}`);
  await Deno.writeTextFile(`${root}/${STAGING_DIR}/leftover`, "partial");
  const storage = await LocalStorage.open(root);
  const left = [...Deno.readDirSync(`${root}/${STAGING_DIR}`)];
  assertEquals(left.length, 0);
  await storage.close();
  await Deno.remove(root, { recursive: true });
});
