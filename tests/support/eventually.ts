/** Waiting on a condition in tests, bounded: never a wall-clock assertion, only an upper limit. */

/** Polls `check` until it is true or the timeout passes; returns the last answer. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return check();
}
