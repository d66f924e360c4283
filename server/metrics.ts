// Prometheus metrics (prom-client). One registry per process, shared through globalThis so the
// Next.js bundle and the launcher see the same counters. Labels never carry PHI.
import { Registry, collectDefaultMetrics, Gauge, Counter } from "prom-client";
import { queueNames } from "@/lib/queue";
import { getQueue } from "@/server/queues";

const key = Symbol.for("atrium.metrics");

function build() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "atrium" });
  collectDefaultMetrics({ register: registry, prefix: "atrium_" });
  const queueJobs = new Gauge({
    name: "atrium_queue_jobs",
    help: "Jobs per queue and state, read from Redis at scrape time.",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const name of queueNames) {
        try {
          const counts = await getQueue(name).getJobCounts("waiting", "active", "delayed", "failed", "completed");
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        } catch {
          // Redis down: the health endpoint says so; the scrape still succeeds.
        }
      }
    },
  });
  const httpRequests = new Counter({
    name: "atrium_http_requests_total",
    help: "HTTP requests served, by route group and status class.",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const dicomAssociations = new Counter({
    name: "atrium_dicom_associations_total",
    help: "DICOM associations, accepted or rejected.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const dicomInstances = new Counter({
    name: "atrium_dicom_instances_total",
    help: "Instances received by C-STORE, stored (recorded) or failed.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  return { registry, queueJobs, httpRequests, dicomAssociations, dicomInstances };
}

type G = typeof globalThis & { [key]?: ReturnType<typeof build> };

export function metrics() {
  const g = globalThis as G;
  g[key] ??= build();
  return g[key]!;
}
