// The small tar needs of image archives (oci-archive, docker-archive): write a flat set of files,
// and index an archive's members by byte range so blobs can be streamed straight out of it.
// Layer tars are the native core's job, not this file's.
import { closeSync, openSync, readSync, writeSync, fstatSync } from "node:fs";

const BLOCK = 512;
const encoder = new TextEncoder();

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function writeField(buf: Uint8Array, offset: number, width: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > width) throw new Error(`tar field too long: ${text}`);
  buf.set(bytes, offset);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
}

/** A ustar header; names over 100 bytes get a PAX `path` record first. */
export function tarHeader(name: string, size: number, type: "file" | "dir", mtime: number): Uint8Array {
  const nameBytes = encoder.encode(name);
  const parts: Uint8Array[] = [];
  if (nameBytes.length > 100) {
    const pax = encoder.encode(paxRecord("path", name));
    parts.push(rawHeader(`PaxHeaders/${name.slice(-80)}`.slice(0, 99), pax.length, "x", mtime, 0o644));
    parts.push(padded(pax));
  }
  parts.push(rawHeader(nameBytes.length > 100 ? name.slice(0, 99) : name, size, type === "dir" ? "5" : "0", mtime, type === "dir" ? 0o755 : 0o644));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / BLOCK) * BLOCK);
  out.set(bytes);
  return out;
}

function rawHeader(name: string, size: number, typeflag: string, mtime: number, mode: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  writeField(h, 0, 100, name);
  writeField(h, 100, 8, octal(mode, 8));
  writeField(h, 108, 8, octal(0, 8));
  writeField(h, 116, 8, octal(0, 8));
  writeField(h, 124, 12, octal(size, 12));
  writeField(h, 136, 12, octal(mtime, 12));
  h.fill(0x20, 148, 156);
  writeField(h, 156, 1, typeflag);
  writeField(h, 257, 6, "ustar\0");
  writeField(h, 263, 2, "00");
  let sum = 0;
  for (const b of h) sum += b;
  writeField(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

export type TarSource = { name: string; type: "dir" } | { name: string; type: "file"; bytes: Uint8Array } | { name: string; type: "file"; path: string; offset?: number; size: number };

/** Bytes copied between two turns of the event loop, where a signal's handler can run. */
const YIELD_EVERY = 32 << 20;

/**
 * Writes a tar of `entries` (in the given order) to the file descriptor `fd`. File contents are
 * copied in 1 MiB pieces, so memory stays flat whatever the blob sizes. It lets the event loop
 * turn every 32 MiB: a Ctrl-C while a multi-GB archive is written is handled then (its cleanup
 * removes the half-written file), not after the archive is complete and in place.
 */
export async function writeTar(fd: number, entries: TarSource[], mtime = 0): Promise<void> {
  const buffer = Buffer.allocUnsafe(1 << 20);
  let sinceYield = 0;
  const copied = async (n: number) => {
    sinceYield += n;
    if (sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  for (const entry of entries) {
    if (entry.type === "dir") {
      writeSync(fd, tarHeader(entry.name.endsWith("/") ? entry.name : entry.name + "/", 0, "dir", mtime));
      continue;
    }
    if ("bytes" in entry) {
      writeSync(fd, tarHeader(entry.name, entry.bytes.length, "file", mtime));
      writeSync(fd, padded(entry.bytes));
      await copied(entry.bytes.length);
      continue;
    }
    writeSync(fd, tarHeader(entry.name, entry.size, "file", mtime));
    const src = openSync(entry.path, "r");
    try {
      let remaining = entry.size;
      let position = entry.offset ?? 0;
      while (remaining > 0) {
        const n = readSync(src, buffer, 0, Math.min(buffer.length, remaining), position);
        if (n <= 0) throw new Error(`${entry.path} is shorter than expected`);
        writeSync(fd, buffer, 0, n);
        remaining -= n;
        position += n;
        await copied(n);
      }
    } finally {
      closeSync(src);
    }
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    if (pad) writeSync(fd, new Uint8Array(pad));
  }
  writeSync(fd, new Uint8Array(BLOCK * 2));
}

export interface TarMember {
  name: string;
  type: string;
  offset: number;
  size: number;
  linkname: string;
}

function cstring(buf: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && buf[end] !== 0) end++;
  return Buffer.from(buf.subarray(start, end)).toString("utf8");
}

function parseNumber(buf: Uint8Array, start: number, length: number): number {
  if (buf[start] & 0x80) {
    // base-256 (GNU) for big values
    let n = 0;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + buf[i];
    return n;
  }
  const text = cstring(buf, start, length).trim();
  return text ? parseInt(text, 8) : 0;
}

function parsePax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(" ", i);
    if (space < 0) break;
    const length = Number(text.slice(i, space));
    if (!length) break;
    const record = text.slice(space + 1, i + length - 1);
    const eq = record.indexOf("=");
    out[record.slice(0, eq)] = record.slice(eq + 1);
    i += length;
  }
  return out;
}

/** Lists the members of an uncompressed tar file with the byte range of each member's content. */
export function indexTar(path: string): Map<string, TarMember> {
  const fd = openSync(path, "r");
  const members = new Map<string, TarMember>();
  try {
    const total = fstatSync(fd).size;
    const header = new Uint8Array(BLOCK);
    let offset = 0;
    let pending: Record<string, string> = {};
    let longName: string | undefined;
    while (offset + BLOCK <= total) {
      readSync(fd, header, 0, BLOCK, offset);
      if (header.every((b) => b === 0)) break;
      const magic = cstring(header, 257, 6);
      if (!magic.startsWith("ustar")) throw new Error(`${path} is not a tar archive`);
      const size = parseNumber(header, 124, 12);
      const type = String.fromCharCode(header[156] || 0x30);
      const dataOffset = offset + BLOCK;
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === "x" || type === "L") {
        const data = new Uint8Array(size);
        readSync(fd, data, 0, size, dataOffset);
        const text = Buffer.from(data).toString("utf8");
        if (type === "x") pending = parsePax(text);
        else longName = text.replace(/\0+$/, "");
      } else if (type === "g") {
        // global header: nothing we need
      } else {
        const prefix = cstring(header, 345, 155);
        let name = pending.path ?? longName ?? (prefix ? `${prefix}/${cstring(header, 0, 100)}` : cstring(header, 0, 100));
        name = name.replace(/^\.\//, "").replace(/\/$/, "");
        const realSize = pending.size ? Number(pending.size) : size;
        members.set(name, { name, type, offset: dataOffset, size: realSize, linkname: pending.linkpath ?? cstring(header, 157, 100) });
        pending = {};
        longName = undefined;
      }
      offset = next;
    }
  } finally {
    closeSync(fd);
  }
  return members;
}

/** Reads `size` bytes of a file at `offset` (small things: manifests, configs, magic numbers). */
export function readRange(path: string, offset: number, size: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const data = new Uint8Array(size);
    readSync(fd, data, 0, size, offset);
    return data;
  } finally {
    closeSync(fd);
  }
}

/** Reads a member's bytes. */
export function readMember(path: string, member: TarMember): Uint8Array {
  return readRange(path, member.offset, member.size);
}

