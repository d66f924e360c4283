// Statements of one kind from many concurrent callers, sent together when they come close: an item
// added while no batch of its kind is under way goes at once, alone; items added while one is under
// way go together in the next. When the process is idle nothing waits; when it is busy (each round
// trip long, because the event loop is) one statement serves many jobs — PostgreSQL parses, plans
// and commits once, and the worker writes, reads and parses one message instead of many.

export class Coalescer<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private busy = false;

  /**
   * `run` answers a batch's items in order (one output per item). `one` (optional) answers a batch
   * of one, e.g. with a simpler statement; and when `run` fails for a batch of several with a
   * conflict between transactions (SQLSTATE class 40: a deadlock with another statement updating
   * the same rows, a serialization failure), each item is tried with `one` on its own. Any other
   * error fails the batch's items, as it would have failed each of them alone.
   */
  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly one?: (item: I) => Promise<O>,
    private readonly max = 100,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async drain() {
    this.busy = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.max);
        if (batch.length === 1 && this.one) {
          const [b] = batch;
          await this.one(b!.item).then(b!.resolve, b!.reject);
          continue;
        }
        let out: O[];
        try {
          out = await this.run(batch.map((b) => b.item));
        } catch (e) {
          if (!this.one || !isConflict(e)) {
            for (const b of batch) b.reject(e);
            continue;
          }
          for (const b of batch) await this.one(b.item).then(b.resolve, b.reject);
          continue;
        }
        batch.forEach((b, i) => b.resolve(out[i]!));
      }
    } finally {
      this.busy = false;
    }
  }
}

/** A conflict between transactions (SQLSTATE class 40), which the same statements may not meet one by one. */
export function isConflict(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("40");
}
