// Prometheus metrics (prom-client). One registry per process, shared through globalThis so the
// Next.js bundle and the launcher see the same counters. Labels never carry PHI.
import { Registry, collectDefaultMetrics, Counter } from "prom-client";
import { registerOperationsMetrics } from "@/server/monitoring/metrics";

const key = Symbol.for("atrium.metrics");

function build() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "atrium" });
  collectDefaultMetrics({ register: registry, prefix: "atrium_" });
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
  const queueJobs = registerOperationsMetrics(registry);
  return { registry, queueJobs, httpRequests, dicomAssociations, dicomInstances };
}

type G = typeof globalThis & { [key]?: ReturnType<typeof build> };

export function metrics() {
  const g = globalThis as G;
  g[key] ??= build();
  return g[key]!;
}
