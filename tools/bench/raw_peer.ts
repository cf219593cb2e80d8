/**
 * The benchmark's baseline: the same work as an FTP upload or download to
 * local storage (socket -> file in 1 MiB writes + fsync, file -> socket),
 * with no FTP in between and the same buffering (256 KiB socket reads, 1 MiB
 * file writes), so the ratio shows what the FTP layer itself costs.
 * Usage: raw_peer.ts <port> <sink|source> <file>.
 * Prints "ready" once listening, serves one connection, and exits.
 */

const [port, mode, path] = Deno.args;
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(port) });
console.log("ready");
const conn = await listener.accept();
listener.close();
if (mode === "sink") {
  // A new file each run, as the gateway's staging file is: rewriting one in place costs more on ext4.
  await Deno.remove(path).catch(() => {});
  const file = await Deno.open(path, { write: true, createNew: true });
  const buffer = new Uint8Array(256 * 1024);
  const batch = new Uint8Array(1024 * 1024);
  let used = 0;
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    if (used + n > batch.length) {
      await writeAll(file, batch.subarray(0, used));
      used = 0;
    }
    batch.set(buffer.subarray(0, n), used);
    used += n;
  }
  await writeAll(file, batch.subarray(0, used));
  await file.syncData();
  file.close();
} else {
  const file = await Deno.open(path, { read: true });
  const writer = conn.writable.getWriter();
  while (true) {
    const buffer = new Uint8Array(1024 * 1024);
    const n = await file.read(buffer);
    if (n === null) break;
    await writer.write(buffer.subarray(0, n));
  }
  await writer.close();
  file.close();
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
}
