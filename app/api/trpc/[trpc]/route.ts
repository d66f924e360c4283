import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter } from "@/server/routers";
import { createContext } from "@/server/trpc/context";
import { childLog } from "@/lib/log";

const log = childLog("trpc");

function handler(req: Request) {
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: () => createContext(req.headers),
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") log.error({ path, err: error.cause?.name ?? error.name }, "procedure failed");
    },
  });
}

export { handler as GET, handler as POST };
