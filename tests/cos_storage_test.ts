/**
 * The COS backend against the storage contract, below the FTP layer: what
 * is hard to reach through FTP (multipart copy, endpoint forms).
 */

import { PartBufferPool } from "../src/storage/cos/buffers.ts";
import { createCosClient } from "../src/storage/cos/client.ts";
import { CosStorage } from "../src/storage/cos/storage.ts";
import { assertEquals } from "./support/assert.ts";
import { startCosEmulator } from "./support/cos_emulator.ts";
import { BUCKET, cosStorage, SECRET_ID, SECRET_KEY } from "./support/cos_server.ts";
import { randomBytes } from "./support/server.ts";

const MIB = 1024 * 1024;

Deno.test("COS storage: renames above the single-copy limit copy part by part", async () => {
  const emulator = await startCosEmulator({
    credentials: { [SECRET_ID]: SECRET_KEY },
    buckets: [BUCKET],
    maxCopySize: MIB,
  });
  const storage = new CosStorage(cosStorage(emulator), {
    pool: new PartBufferPool(16 * MIB),
    minPartSize: MIB,
    parallelParts: 2,
    timeoutMs: 5000,
    maxRenameObjects: 10,
    maxCopyBytes: MIB,
  });
  try {
    const bytes = randomBytes(3 * MIB + 5);
    emulator.putObject(BUCKET, "大 文件.bin", bytes);
    await storage.rename("大 文件.bin", "moved/大 文件.bin");
    assertEquals(emulator.getObject(BUCKET, "moved/大 文件.bin"), bytes);
    assertEquals(emulator.getObject(BUCKET, "大 文件.bin"), undefined);
    const counts = emulator.requestCounts();
    assertEquals(counts.PutObjectCopy ?? 0, 0);
    assertEquals((counts.UploadPartCopy ?? 0) >= 4, true);
    assertEquals(emulator.inflightUploads(), []);
  } finally {
    await storage.close();
    await emulator.close();
  }
});

Deno.test("COS client: endpoint forms give the right connection and Host", () => {
  const base = { ...cosStorage({ url: "", region: "ap-guangzhou" } as never), endpoint: "" };
  const pub = createCosClient({ ...base, region: "ap-beijing" }, 1000);
  assertEquals([pub.origin, pub.bucketHost], [
    "http://ftp-1250000000.cos.ap-beijing.myqcloud.com",
    "ftp-1250000000.cos.ap-beijing.myqcloud.com",
  ]);
  const suffix = createCosClient(
    { ...base, endpoint: "cos.internal.example", protocol: "https" },
    1000,
  );
  assertEquals([suffix.origin, suffix.bucketHost], [
    "https://ftp-1250000000.cos.internal.example",
    "ftp-1250000000.cos.internal.example",
  ]);
  const template = createCosClient({ ...base, endpoint: "{Bucket}.{Region}.store.example" }, 1000);
  assertEquals(template.bucketHost, "ftp-1250000000.ap-guangzhou.store.example");
  const direct = createCosClient({ ...base, endpoint: "http://10.0.0.5:9000" }, 1000);
  assertEquals([direct.origin, direct.bucketHost], [
    "http://10.0.0.5:9000",
    "ftp-1250000000.cos.ap-guangzhou.myqcloud.com",
  ]);
  for (const client of [pub, suffix, template, direct]) client.http.close();
});
