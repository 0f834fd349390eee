// The protected functions every stack calls.

/** The successful no-op call every row protects. */
export const makeSuccess = () => async () => 1;

/** A provider blip: a fresh ECONNRESET system error, as Node's net layer builds it. */
export function connectionReset() {
  const error = new Error('read ECONNRESET');
  error.code = 'ECONNRESET';
  error.errno = -104;
  error.syscall = 'read';
  return error;
}

/**
 * Fails every other call: each protected call's first attempt throws a fresh error and
 * its retry succeeds. The error is new each time (as from a real provider), so no layer
 * can recognise it as already handled.
 */
export function makeFailOnce() {
  let calls = 0;
  return async () => {
    if ((calls++ & 1) === 0) throw connectionReset();
    return 1;
  };
}
