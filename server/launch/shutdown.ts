// Graceful shutdown on SIGTERM/SIGINT: stop taking work, let running work finish, close
// connections, then exit. A second signal exits at once.
import { closeQueues } from "@/server/queues";
import { closeSharedRedis } from "@/server/redis";
import { dbHandle, setDbHandle } from "@/server/db";
import { childLog } from "@/lib/log";

const log = childLog("launch");

export function onShutdown(stopWork: () => Promise<void>, afterAll: () => Promise<void> = async () => undefined) {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    try {
      await stopWork();
      await closeQueues();
      await closeSharedRedis();
      const handle = await dbHandle();
      setDbHandle(undefined);
      await handle.close();
      await afterAll();
      log.info("stopped");
      process.exit(0);
    } catch (e) {
      log.error({ error: (e as Error).message }, "shutdown failed");
      process.exit(1);
    }
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}
