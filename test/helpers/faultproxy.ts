// An HTTP reverse proxy on 127.0.0.1 in front of a registry that injects faults on a deterministic,
// bounded schedule: 503s, 429 with Retry-After, dropped connections (before or after the registry
// saw the request), responses cut halfway. With no faults it is a recording proxy: `log` lists
// every request, which tests use to assert what a client did.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type FaultAction =
  | { kind: "status"; status: number; retryAfter?: number }
  /** Close the connection without an answer; the registry never sees the request. */
  | { kind: "reset" }
  /** Forward the request, then close the connection instead of answering. */
  | { kind: "lose-response" }
  /** Forward, send the headers and half the body, then close the connection. */
  | { kind: "cut" }
  /** Forward, but flip one byte in the middle of the body (a corrupting middlebox). */
  | { kind: "corrupt" }
  /** Forward after holding the request this long (to observe concurrency). */
  | { kind: "delay"; ms: number }
  /** Never answer (the connection stays open until the client gives up). */
  | { kind: "stall" }
  /** Forward, send the headers and half the body, then go silent without closing. */
  | { kind: "stall-body" }
  /** Forward the request's body at this rate (a slow uplink). */
  | { kind: "throttle"; bytesPerSecond: number };

export interface Fault {
  method?: string;
  /** Matched against the path (and query). */
  path?: RegExp;
  /** Let this many matching requests through before acting. */
  skip?: number;
  /** Act on this many matching requests, then never again. */
  times: number;
  action: FaultAction;
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  fault?: string;
  /** Milliseconds since the proxy started: request seen, response finished. */
  start: number;
  end?: number;
}

export interface FaultProxy {
  host: string;
  port: number;
  log: LoggedRequest[];
  /** Most requests of each method open at once. */
  maxInFlight: Record<string, number>;
  /** Replaces the schedule (counters restart). */
  setFaults(faults: Fault[]): void;
  /** Faults that have not fired their `times` yet. */
  pending(): Fault[];
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: { host: string; port: number }, faults: Fault[] = []): Promise<FaultProxy> {
  let schedule = faults.map((f) => ({ fault: f, seen: 0, fired: 0 }));
  const log: LoggedRequest[] = [];
  const sockets = new Set<Socket>();
  const t0 = Date.now();
  const inFlight: Record<string, number> = {};
  const maxInFlight: Record<string, number> = {};

  const pick = (req: IncomingMessage): FaultAction | undefined => {
    for (const entry of schedule) {
      const f = entry.fault;
      if (f.method && f.method !== req.method) continue;
      if (f.path && !f.path.test(req.url ?? "")) continue;
      if (entry.fired >= f.times) continue;
      entry.seen++;
      if (entry.seen <= (f.skip ?? 0)) continue;
      entry.fired++;
      return f.action;
    }
    return undefined;
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const action = pick(req);
    const entry: LoggedRequest = { method: req.method ?? "", path: req.url ?? "", status: 0, fault: action?.kind, start: Date.now() - t0 };
    log.push(entry);
    const method = entry.method;
    inFlight[method] = (inFlight[method] ?? 0) + 1;
    maxInFlight[method] = Math.max(maxInFlight[method] ?? 0, inFlight[method]!);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight[method]!--;
      entry.end = Date.now() - t0;
    };
    res.on("finish", finish);
    res.on("close", finish);
    if (action?.kind === "status") {
      req.resume();
      req.on("end", () => {
        entry.status = action.status;
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (action.retryAfter !== undefined) headers["retry-after"] = String(action.retryAfter);
        res.writeHead(action.status, headers);
        res.end(JSON.stringify({ errors: [{ code: action.status === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", message: "injected fault" }] }));
      });
      return;
    }
    if (action?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (action?.kind === "stall") {
      req.resume();
      return;
    }
    const forward = () => {
    const upstreamReq = httpRequest(
      { host: upstream.host, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        entry.status = up.statusCode ?? 0;
        if (action?.kind === "lose-response") {
          up.resume();
          up.on("end", () => req.socket.destroy());
          return;
        }
        // Both forward the first half of the body; "stall-body" then goes silent, "cut" drops the connection.
        if (action?.kind === "stall-body" || action?.kind === "cut") {
          const cut = action.kind === "cut";
          const half = Math.floor(Number(up.headers["content-length"] ?? 0) / 2);
          res.writeHead(up.statusCode ?? 502, up.headers);
          let sent = 0;
          up.on("data", (chunk: Buffer) => {
            if (sent >= half) return;
            const part = chunk.subarray(0, Math.max(0, half - sent));
            sent += part.length;
            res.write(part);
            if (cut && sent >= half) {
              // Make sure the bytes leave before the connection dies.
              res.once("drain", () => undefined);
              setTimeout(() => req.socket.destroy(), 20);
              up.destroy();
            }
          });
          if (cut) up.on("end", () => setTimeout(() => req.socket.destroy(), 20));
          return;
        }
        if (action?.kind === "corrupt") {
          const length = Number(up.headers["content-length"] ?? 0);
          let seen = 0;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.on("data", (chunk: Buffer) => {
            const at = Math.floor(length / 2) - seen;
            if (at >= 0 && at < chunk.length) {
              chunk = Buffer.from(chunk);
              chunk[at] = chunk[at]! ^ 0xff;
            }
            seen += chunk.length;
            res.write(chunk);
          });
          up.on("end", () => res.end());
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstreamReq.on("error", () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    if (action?.kind === "throttle") {
      const started = Date.now();
      let forwarded = 0;
      req.on("data", (chunk: Buffer) => {
        upstreamReq.write(chunk);
        forwarded += chunk.length;
        const due = started + (forwarded / action.bytesPerSecond) * 1000 - Date.now();
        if (due > 0) {
          req.pause();
          setTimeout(() => req.resume(), due);
        }
      });
      req.on("end", () => upstreamReq.end());
    } else req.pipe(upstreamReq);
    };
    if (action?.kind === "delay") {
      req.pause();
      setTimeout(() => {
        req.resume();
        forward();
      }, action.ms);
    } else forward();
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    log,
    maxInFlight,
    setFaults(next) {
      schedule = next.map((f) => ({ fault: f, seen: 0, fired: 0 }));
    },
    pending: () => schedule.filter((e) => e.fired < e.fault.times).map((e) => e.fault),
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
