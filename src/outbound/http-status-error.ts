import { redactHeaders, redactText } from '../classify/redact.js';

/** The body excerpt a status error carries: enough for the classifier's ban and quota wording. */
export const BODY_EXCERPT_BYTES = 1_024;

/**
 * A response with a status of 400 or more, as createFetch's attempt reports it to the manager:
 * the classifier reads `status`, `headers` (Retry-After and the rate-limit headers) and `body`
 * (ban and quota wording), so the scope counts, classifies, pauses and retries as for any
 * provider error. The caller never receives it: createFetch resolves with the final Response.
 * It is what `onError` handlers and the error history see; everything in it is redacted and
 * the endpoint is the route label, never the URL.
 */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  readonly status: number;
  readonly statusText: string;
  /** The response's headers, credentials redacted. */
  readonly headers: Readonly<Record<string, string>>;
  /** The start of the body (at most {@link BODY_EXCERPT_BYTES} bytes), redacted. */
  readonly body: string;

  /** `response`: fetch's Response, or what an undici dispatch received (`headers` as an object). */
  constructor(endpoint: string, response: { readonly status: number; readonly statusText: string; readonly headers: unknown }, excerpt: string) {
    super(`HTTP ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`} from ${endpoint}`);
    this.status = response.status;
    this.statusText = response.statusText;
    this.headers = redactHeaders(response.headers);
    this.body = redactText(excerpt);
  }
}

/**
 * Reads the start of `response`'s body from a clone, leaving the body itself whole for the
 * caller should this response be the final answer. Never throws: a body that fails reads as
 * what arrived before.
 */
export async function bodyExcerpt(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = (response.clone().body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    while (bytes < BODY_EXCERPT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      const piece = value.subarray(0, BODY_EXCERPT_BYTES - bytes);
      bytes += piece.length;
      text += decoder.decode(piece, { stream: true });
    }
  } catch {
    // Keep what arrived.
  }
  reader.cancel().catch(() => {});
  return text + decoder.decode();
}

/** The start of a body received as chunks (the undici interceptor), as {@link bodyExcerpt} reads it. */
export function chunksExcerpt(chunks: readonly Uint8Array[]): string {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for (const chunk of chunks) {
    if (bytes >= BODY_EXCERPT_BYTES) break;
    const piece = chunk.subarray(0, BODY_EXCERPT_BYTES - bytes);
    bytes += piece.length;
    text += decoder.decode(piece, { stream: true });
  }
  return text + decoder.decode();
}
