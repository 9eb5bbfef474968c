// Operations on one repository over the distribution API: blobs (HEAD, mount, monolithic and
// chunked uploads with resume, streaming verified downloads), manifests, tags.
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { onInterruptAsync } from "../cleanup.ts";
import { MediaType } from "../oci/mediatypes.ts";
import { RegistryError, redactUrl } from "./errors.ts";
import { backoffDelay, defaultRetryPolicy, sleep, stallTimeoutMs } from "./retry.ts";

const STALL = stallTimeoutMs();
import type { Transport } from "./transport.ts";
import { parseLinkNext, parseRange } from "./http.ts";

export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(", ");

export interface BlobDescriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

/** Where a blob's bytes are for an upload: a file range (streamed from disk, no copy) or bytes. */
export type BlobSource =
  | { kind: "file"; path: string; offset: number; size: number }
  | { kind: "bytes"; bytes: Uint8Array }
  /** A stream opened per attempt (registry-to-registry copy). */
  | { kind: "stream"; open: () => Promise<ReadableStream<Uint8Array>> };

export interface UploadTuning {
  /** Blobs at least this large are uploaded in chunks (0 = never). */
  chunkThreshold: number;
  chunkSize: number;
  /** Attempts of a whole upload session. */
  sessionAttempts: number;
}

export const defaultTuning: UploadTuning = { chunkThreshold: 2 * 1024 ** 3, chunkSize: 256 * 1024 ** 2, sessionAttempts: 5 };

export type BlobProgress = (done: number, total: number) => void;

export class RepositoryClient {
  constructor(
    readonly transport: Transport,
    readonly repository: string,
    readonly tuning: UploadTuning = defaultTuning,
  ) {}

  private path(suffix: string): string {
    return this.transport.url(`/v2/${this.repository}/${suffix}`);
  }

  async hasBlob(digest: string): Promise<{ size: number } | undefined> {
    const a = await this.transport.request("HEAD", this.path(`blobs/${digest}`), { expect: [200, 404], what: `check blob ${short(digest)}`, repository: this.repository });
    if (a.status === 404) return undefined;
    return { size: Number(a.headers.get("content-length") ?? -1) };
  }

  /** Cross-repository mount: true if mounted; false if the registry opened a session instead (closed again). */
  async mountBlob(digest: string, from: string): Promise<boolean> {
    const url = this.path(`blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`);
    const a = await this.transport.request("POST", url, { expect: [201, 202], what: `mount blob ${short(digest)}`, repository: this.repository });
    if (a.status === 201) return true;
    const location = a.headers.get("location");
    if (location) await this.abandon(new URL(location, a.url).toString());
    return false;
  }

  /** Uploads a blob unless the registry has it; returns whether bytes were sent. */
  async pushBlob(desc: BlobDescriptor, source: BlobSource, progress?: BlobProgress, options: { skipHead?: boolean } = {}): Promise<"exists" | "uploaded"> {
    if (!options.skipHead && (await this.hasBlob(desc.digest))) {
      progress?.(desc.size, desc.size);
      return "exists";
    }
    const policy = { ...defaultRetryPolicy, attempts: this.tuning.sessionAttempts };
    // A registry refusing a large monolithic PUT (413) gets chunks instead.
    let forceChunked = false;
    for (let attempt = 1; ; attempt++) {
      const session: { location?: string } = {};
      // Ctrl-C during an upload closes its session rather than leaving it open on the registry.
      const stopOnInterrupt = onInterruptAsync(async () => session.location && (await this.abandon(session.location, 2500)), "open uploads abandoned");
      try {
        progress?.(0, desc.size);
        session.location = await this.startUpload();
        const location = session.location;
        const chunked = source.kind === "file" && (forceChunked || (this.tuning.chunkThreshold > 0 && desc.size >= this.tuning.chunkThreshold));
        if (chunked) await this.uploadChunked(session, desc, source as Extract<BlobSource, { kind: "file" }>, progress, forceChunked ? Math.min(this.tuning.chunkSize, 16 * 1024 ** 2) : this.tuning.chunkSize);
        else await this.uploadMonolithic(location, desc, source, progress);
        progress?.(desc.size, desc.size);
        return "uploaded";
      } catch (error) {
        const e = error instanceof RegistryError ? error : new RegistryError(String((error as Error)?.message ?? error), { kind: "network", retryable: true, cause: error });
        if (session.location) await this.abandon(session.location);
        // A digest the registry rejects, or a permission problem, will not get better.
        // A broken session (stale upload state, unknown upload, bad range) is worth a fresh one.
        const tooLarge = e.status === 413 && source.kind === "file" && !forceChunked;
        if (tooLarge) forceChunked = true;
        const brokenSession = e.hasCode("BLOB_UPLOAD_INVALID") || e.hasCode("BLOB_UPLOAD_UNKNOWN") || e.status === 416 || tooLarge;
        if (!e.retryable && !brokenSession) throw e;
        if (attempt >= policy.attempts) throw e;
        // Maybe the failed attempt completed after all. A registry that cannot be reached even
        // after the transport's own retries is gone: another session would only wait as long again.
        const there = await this.hasBlob(desc.digest).catch((error: unknown) => error);
        if (there instanceof RegistryError && there.noConnection) throw there;
        if (there && !(there instanceof Error)) return "uploaded";
        await sleep(backoffDelay(policy, attempt, e.retryAfterMs));
      } finally {
        stopOnInterrupt();
      }
    }
  }

