/** fetch's body stream, and its chunks. */
type Body = NonNullable<Response['body']>;
type Chunk = Body extends ReadableStream<infer C> ? C : never;

/** A held response's slot, and the body stream handed out for it (made when `body` is first read). */
interface Hold {
  readonly end: () => void;
  /** True until the body ended, failed or was cancelled (the slot released). */
  held: boolean;
  stream: Body | null;
}

/** Lets {@link HoldMark}'s constructor add its private field to an object it did not create. */
class Adopt {
  constructor(target: object) {
    return target as Adopt;
  }
}

/**
 * A held response's {@link Hold}, in a private field added to fetch's Response (the base class's
 * constructor hands the Response back as `this`). Unlike a WeakMap entry it is invisible to
 * reflection as well and costs the GC nothing to track (see docs/benchmarks.md, "Outbound HTTP").
 */
class HoldMark extends Adopt {
  #hold: Hold;

  private constructor(response: Response, hold: Hold) {
    super(response);
    this.#hold = hold;
  }

  static mark(response: Response, hold: Hold): void {
    // A custom fetch may hand out the same Response twice: the later hold replaces the earlier.
    if (#hold in response) (response as unknown as HoldMark).#hold = hold;
    else new HoldMark(response, hold);
  }

  static of(response: object): Hold | undefined {
    return #hold in response ? (response as HoldMark).#hold : undefined;
  }
}

/**
 * A safety net for bodies nobody reads or cancels: once the Response is garbage, its slot is
 * released (reading or cancelling the body is still the way to release it promptly).
 */
const forgotten = new FinalizationRegistry<() => void>((release) => release());

/**
 * Held responses not yet registered in {@link forgotten}: registration waits for the event
 * loop's next check phase and is skipped for bodies already done by then (most bodies are read
 * at once), because a registration costs more CPU than the rest of createFetch (GC included;
 * see docs/benchmarks.md). Until then the list itself keeps the response, so none escapes both.
 */
let unregistered: Response[] = [];

function registerForgotten(): void {
  const responses = unregistered;
  unregistered = [];
  for (const response of responses) {
    const hold = HoldMark.of(response);
    if (hold !== undefined && hold.held) forgotten.register(response, hold.end);
  }
}

/**
 * A held response: fetch's own Response moved onto this prototype (its internal state is
 * untouched), whose consumers release the slot when they settle and whose `body` is a
 * pass-through of fetch's stream that releases it when the stream ends, errors or is
 * cancelled. A prototype switch costs about nothing; own properties laid over each response
 * cost more than the rest of createFetch (see docs/benchmarks.md).
 */
class HeldResponse extends Response {
  override get body(): Body | null {
    const source = super.body;
    const hold = HoldMark.of(this);
    if (hold === undefined || source === null) return source;
    return (hold.stream ??= passThrough(source, hold.end));
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return released(this, super.arrayBuffer());
  }

  override blob(): Promise<Blob> {
    return released(this, super.blob());
  }

  override formData(): Promise<FormData> {
    return released(this, super.formData());
  }

  override json(): Promise<unknown> {
    return released(this, super.json());
  }

  override text(): Promise<string> {
    return released(this, super.text());
  }
}

/** Releases `response`'s slot when `result` settles. */
function released<T>(response: Response, result: Promise<T>): Promise<T> {
  const end = HoldMark.of(response)?.end;
  if (end !== undefined) result.then(end, end);
  return result;
}

/**
 * Holds a slot until `response`'s body is done: `release` is called once, when the body ends,
 * errors or is cancelled, or a consumer (`json()`, `text()`, ...) settles. The response itself
 * is handed back (status, headers, `url`, `type` as fetch made them, `instanceof Response`); reading `body` gives a
 * stream that passes fetch's chunks through untouched, only as the reader asks for them (no
 * read-ahead), so SSE and chunked responses behave as with plain fetch.
 */
export function holdUntilBodyEnds(response: Response, release: () => void): Response {
  const hold: Hold = {
    end: () => {
      if (!hold.held) return;
      hold.held = false;
      release();
    },
    held: true,
    stream: null,
  };
  HoldMark.mark(response, hold);
  Object.setPrototypeOf(response, HeldResponse.prototype);
  if (unregistered.push(response) === 1) setImmediate(registerForgotten).unref();
  return response;
}

/** `source`'s chunks, read only when asked for; `end` once it ends, errors or is cancelled. */
function passThrough(source: Body, end: () => void): Body {
  // The reader is taken at the first read: until then `text()` and the like still work on the response.
  let reader: ReadableStreamDefaultReader<Chunk> | undefined;
  return new ReadableStream<Chunk>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Chunk>;
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
