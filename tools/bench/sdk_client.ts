/**
 * The benchmark's COS baseline: the official SDK talking to the emulator
 * directly, with the gateway's part size and parallelism, used the fastest
 * way we know: multipart with Buffer bodies read straight from the file
 * (the SDK's own sliceUploadFile measured slower, which would flatter us).
 * Usage: sdk_client.ts <put|get> <url> <region> <secretId> <secretKey> <bucket> <key> <file> <partBytes> <parallel>
 * Prints the seconds the transfer took.
 */

import COS from "cos-nodejs-sdk-v5";
import { Buffer } from "node:buffer";
import { Writable } from "node:stream";

const [op, url, region, secretId, secretKey, bucket, key, file, partBytes, parallel] = Deno.args;
const endpoint = new URL(url);
const sdk = new COS({
  SecretId: secretId,
  SecretKey: secretKey,
  Ip: endpoint.host,
  Protocol: "http:",
  AutoSwitchHost: false,
  KeepAlive: true,
  ChunkParallelLimit: Number(parallel),
  ChunkSize: Number(partBytes),
});
const at = { Bucket: bucket, Region: region, Key: key };
const started = performance.now();
if (op === "put") {
  await multipartPut(file, Number(partBytes), Number(parallel));
} else {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  await sdk.getObject({ ...at, Output: sink });
}
console.log(((performance.now() - started) / 1000).toFixed(4));

/** Reads the file part by part and keeps `parallel` UploadPart requests going. */
async function multipartPut(path: string, partBytes: number, parallel: number): Promise<void> {
  const { UploadId } = await sdk.multipartInit(at);
  const input = await Deno.open(path, { read: true });
  const etags: string[] = [];
  const running = new Set<Promise<void>>();
  for (let part = 1;; part++) {
    const buffer = new Uint8Array(partBytes);
    let filled = 0;
    while (filled < partBytes) {
      const n = await input.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    if (filled === 0) break;
    while (running.size >= parallel) await Promise.race(running);
    const body = Buffer.from(buffer.buffer, 0, filled);
    const upload = sdk.multipartUpload({ ...at, UploadId, PartNumber: part, Body: body })
      .then((result) => void (etags[part - 1] = result.ETag))
      .finally(() => running.delete(upload));
    running.add(upload);
  }
  await Promise.all(running);
  input.close();
  const Parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
  await sdk.multipartComplete({ ...at, UploadId, Parts });
}
