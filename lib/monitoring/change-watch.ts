// Pushes "it changed" to open pages without each page polling the database: one reader per key
// (a run, say) polls a small version string, shared by every watcher of that key, and each watcher
// is told when the version moves. A page left open costs one cheap query per interval however many
// tabs show the same thing, and nothing once the last watcher has gone.

export type VersionReader = () => Promise<string | null>;

type Listener = (e: { version: string | null } | { error: unknown }) => void;

interface Poll {
  read: VersionReader;
  listeners: Set<Listener>;
  last: string | null | undefined;
  timer: ReturnType<typeof setTimeout> | null;
}

/** How long to wait before the next read: a number, or one chosen from the last version seen. */
export type PollInterval = number | ((lastVersion: string | null | undefined) => number);

export class ChangeWatch {
  private readonly polls = new Map<string, Poll>();

  constructor(private readonly interval: PollInterval = 250) {}

  /** Keys polled right now (for tests and the operations view). */
  get activeKeys(): string[] {
    return [...this.polls.keys()];
  }

  /**
   * The current version of `key`, then each new one as it appears, until `signal` aborts or the
   * version becomes null (the thing is gone: null is yielded last). Versions seen by the poller
   * between two reads of a slow consumer are coalesced: the consumer gets the latest.
   */
  async *watch(key: string, read: VersionReader, signal?: AbortSignal): AsyncGenerator<string | null> {
    if (signal?.aborted) return;
    let pending: { version: string | null } | { error: unknown } | null = null;
    let wake: (() => void) | null = null;
    const listener: Listener = (e) => {
      pending = e;
      wake?.();
    };
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort, { once: true });
    const poll = this.join(key, read, listener);
    try {
      let current = poll.last !== undefined ? poll.last : await read();
      if (poll.last === undefined) poll.last = current;
      yield current;
      if (current === null) return;
      while (!signal?.aborted) {
        if (!pending) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        const e = pending as { version: string | null } | { error: unknown } | null;
        pending = null;
        if (!e) continue;
        if ("error" in e) throw e.error;
        if (e.version === current) continue;
        current = e.version;
        yield current;
        if (current === null) return;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.leave(key, listener);
    }
  }

  private join(key: string, read: VersionReader, listener: Listener): Poll {
    let poll = this.polls.get(key);
    if (!poll) {
      poll = { read, listeners: new Set(), last: undefined, timer: null };
      this.polls.set(key, poll);
      this.schedule(key, poll);
    }
    poll.listeners.add(listener);
    return poll;
  }

  private leave(key: string, listener: Listener) {
    const poll = this.polls.get(key);
    if (!poll) return;
    poll.listeners.delete(listener);
    if (poll.listeners.size === 0) {
      if (poll.timer) clearTimeout(poll.timer);
      this.polls.delete(key);
    }
  }

  private schedule(key: string, poll: Poll) {
    poll.timer = setTimeout(async () => {
      poll.timer = null;
      if (this.polls.get(key) !== poll) return;
      try {
        const version = await poll.read();
        if (version !== poll.last) {
          poll.last = version;
          for (const l of poll.listeners) l({ version });
        }
      } catch (error) {
        for (const l of poll.listeners) l({ error });
      }
      if (this.polls.get(key) === poll) this.schedule(key, poll);
    }, typeof this.interval === "number" ? this.interval : this.interval(poll.last));
    poll.timer.unref?.();
  }
}
