/**
 * A safety net for bodies nobody reads or cancels: once the Response is garbage, its slot is
 * released (reading or cancelling the body is still the way to release it promptly).
 */
const forgotten = new FinalizationRegistry<() => void>((release) => release());

/**
 * `response` with a body that calls `release` once, when it ends, errors or is cancelled. The
 * chunks pass through untouched and only as the reader asks for them (no read-ahead), so SSE
 * and chunked responses behave as with plain fetch. The copy keeps status, headers, `url` and
 * `redirected`; its `type` is `default`.
 */
export function holdUntilBodyEnds(response: Response, release: () => void): Response {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let held = true;
  const end = (): void => {
    if (!held) return;
    held = false;
    release();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
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
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const copy = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  Object.defineProperties(copy, { url: { value: response.url }, redirected: { value: response.redirected } });
  forgotten.register(copy, end);
  return copy;
}
