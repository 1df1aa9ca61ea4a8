// What the async tests measure about the JavaScript thread.
/**
 * How many times the event loop turned while `work` ran: about once for a call that blocks the
 * JavaScript thread, many times for one that computes elsewhere.
 */
export async function eventLoopTurnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let done = false;
  const spin = () => {
    turns++;
    if (!done) setImmediate(spin);
  };
  setImmediate(spin);
  try {
    await work();
  } finally {
    done = true;
  }
  return turns;
}
