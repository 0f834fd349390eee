/** fetch's body stream, and its chunks. */
type Body = NonNullable<Response['body']>;
type Chunk = Body extends ReadableStream<infer C> ? C : never;

/** What holds the slot: the scope (its `release()` gives the slot back). */
export interface SlotOwner {
  release(): void;
}

/** A held response's slot, and the body stream handed out for it (made when `body` is first read). */
class Hold {
  /** True until the body ended, failed or was cancelled (the slot released). */
  held = true;
  stream: Body | null = null;
  /** Releases the slot, once: the body's end, a consumer's settling, or the Response's collection. */
  readonly end: () => void;
  /** Until registered in {@link forgotten} (or ended): the response, and its neighbours in {@link unregistered}. */
  response: Response | null;
  prev: Hold | null = null;
  next: Hold | null = null;

  constructor(response: Response, owner: SlotOwner) {
    this.response = response;
    this.end = () => {
      if (!this.held) return;
      this.held = false;
      unlink(this);
      owner.release();
    };
  }
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
 * Held responses not yet registered in {@link forgotten}, newest first: a registration costs
 * more CPU than the rest of createFetch (GC included; see docs/benchmarks.md), and most bodies are
 * read at once, so registration waits (up to {@link REGISTER_AFTER_MS}) and a body done by then
 * leaves the list without one. Until then the list keeps the response, so none escapes both.
 */
let unregistered: Hold | null = null;
/** Armed while the list is not empty: one timer for every hold made meanwhile, not one per hold. */
let registration: ReturnType<typeof setTimeout> | null = null;
const REGISTER_AFTER_MS = 1_000;

function link(hold: Hold): void {
  hold.next = unregistered;
  if (unregistered !== null) unregistered.prev = hold;
  unregistered = hold;
  if (registration === null) {
    registration = setTimeout(registerForgotten, REGISTER_AFTER_MS);
    registration.unref();
  }
}

function unlink(hold: Hold): void {
  if (hold.response === null) return; // registered already
  hold.response = null;
  if (hold.prev === null) unregistered = hold.next;
  else hold.prev.next = hold.next;
  if (hold.next !== null) hold.next.prev = hold.prev;
  hold.prev = hold.next = null;
}

function registerForgotten(): void {
  registration = null;
  let hold = unregistered;
  unregistered = null;
  while (hold !== null) {
    const next = hold.next;
    // Only `end` is kept by the registry: it must not reach the response, or it would never be garbage.
    forgotten.register(hold.response!, hold.end);
    hold.response = hold.prev = hold.next = null;
    hold = next;
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
 * Holds a slot until `response`'s body is done: `owner.release()` is called once, when the body ends,
 * errors or is cancelled, or a consumer (`json()`, `text()`, ...) settles. The response itself
 * is handed back (status, headers, `url`, `type` as fetch made them, `instanceof Response`); reading `body` gives a
 * stream that passes fetch's chunks through untouched, only as the reader asks for them (no
 * read-ahead), so SSE and chunked responses behave as with plain fetch.
 */
export function holdUntilBodyEnds(response: Response, owner: SlotOwner): Response {
  const hold = new Hold(response, owner);
  HoldMark.mark(response, hold);
  Object.setPrototypeOf(response, HeldResponse.prototype);
  link(hold);
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
