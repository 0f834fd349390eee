import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import { redactText } from '../classify/redact.js';
import { ConfigError } from '../errors/errors.js';
import type { EventEmitter } from 'eventemitter3';
import type { FloodgateEvents } from '../events/events.js';
import type { CallObserver, ObserverSlot } from '../manager/call-observer.js';
import type { Scope } from '../manager/scope.js';
import { refusalOf } from '../metrics/refusal.js';

/** `new ThrottleManager({ logging })`: decision logs, one JSON line per decision worth keeping. */
export interface LoggingOptions {
  /** Directory of the log files (created if missing). `FLOODGATE_LOG_DIR` sets it when `logging` is not given. */
  readonly dir: string;
  /** Size budget of all the log files together: past it, the oldest are deleted first. @default 1073741824 (1 GiB) */
  readonly maxBytes?: number;
  /** Days a file is kept after its day ended (files rotate daily, at midnight UTC). @default 3 */
  readonly retentionDays?: number;
}

/** The decision log's health, in the status report (`logging`). */
export interface DecisionLogStatus {
  readonly dir: string;
  /** Lines the file took. */
  readonly written: number;
  /** Lines lost: dropped while too much waited for the disk, or failed to write (a full or unwritable disk). */
  readonly dropped: number;
  /** The last write error (redacted), or null. */
  readonly lastError: string | null;
}

/** The base name of the current file; rotated files carry their UTC day: `floodgate-decisions-2026-12-03.jsonl` (then `-2`, `-3`, ... after a rotation by size). */
export const LOG_FILE = 'floodgate-decisions.jsonl';
const ROTATED = /^floodgate-decisions-(\d{4}-\d{2}-\d{2})(?:-\d+)?\.jsonl$/;
/** Bytes waiting for the disk beyond which a line is dropped rather than queued: a slow disk never holds memory or calls. */
const MAX_PENDING_BYTES = 1 << 20;
/** After a write error, lines are dropped (counted) for this long before the file is opened again. */
const REOPEN_AFTER_MS = 60_000;
const DAY_MS = 86_400_000;

export function checkLoggingOptions(options: unknown): Required<LoggingOptions> {
  if (options === null || typeof options !== 'object') throw new ConfigError('logging', options, 'must be an object { dir, maxBytes?, retentionDays? }');
  const { dir, maxBytes = 1 << 30, retentionDays = 3 } = options as LoggingOptions;
  if (typeof dir !== 'string' || dir === '') throw new ConfigError('logging.dir', dir, 'must be a non-empty string');
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024) throw new ConfigError('logging.maxBytes', maxBytes, 'must be an integer >= 1024');
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) throw new ConfigError('logging.retentionDays', retentionDays, 'must be an integer from 1 to 3650');
  return { dir, maxBytes, retentionDays };
}

/**
 * Writes one JSON line per decision worth keeping (refusal, retry, circuit change, ban,
 * suspension, resume, provider pause, configuration change, store health, observe mode's
 * would-be refusals, contract burn alerts, the anti-loop guard's degraded mode) to a daily file.
 * rotating-file-stream does the writing, the daily and by-size rotation and the size budget
 * (oldest rotated files deleted first); files older than `retentionDays` are deleted at each
 * rotation. A write never waits: past {@link MAX_PENDING_BYTES} waiting for the disk, or after
 * a write error, lines are dropped and counted.
 */
export class DecisionLog implements CallObserver {
  private readonly options: Required<LoggingOptions>;
  private stream: RotatingFileStream | null = null;
  private written = 0;
  private dropped = 0;
  private lastError: string | null = null;
  private reopenAt = 0;
  /** Every line's write callback (one function for all): counts what the file took and what it failed to take. */
  private readonly onWritten = (error?: Error | null): void => {
    if (error) this.dropped++;
    else this.written++;
  };
  private detach: (() => void) | null = null;
  private readonly listeners: { [K in keyof FloodgateEvents]?: (...args: FloodgateEvents[K]) => void } = {
    retry: (e) => this.log('retry', { scope: e.scope, endpoint: e.endpoint, retry: e.retry, delayMs: e.delayMs, category: e.classification.category, pattern: e.classification.pattern, error: e.error }),
    circuitStateChange: (e) => this.log('circuit', { scope: e.scope, from: e.from, to: e.to }),
    banDetected: (e) => this.log('ban', { scope: e.scope, endpoint: e.endpoint, pattern: e.classification.pattern, suspendedUntil: iso(e.suspendedUntil), error: e.error }),
    suspended: (e) => this.log('suspended', { scope: e.scope, until: iso(e.until), reason: e.reason }),
    resumed: (e) => this.log('resumed', { scope: e.scope, cause: e.cause }),
    paused: (e) => this.log('paused', { scope: e.scope, until: iso(e.until), category: e.classification.category }),
    configured: (e) => this.log('configured', { service: e.service, platform: e.platform, fields: e.fields }),
    storeHealth: (e) => this.log('store_health', { store: e.store, status: e.status, mode: e.mode, lastError: e.lastError === null ? null : redactText(e.lastError) }),
    wouldRefuse: (e) => this.log('would_refuse', { scope: e.scope, reason: e.reason }),
    budgetBurn: (e) => this.log('budget_burn', { scope: e.scope, contract: e.contract, burnRate: e.burnRate, burnAlert: e.burnAlert, calls: e.calls, failures: e.failures }),
    degraded: (e) => this.log('degraded', { until: iso(e.until), reason: e.reason }),
    recovered: (e) => this.log('recovered', { at: iso(e.at) }),
  };

