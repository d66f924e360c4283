// ChangeWatch (lib/monitoring/change-watch.ts): one shared poller per key, each watcher told of
// every new version, coalesced for slow consumers, ended by abort or by the thing going away.
import { describe, expect, it } from "vitest";
import { ChangeWatch } from "@/lib/monitoring/change-watch";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects what a watcher yields until it ends or `until` says stop. */
async function collect(gen: AsyncGenerator<string | null>, out: (string | null)[]) {
  for await (const v of gen) out.push(v);
}

describe("ChangeWatch", () => {
  it("yields the current version, then each change, and stops polling when the last watcher leaves", async () => {
    const watch = new ChangeWatch(10);
    let version = "a";
    let reads = 0;
    const read = async () => {
      reads++;
      return version;
    };
    const ac = new AbortController();
    const seen: (string | null)[] = [];
    const done = collect(watch.watch("run:1", read, ac.signal), seen);
    await sleep(40);
    expect(seen).toEqual(["a"]);
    version = "b";
    await sleep(40);
    version = "c";
    await sleep(40);
    expect(seen).toEqual(["a", "b", "c"]);
    expect(watch.activeKeys).toEqual(["run:1"]);
    ac.abort();
    await done;
    expect(watch.activeKeys).toEqual([]);
    const after = reads;
    await sleep(50);
    expect(reads).toBe(after);
  });

  it("shares one poller between the watchers of a key", async () => {
    const watch = new ChangeWatch(20);
    let version = "1";
    let reads = 0;
    const read = async () => {
      reads++;
      return version;
    };
    const ac = new AbortController();
    const a: (string | null)[] = [];
    const b: (string | null)[] = [];
    const done = Promise.all([collect(watch.watch("k", read, ac.signal), a), collect(watch.watch("k", read, ac.signal), b)]);
    await sleep(210);
    version = "2";
    await sleep(60);
    ac.abort();
    await done;
    expect(a).toEqual(["1", "2"]);
    expect(b).toEqual(["1", "2"]);
    // ~13 intervals of 20 ms and one first read: one poller, not two (two would read ~26 times).
    expect(reads).toBeLessThan(18);
  });

  it("ends with null when the thing is gone, and passes a read error to its watchers", async () => {
    const watch = new ChangeWatch(10);
    let version: string | null = "x";
    const seen: (string | null)[] = [];
    const done = collect(watch.watch("gone", async () => version), seen);
    await sleep(30);
    version = null;
    await done;
    expect(seen).toEqual(["x", null]);
    expect(watch.activeKeys).toEqual([]);

    let fail = false;
    const failing = watch.watch("broken", async () => {
      if (fail) throw new Error("database went away");
      return "v";
    });
    expect((await failing.next()).value).toBe("v");
    fail = true;
    await expect(failing.next()).rejects.toThrow("database went away");
    expect(watch.activeKeys).toEqual([]);
  });

  it("gives a slow consumer the latest version, not every intermediate one", async () => {
    const watch = new ChangeWatch(5);
    let n = 0;
    const gen = watch.watch("busy", async () => String(n));
    expect((await gen.next()).value).toBe("0");
    for (let i = 1; i <= 5; i++) {
      n = i;
      await sleep(15);
    }
    const next = await gen.next();
    expect(next.value).toBe("5");
    await gen.return(undefined);
    expect(watch.activeKeys).toEqual([]);
  });

  it("chooses the next read's delay from the last version (a finished run is read less often)", async () => {
    const watch = new ChangeWatch((last) => (last === "ended" ? 1_000 : 10));
    let version = "running";
    let reads = 0;
    const ac = new AbortController();
    const seen: (string | null)[] = [];
    const done = collect(
      watch.watch("run", async () => {
        reads++;
        return version;
      }, ac.signal),
      seen,
    );
    await sleep(100);
    const whileRunning = reads;
    expect(whileRunning).toBeGreaterThan(4);
    version = "ended";
    await sleep(50);
    const atEnd = reads;
    await sleep(300);
    expect(reads - atEnd).toBeLessThanOrEqual(1);
    ac.abort();
    await done;
    expect(seen).toEqual(["running", "ended"]);
  });
});