  private async startUpload(): Promise<string> {
    const a = await this.transport.request("POST", this.path("blobs/uploads/"), { expect: [202], what: "start upload", repository: this.repository, headers: { "content-length": "0" } });
    const location = a.headers.get("location");
    if (!location) throw new RegistryError(`${this.transport.registry} started an upload without a Location`, { kind: "protocol", registry: this.transport.registry });
    const min = Number(a.headers.get("oci-chunk-min-length") ?? 0);
    if (min > 0) this.chunkMin = min;
    return new URL(location, a.url).toString();
  }

  private chunkMin = 0;

  private async uploadMonolithic(location: string, desc: BlobDescriptor, source: BlobSource, progress?: BlobProgress): Promise<void> {
    const url = withDigest(location, desc.digest);
    let body: () => RequestInit["body"];
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    if (source.kind === "file") {
      // A file body goes out with no word of how far it got: when progress is shown, it is read
      // as a stream that counts what the connection takes.
      const file = () => Bun.file(source.path).slice(source.offset, source.offset + source.size);
      body = progress ? () => counted(file().stream(), desc.size, progress) : file;
      headers["content-length"] = String(source.size);
    } else if (source.kind === "bytes") {
      body = () => source.bytes;
      headers["content-length"] = String(source.bytes.length);
    } else {
      const stream = await source.open();
      const counting = progress ? counted(stream, desc.size, progress) : stream;
      body = () => counting;
      headers["content-length"] = String(desc.size);
    }
    await this.transport.request("PUT", url, {
      expect: [201, 204],
      body,
      headers,
      retry: false,
      timeoutMs: STALL + desc.size / 1000, // at least 1 MB/s
      what: `upload blob ${short(desc.digest)}`,
      repository: this.repository,
    });
  }

  /** PATCH chunks with Content-Range; on a failed chunk, asks the session where it stands and goes on. */
  /** `session.location` follows the registry's answers, so that a failed session can be DELETEd. */
  private async uploadChunked(session: { location?: string }, desc: BlobDescriptor, source: Extract<BlobSource, { kind: "file" }>, progress: BlobProgress | undefined, chunkSize: number): Promise<void> {
    let location = session.location!;
    const chunk = Math.max(chunkSize, this.chunkMin);
    let offset = 0;
    let failures = 0;
    while (offset < desc.size) {
      const end = Math.min(desc.size, offset + chunk);
      try {
        const a = await this.transport.request("PATCH", location, {
          expect: [201, 202, 204],
          body: () => Bun.file(source.path).slice(source.offset + offset, source.offset + end),
          headers: { "content-type": "application/octet-stream", "content-range": `${offset}-${end - 1}`, "content-length": String(end - offset) },
          retry: false,
          timeoutMs: STALL + (end - offset) / 1000,
          what: `upload chunk of ${short(desc.digest)}`,
          repository: this.repository,
        });
        const next = a.headers.get("location");
        if (next) session.location = location = new URL(next, a.url).toString();
        offset = a.headers.get("range") ? uploadedBytes(a.headers.get("range")) : end;
        progress?.(offset, desc.size);
        failures = 0;
      } catch (error) {
        const e = error as RegistryError;
        if (!(e instanceof RegistryError) || (!e.retryable && e.status !== 416) || ++failures > 5) throw error;
        await sleep(backoffDelay(defaultRetryPolicy, failures, e.retryAfterMs));
        // Where does the session stand? (416 = our offset was wrong)
        const status = await this.transport.request("GET", location, { expect: [204, 200], what: "upload status", repository: this.repository });
        const next = status.headers.get("location");
        if (next) session.location = location = new URL(next, status.url).toString();
        offset = uploadedBytes(status.headers.get("range"));
      }
    }
    await this.transport.request("PUT", withDigest(location, desc.digest), {
      expect: [201, 204],
      headers: { "content-length": "0" },
      what: `finish upload of ${short(desc.digest)}`,
      repository: this.repository,
    });
  }

