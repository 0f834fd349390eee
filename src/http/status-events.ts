import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, type StatusRoutes } from './status-routes.js';

/**
 * The manager's low-volume events, streamed to the page. Per-call events (`retry`, `rateLimited`,
 * `errorClassified`) are left out: they can fire thousands of times a second, and the page reads
 * their counts from the report. Names the manager does not emit (yet) simply never fire.
 */
const STREAMED_EVENTS = ['circuitStateChange', 'suspended', 'resumed', 'banDetected', 'paused', 'storeHealth', 'degraded', 'recovered', 'budgetBurn'] as const;

/** Open streams per handler; past it a stream is refused with 503 and the page keeps polling. */
const MAX_STREAMS = 100;
const KEEP_ALIVE_MS = 15_000;

type Listener = (event: unknown) => void;
interface Emitter {
  on(name: string, listener: Listener): unknown;
  off(name: string, listener: Listener): unknown;
}

export interface EventStreams {
  /** Writes the stream's head and forwards events until the client goes away. */
  open(req: IncomingMessage, res: ServerResponse, headers: Readonly<Record<string, string>>): void;
}

export function createEventStreams(routes: StatusRoutes<never>): EventStreams {
  let open = 0;
  return {
    open(req, res, headers) {
      if (open >= MAX_STREAMS) {
        res.writeHead(503, { ...headers, 'content-type': 'application/json; charset=utf-8', 'retry-after': '30' });
        res.end(json({ error: 'too many event streams' }));
        return;
      }
      open++;
      res.writeHead(200, headers);
      // The first comment flushes the head through proxies; `retry` sets the browser's reconnect delay.
      res.write(': floodgate events\nretry: 2000\n\n');
      const emitter = routes.manager as unknown as Emitter;
      const listeners = STREAMED_EVENTS.map((name) => {
        const listener: Listener = (event) => {
          // A slow reader loses events rather than making the server buffer them.
          if (!res.writableNeedDrain) res.write(`event: ${name}\ndata: ${json(present(routes, event))}\n\n`);
        };
        emitter.on(name, listener);
        return [name, listener] as const;
      });
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
      keepAlive.unref();
      let closed = false;
      const close = (): void => {
        if (closed) return;
        closed = true;
        open--;
        clearInterval(keepAlive);
        for (const [name, listener] of listeners) emitter.off(name, listener);
      };
      req.on('close', close);
      res.on('close', close);
    },
  };
}

/**
 * An event as the page sees it: its top-level numbers, strings and booleans (an error summary or
 * classification object is never sent whole), the classification's category, the scope as shown.
 * Strings are redacted again when serialised.
 */
function present(routes: StatusRoutes<never>, event: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { at: Date.now() };
  if (typeof event !== 'object' || event === null) return out;
  for (const [key, value] of Object.entries(event)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) out[key] = value;
  }
  const e = event as { scope?: unknown; service?: unknown; platform?: unknown; classification?: { category?: unknown } };
  if (typeof e.scope === 'string') {
    const platform = typeof e.platform === 'string' ? e.platform : undefined;
    const shown = routes.showScope(e.scope, typeof e.service === 'string' ? e.service : undefined, platform);
    out.scope = shown;
    if (platform !== undefined) out.platform = shown.slice(shown.indexOf(':') + 1);
  }
  if (typeof e.classification?.category === 'string') out.category = e.classification.category;
  return out;
}
