// Pure OCI image format code: descriptors, configs, manifests, indexes and their bytes. No I/O.
import { sha256 } from "./digest.ts";
import { MediaType } from "./mediatypes.ts";

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  artifactType?: string;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Volumes?: Record<string, Record<string, never>>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** A JSON document together with its exact bytes and descriptor. */
export interface Blob<T> {
  value: T;
  bytes: Uint8Array;
  descriptor: Descriptor;
}

/** What a user can set on an image (flags or a config file). */
export interface ImageSettings {
  architecture: string;
  os: string;
  variant?: string;
  created: string;
  author?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  env: string[];
  exposedPorts: string[];
  volumes: string[];
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  workdir?: string;
  stopSignal?: string;
}

export interface LayerInfo {
  descriptor: Descriptor;
  diffId: string;
  /** History line for this layer. */
  createdBy: string;
}

/** Sorted copy of a string map, so equal settings always serialise to equal bytes. */
function sortedRecord(record: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out;
}

function emptySet(keys: string[]): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const key of [...new Set(keys)].sort()) out[key] = {};
  return out;
}

const encoder = new TextEncoder();

export function toBlob<T>(value: T, mediaType: string, extra: Partial<Descriptor> = {}): Blob<T> {
  const bytes = encoder.encode(JSON.stringify(value));
  return { value, bytes, descriptor: { mediaType, digest: sha256(bytes), size: bytes.length, ...extra } };
}

export function buildConfig(settings: ImageSettings, layers: LayerInfo[]): Blob<ImageConfig> {
  const inner: NonNullable<ImageConfig["config"]> = {};
  if (settings.user) inner.User = settings.user;
  if (settings.exposedPorts.length) inner.ExposedPorts = emptySet(settings.exposedPorts);
  if (settings.env.length) inner.Env = settings.env;
  if (settings.entrypoint) inner.Entrypoint = settings.entrypoint;
  if (settings.cmd) inner.Cmd = settings.cmd;
  if (settings.volumes.length) inner.Volumes = emptySet(settings.volumes);
  if (settings.workdir) inner.WorkingDir = settings.workdir;
  if (Object.keys(settings.labels).length) inner.Labels = sortedRecord(settings.labels);
  if (settings.stopSignal) inner.StopSignal = settings.stopSignal;
  const config: ImageConfig = {
    created: settings.created,
    ...(settings.author ? { author: settings.author } : {}),
    architecture: settings.architecture,
    os: settings.os,
    ...(settings.variant ? { variant: settings.variant } : {}),
    config: inner,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created: settings.created, created_by: l.createdBy })),
  };
  return toBlob(config, MediaType.ociConfig);
}

export function buildManifest(config: Descriptor, layers: Descriptor[], annotations: Record<string, string> = {}): Blob<ImageManifest> {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config,
    layers,
    ...(Object.keys(annotations).length ? { annotations: sortedRecord(annotations) } : {}),
  };
  return toBlob(manifest, MediaType.ociManifest);
}

export function buildIndex(manifests: Descriptor[], annotations: Record<string, string> = {}): Blob<ImageIndex> {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests,
    ...(Object.keys(annotations).length ? { annotations: sortedRecord(annotations) } : {}),
  };
  return toBlob(index, MediaType.ociIndex);
}

/** os/architecture[/variant], as platforms are written in messages and results. */
export function describePlatform(p: { os: string; architecture: string; variant?: string } | undefined): string {
  if (!p) return "unknown";
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/**
 * Whether a label, annotation or env key is unusable: empty, or with blanks or control characters
 * (a quoting mistake, "A B=1", and no shell could name such an environment variable).
 */
export function isBadKey(key: string): boolean {
  return !key || /[\s\p{Cc}]/u.test(key);
}

/** Parses `k=v` (the value may contain `=`; the key may not be empty). */
export function parseKeyValue(text: string, what: string): [string, string] {
  const i = text.indexOf("=");
  if (i <= 0) throw new Error(`invalid ${what} '${text}': expected KEY=VALUE`);
  const key = text.slice(0, i);
  if (isBadKey(key)) throw new Error(`invalid ${what} '${text}': the key must not contain blanks or control characters`);
  return [key, text.slice(i + 1)];
}

/** `80`, `80/tcp`, `53/udp` → `80/tcp`, `53/udp`. */
export function normalisePort(text: string): string {
  const m = text.match(/^(\d{1,5})(?:\/(tcp|udp|sctp))?$/);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new Error(`invalid port '${text}': expected PORT[/tcp|udp|sctp]`);
  return `${Number(m[1])}/${m[2] ?? "tcp"}`;
}

/**
 * `--created`: `now`, `@SECONDS`, or an ISO 8601 date or date-time: `2024-01-02`,
 * `2024-01-02T03:04[:05[.123]]`, with `Z` or `+HH:MM`; none means UTC, so the same text gives the
 * same image in any time zone. Output is RFC 3339 in UTC, seconds precision.
 */
export function parseCreated(text: string, now: () => Date = () => new Date()): string {
  const invalid = () => new Error(`invalid time '${text}': expected ISO 8601 (2024-01-02T03:04:05Z), @SECONDS or 'now'`);
  if (text === "now") return rfc3339(Math.floor(now().getTime() / 1000));
  if (/^@\d{1,11}$/.test(text)) return rfc3339(Number(text.slice(1)));
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  if (!m) throw invalid();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => Number(x ?? 0));
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls over (February 31st -> March 2nd): refuse what does not come back the same.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw invalid();
  const zone = m[7] ?? "Z";
  const [zoneHours, zoneMinutes] = /^[Zz]$/.test(zone) ? [0, 0] : [Number(zone.slice(1, 3)), Number(zone.slice(-2))];
  if (zoneHours > 23 || zoneMinutes > 59) throw invalid();
  const offset = (zone[0] === "-" ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60;
  return rfc3339(ms / 1000 - offset);
}

export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
