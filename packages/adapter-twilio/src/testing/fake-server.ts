/** Shared plumbing of the fake servers: listening on loopback, failure injection, closing. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A failure to inject: an HTTP answer, or no answer at all. */
export type FailSpec =
  | {
      /** HTTP status to answer. */
      status: number;
      /** Provider error code in the body (Twilio's `code`). */
      code?: number;
      /** How many requests fail this way. Default 1. */
      times?: number;
      /** Adds `Retry-After: <seconds>`. */
      retryAfterSeconds?: number;
    }
  | {
      /** `timeout`: the request is read and never answered; `reset`: the connection is destroyed. */
      kind: 'timeout' | 'reset';
      times?: number;
    };

/** A queue of injected failures. */
export class FailureQueue {
  private readonly queue: Array<{ spec: FailSpec; left: number }> = [];
  push(spec: FailSpec): void {
    const times = spec.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`failNext: times must be a positive integer, got ${times}`);
    this.queue.push({ spec, left: times });
  }
  /** The failure for the next request, if any. */
  take(): FailSpec | undefined {
    const head = this.queue[0];
    if (!head) return undefined;
    head.left -= 1;
    if (head.left === 0) this.queue.shift();
    return head.spec;
  }
}

/** Counts accepted requests in a sliding window (one second by default). */
export class SlidingWindow {
  private readonly times: number[] = [];
  constructor(
    private readonly limit: number | undefined,
    private readonly windowMs = 1000,
  ) {}
  /** Whether one more may be accepted now; records it if so. */
  tryTake(now: number): boolean {
    if (this.limit === undefined) return true;
    while (this.times.length && this.times[0]! <= now - this.windowMs) this.times.shift();
    if (this.times.length >= this.limit) return false;
    this.times.push(now);
    return true;
  }
  /** When the next request will be accepted (epoch ms). */
  freeAt(now: number): number {
    return this.times.length ? Math.max(now, this.times[0]! + this.windowMs) : now;
  }
}

/** Reads a request body as a string. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts a server on 127.0.0.1 and an ephemeral port; `close()` also drops held connections. */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((e) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: String(e) }));
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('fake server has no port');
  let closing: Promise<void> | null = null;
  return {
    server,
    url: `http://127.0.0.1:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

/** Answers JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