  /** Abandons an upload session (best effort). */
  async abandon(location: string, timeoutMs = 10_000): Promise<void> {
    await this.transport.request("DELETE", location, { expect: [200, 202, 204, 404, 405], retry: false, timeoutMs }).catch(() => undefined);
  }

  async putManifest(reference: string, bytes: Uint8Array, mediaType: string): Promise<string | undefined> {
    const a = await this.transport.request("PUT", this.path(`manifests/${reference}`), {
      expect: [201, 202, 204],
      body: () => bytes,
      headers: { "content-type": mediaType, "content-length": String(bytes.length) },
      what: `put manifest ${reference}`,
      repository: this.repository,
    });
    return a.headers.get("docker-content-digest") ?? undefined;
  }

  async hasManifest(reference: string): Promise<{ digest?: string; mediaType?: string } | undefined> {
    const a = await this.transport.request("HEAD", this.path(`manifests/${reference}`), { expect: [200, 404], headers: { accept: MANIFEST_ACCEPT }, what: `check manifest ${reference}`, repository: this.repository });
    if (a.status === 404) return undefined;
    return { digest: a.headers.get("docker-content-digest") ?? undefined, mediaType: a.headers.get("content-type") ?? undefined };
  }

  /** The manifest or index bytes, verified against the digest when addressed by digest. */
  async getManifest(reference: string): Promise<{ bytes: Uint8Array; mediaType: string; digest: string }> {
    const a = await this.transport.request("GET", this.path(`manifests/${reference}`), { expect: [200], headers: { accept: MANIFEST_ACCEPT }, what: `get manifest ${reference}`, repository: this.repository });
    const digest = `sha256:${createHash("sha256").update(a.body).digest("hex")}`;
    if (reference.startsWith("sha256:") && reference !== digest) {
      throw new RegistryError(`manifest ${reference} from ${this.transport.registry} has digest ${digest}`, { kind: "digest", registry: this.transport.registry });
    }
    let mediaType = a.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
    try {
      const parsed = JSON.parse(new TextDecoder().decode(a.body)) as { mediaType?: string; manifests?: unknown };
      if (parsed.mediaType) mediaType = parsed.mediaType;
      else if (!mediaType || mediaType === "application/json") mediaType = parsed.manifests ? MediaType.ociIndex : MediaType.ociManifest;
    } catch {
      throw new RegistryError(`manifest ${reference} from ${this.transport.registry} is not JSON`, { kind: "protocol", registry: this.transport.registry });
    }
    return { bytes: a.body, mediaType, digest };
  }

  /** Small blobs (configs) in memory, verified. */
  async getBlobBytes(desc: BlobDescriptor): Promise<Uint8Array> {
    const a = await this.transport.request("GET", this.path(`blobs/${desc.digest}`), { expect: [200], what: `get blob ${short(desc.digest)}`, repository: this.repository });
    const digest = `sha256:${createHash("sha256").update(a.body).digest("hex")}`;
    if (digest !== desc.digest || (desc.size >= 0 && a.body.length !== desc.size)) {
      throw new RegistryError(`blob ${desc.digest} from ${this.transport.registry} has digest ${digest} and size ${a.body.length}`, { kind: "digest", registry: this.transport.registry });
    }
    return a.body;
  }

