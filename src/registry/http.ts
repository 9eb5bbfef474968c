// Small HTTP header parsers. Pure.

/** `Link: <url>; rel="next"` → url. */
export function parseLinkNext(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(?:^|;)\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(?:;|$)/.test(m[2]!)) return m[1];
  }
  return undefined;
}

/** Upload `Range: 0-1234` (inclusive; some registries add `bytes=`). */
export function parseRange(header: string | null | undefined): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^(?:bytes[= ])?(\d+)-(\d+)$/.exec(header.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]) };
}
