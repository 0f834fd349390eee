/** A held response's slot, and the body stream handed out for it (made when `body` is first read). */
interface Hold {
  readonly end: () => void;
  stream: ReadableStream<Uint8Array> | null;
}

const holds = new WeakMap<Response, Hold>();

/**
 * A safety net for bodies nobody reads or cancels: once the Response is garbage, its slot is
 * released (reading or cancelling the body is still the way to release it promptly).
 */
const forgotten = new FinalizationRegistry<() => void>((release) => release());

const proto = Response.prototype as unknown as Record<string, (this: Response) => Promise<unknown>>;
const readBody = Object.getOwnPropertyDescriptor(Response.prototype, 'body')!.get as (this: Response) => ReadableStream<Uint8Array> | null;
/** The methods that consume a body (`bytes` where Node has it). */
const CONSUMERS = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text'].filter((name) => typeof proto[name] === 'function');

/**
 * Own properties laid over a held response, the same objects for every response: each consumer
 * runs fetch's own and releases the slot when it settles; `body` is a pass-through of fetch's
 * stream that releases it when the stream ends, errors or is cancelled.
 */
const OVERLAY: PropertyDescriptorMap = Object.fromEntries([
  ['body', { configurable: true, enumerable: false, get: bodyOf }],
  ...CONSUMERS.map((name) => [
    name,
    {
      configurable: true,
      enumerable: false,
      writable: true,
      value: function consume(this: Response): Promise<unknown> {
        const result = proto[name]!.call(this);
        const end = holds.get(this)?.end;
        if (end !== undefined) result.then(end, end);
        return result;
      },
    },
  ]),
]);

/**
 * Holds a slot until `response`'s body is done: `release` is called once, when the body ends,
 * errors or is cancelled, or a consumer (`json()`, `text()`, ...) settles. The response itself
 * is handed back (status, headers, `url`, `type` as fetch made them); reading `body` gives a
 * stream that passes fetch's chunks through untouched, only as the reader asks for them (no
 * read-ahead), so SSE and chunked responses behave as with plain fetch.
 */
export function holdUntilBodyEnds(response: Response, release: () => void): Response {
  let held = true;
  const end = (): void => {
    if (!held) return;
    held = false;
    release();
  };
  holds.set(response, { end, stream: null });
  Object.defineProperties(response, OVERLAY);
  forgotten.register(response, end);
  return response;
}

function bodyOf(this: Response): ReadableStream<Uint8Array> | null {
  const hold = holds.get(this);
  const source = readBody.call(this);
  if (hold === undefined || source === null) return source;
  return (hold.stream ??= passThrough(source, hold.end));
}

/** `source`'s chunks, read only when asked for; `end` once it ends, errors or is cancelled. */
function passThrough(source: ReadableStream<Uint8Array>, end: () => void): ReadableStream<Uint8Array> {
  // The reader is taken at the first read: until then `text()` and the like still work on the response.
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await (reader ??= source.getReader()).read();
        } catch (error) {
          end();
          controller.error(error);
          return;
        }
        if (chunk.done) {
          end();
          controller.close();
        } else controller.enqueue(chunk.value);
      },
      cancel(reason) {
        end();
        return reader === undefined ? source.cancel(reason) : reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