  constructor(
    private readonly emitter: EventEmitter<FloodgateEvents>,
    private readonly observers: ObserverSlot,
    options: LoggingOptions,
  ) {
    this.options = checkLoggingOptions(options);
  }

  start(): void {
    if (this.detach !== null) return;
    const detachObserver = this.observers.attach(this);
    for (const [name, listener] of Object.entries(this.listeners)) this.emitter.on(name as keyof FloodgateEvents, listener as never);
    this.detach = () => {
      detachObserver();
      for (const [name, listener] of Object.entries(this.listeners)) this.emitter.off(name as keyof FloodgateEvents, listener as never);
    };
  }

  /** Stops logging and closes the file once what was written is flushed. */
  async close(): Promise<void> {
    this.detach?.();
    this.detach = null;
    const stream = this.stream;
    this.stream = null;
    if (stream === null || stream.destroyed) return;
    await new Promise<void>((resolve) => {
      stream.once('error', () => resolve());
      stream.end(() => resolve());
    });
  }

  status(): DecisionLogStatus {
    return { dir: this.options.dir, written: this.written, dropped: this.dropped, lastError: this.lastError };
  }

  // CallObserver: refusals are the only call-path decisions logged.

  attemptEnded(): void {}

  successesAdmittedAtOnce(): void {}

  callFailed(scope: Scope, error: unknown): void {
    const refusal = refusalOf(error);
    if (refusal !== null) this.log('refusal', { scope: scope.key, reason: refusal.reason, retryAfterMs: refusal.retryAfterMs });
  }

  /** Writes one line, or drops it (counted): never throws, never waits. */
  log(event: string, fields: Record<string, unknown>): void {
    try {
      const stream = this.openStream();
      if (stream === null || stream.writableLength > MAX_PENDING_BYTES) {
        this.dropped++;
        return;
      }
      stream.write(`${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`, this.onWritten);
    } catch (error) {
      this.dropped++;
      this.failed(error);
    }
  }

  private openStream(): RotatingFileStream | null {
    if (this.stream !== null) return this.stream;
    if (Date.now() < this.reopenAt) return null;
    const { dir, maxBytes, retentionDays } = this.options;
    // Each file stays under a share of the budget, so that the rotated ones can be held to the rest.
    const fileBytes = Math.max(512, Math.floor(maxBytes / (retentionDays + 1)));
    const stream = createStream(fileName, {
      path: dir.endsWith('/') ? dir : `${dir}/`,
      interval: '1d',
      intervalBoundary: true,
      intervalUTC: true,
      initialRotation: true,
      size: `${fileBytes}B`,
      maxSize: `${Math.max(1, maxBytes - fileBytes)}B`,
      history: 'floodgate-decisions.history',
    });
    stream.on('error', (error) => {
      if (this.stream === stream) this.stream = null;
      this.failed(error);
    });
    stream.on('warning', (error) => (this.lastError = describe(error)));
    stream.on('rotated', () => void this.deleteExpired());
    this.stream = stream;
    return stream;
  }

  /** The stream failed: lines waiting in it fail with it (counted by their callbacks); new ones are dropped for a while. */
  private failed(error: unknown): void {
    this.lastError = describe(error);
    this.reopenAt = Date.now() + REOPEN_AFTER_MS;
    const stream = this.stream;
    this.stream = null;
    stream?.destroy();
  }

  /** Deletes rotated files whose day ended more than `retentionDays` days ago. */
  private async deleteExpired(): Promise<void> {
    const { dir, retentionDays } = this.options;
    try {
      const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
      for (const name of await readdir(dir)) {
        const day = ROTATED.exec(name)?.[1];
        if (day !== undefined && Date.parse(`${day}T00:00:00Z`) + DAY_MS * (1 + retentionDays) <= today) await unlink(join(dir, name)).catch(() => {});
      }
    } catch (error) {
      this.lastError = describe(error);
    }
  }
}

function fileName(time: number | Date | null, index?: number): string {
  if (time === null) return LOG_FILE;
  const day = (time instanceof Date ? time : new Date(time)).toISOString().slice(0, 10);
  return index === undefined || index <= 1 ? `floodgate-decisions-${day}.jsonl` : `floodgate-decisions-${day}-${index}.jsonl`;
}

function iso(time: number): string {
  return new Date(time).toISOString();
}

function describe(error: unknown): string {
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? `${(error as { code: string }).code}: ` : '';
  return redactText(`${code}${error instanceof Error ? error.message : String(error)}`).slice(0, 300);
}
