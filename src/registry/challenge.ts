// `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"`, `Basic realm=…`.
// Pure: no I/O.

export interface Challenge {
  /** Lower case: `bearer`, `basic`. */
  scheme: string;
  params: Record<string, string>;
}

/** Parses one header value, which may hold several challenges. */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const token = () => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    while (s[i] === ",") i++, skipWs();
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipWs();
    // auth-params until the next scheme (a token not followed by '=')
    for (;;) {
      skipWs();
      const save = i;
      const name = token();
      skipWs();
      if (!name || s[i] !== "=") {
        i = save;
        break;
      }
      i++;
      skipWs();
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== "," && s[i] !== " ") i++;
        value = s.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
      skipWs();
      if (s[i] === ",") {
        i++;
        continue;
      }
      break;
    }
  }
  return out;
}

/** The challenge to answer: Bearer if offered, else Basic. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
}

/** Scope strings for a repository: `repository:NAME:pull,push`. */
export function repositoryScope(repository: string, actions: ("pull" | "push")[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}
