// Content digests: always computed from the exact bytes stored or sent.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The hex part of a `sha256:` digest, as used for blob file names. */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return digest.slice("sha256:".length);
}

/** Streams a file (or a byte range of it) through SHA-256. */
export function sha256OfFile(path: string, range?: { offset: number; size: number }): Promise<{ digest: string; size: number }> {
  // createReadStream cannot express an empty range (end < start means "to the end").
  if (range && range.size === 0) return Promise.resolve({ digest: sha256(new Uint8Array()), size: 0 });
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let size = 0;
    const stream = createReadStream(path, { highWaterMark: 1 << 20, ...(range ? { start: range.offset, end: range.offset + range.size - 1 } : {}) });
    stream.on("data", (chunk) => {
      size += chunk.length;
      hash.update(chunk as Buffer);
    });
    stream.on("error", reject);
    stream.on("end", () => resolve({ digest: `sha256:${hash.digest("hex")}`, size }));
  });
}