  /** Opens the blob's bytes from `offset` (Range); `partial` says whether the registry honoured it. */
  async openBlob(digest: string, offset = 0): Promise<{ response: Response; partial: boolean }> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const response = await this.transport.open("GET", this.path(`blobs/${digest}`), { expect: [200, 206], headers, what: `get blob ${short(digest)}`, repository: this.repository });
    return { response, partial: response.status === 206 };
  }

  /**
   * Streams a blob into a file, hashing on the way; a cut download resumes with Range. Never the
   * whole blob in memory. Throws if digest or size differ.
   */
  async downloadBlob(desc: BlobDescriptor, file: string, progress?: BlobProgress): Promise<void> {
    let hash = createHash("sha256");
    let written = 0;
    const fh = await open(file, "w");
    let failures = 0;
    try {
      for (;;) {
        // Opening is retried by the transport already: a failure here is final (retrying it again
        // multiplied the waits to more than a minute against a registry that had stopped).
        const { response, partial } = await this.openBlob(desc.digest, written);
        const before = written;
        try {
          if (written > 0 && !partial) {
            // The registry ignored Range: start over.
            await fh.truncate(0).catch((error) => {
              throw localFileError(error, file);
            });
            written = 0;
            hash = createHash("sha256");
          }
          await this.pump(response, fh, file, hash, desc, () => written, (n) => {
            written += n;
            progress?.(written, desc.size);
          });
          break;
        } catch (error) {
          // Our own file failed (disk full, read-only, I/O error): no network trouble, nothing to retry.
          if (localFailures.has(error as object)) throw error;
          const e = error instanceof RegistryError ? error : new RegistryError(`download of ${short(desc.digest)} cut: ${(error as Error)?.message ?? error}`, { kind: "network", retryable: true, cause: error, registry: this.transport.registry });
          // A download that moved on since the last cut starts its count afresh (a long pull over a flaky link).
          if (written > before) failures = 0;
          if (!e.retryable || ++failures > 8) throw e;
          await sleep(backoffDelay(defaultRetryPolicy, failures, e.retryAfterMs));
        }
      }
    } finally {
      await fh.close();
    }
    if (written !== desc.size) throw new RegistryError(`blob ${desc.digest} from ${this.transport.registry}: got ${written} bytes, expected ${desc.size}`, { kind: "digest", registry: this.transport.registry });
    const digest = `sha256:${hash.digest("hex")}`;
    if (digest !== desc.digest) throw new RegistryError(`blob ${desc.digest} from ${this.transport.registry} has digest ${digest}`, { kind: "digest", registry: this.transport.registry });
  }

  /** Reads a response body into the file with an idle timeout; stops at the blob's size. */
  private async pump(response: Response, fh: FileHandle, file: string, hash: ReturnType<typeof createHash>, desc: BlobDescriptor, position: () => number, advance: (n: number) => void): Promise<void> {
    if (!response.body) throw new RegistryError("empty response body", { kind: "network", retryable: true });
    const reader = response.body.getReader();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => reader.cancel(new Error(`no data for ${STALL / 1000} s`)).catch(() => undefined), STALL);
    };
    try {
      arm();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        if (position() + value.length > desc.size) throw new RegistryError(`blob ${desc.digest} is larger than ${desc.size} bytes`, { kind: "digest" });
        hash.update(value);
        let off = 0;
        while (off < value.length) {
          let bytesWritten: number;
          try {
            ({ bytesWritten } = await fh.write(value, off, value.length - off, position() + off));
          } catch (error) {
            await reader.cancel().catch(() => undefined);
            throw localFileError(error, file);
          }
          off += bytesWritten;
        }
        advance(value.length);
      }
    } finally {
      clearTimeout(idle);
      reader.releaseLock?.();
    }
    if (position() < desc.size) throw new RegistryError(`download of ${short(desc.digest)} cut at ${position()} of ${desc.size} bytes`, { kind: "network", retryable: true });
  }

  /** All tags, following `Link` pagination. */
  async listTags(pageSize = 1000): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = this.path(`tags/list?n=${pageSize}`);
    for (let page = 0; url && page < 10_000; page++) {
      const a = await this.transport.request("GET", url, { expect: [200], what: "list tags", repository: this.repository });
      const json = JSON.parse(new TextDecoder().decode(a.body)) as { tags?: string[] | null };
      tags.push(...(json.tags ?? []));
      const next = parseLinkNext(a.headers.get("link"));
      url = next ? new URL(next, a.url).toString() : undefined;
    }
    return tags;
  }
}

/** Errors of our own files during a download: thrown as they are, never retried as network errors. */
const localFailures = new WeakSet<object>();

/** The OS's error (code and syscall kept, for the CLI's one line) with the file it was about. */
function localFileError(error: unknown, path: string): unknown {
  if (error && typeof error === "object") {
    const e = error as NodeJS.ErrnoException;
    // The runtime's write errors carry no path.
    if (!e.path) {
      try {
        e.path = path;
      } catch {
        // a frozen error: keep it as it is
      }
    }
    localFailures.add(e);
  }
  return error;
}

/**
 * Bytes a session holds, from its `Range: 0-END`. Distribution answers `0-0` for an empty session
 * too; our chunks are never one byte long, so `0-0` means nothing uploaded yet.
 */
export function uploadedBytes(header: string | null): number {
  const range = parseRange(header);
  if (!range || range.end === 0) return 0;
  return range.end + 1;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.toString();
}

/** `stream`, reporting the bytes read from it so far (of `total`) as they are taken. */
function counted(stream: ReadableStream<Uint8Array>, total: number, progress: BlobProgress): ReadableStream<Uint8Array> {
  let sent = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sent += chunk.byteLength;
        progress(sent, total);
        controller.enqueue(chunk);
      },
    }),
  );
}

export function short(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

export { redactUrl };
