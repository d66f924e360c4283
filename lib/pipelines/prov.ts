// A W3C PROV-JSON document for a run: the run and each job are activities, the tool (id@version)
// and Atrium are agents, every staged input and every output is an entity identified by its
// sha256; used / wasGeneratedBy / wasAssociatedWith / wasInformedBy link them.
export interface ProvJob {
  id: string;
  node: string;
  sample: string;
  toolId: string;
  toolVersion: string;
  command: string[];
  startedAt: Date | null;
  endedAt: Date | null;
  state: string;
  inputHashes: Record<string, string>;
  outputHashes: Record<string, string>;
  /** Jobs whose outputs this job used. */
  after: string[];
}

export function provDocument(run: { id: string; pipelineId: string; pipelineVersion: string; startedAt: Date | null; endedAt: Date | null }, jobs: ProvJob[]) {
  const entity: Record<string, Record<string, unknown>> = {};
  const activity: Record<string, Record<string, unknown>> = {
    [`atrium:run/${run.id}`]: { "prov:type": "atrium:PipelineRun", "atrium:pipeline": `${run.pipelineId}@${run.pipelineVersion}`, ...(run.startedAt ? { "prov:startTime": run.startedAt.toISOString() } : {}), ...(run.endedAt ? { "prov:endTime": run.endedAt.toISOString() } : {}) },
  };
  const agent: Record<string, Record<string, unknown>> = { "atrium:atrium": { "prov:type": "prov:SoftwareAgent" } };
  const used: Record<string, unknown> = {};
  const wasGeneratedBy: Record<string, unknown> = {};
  const wasAssociatedWith: Record<string, unknown> = {};
  const wasInformedBy: Record<string, unknown> = {};
  const actedOnBehalfOf: Record<string, unknown> = {};
  let n = 0;
  const id = (p: string) => `_:${p}${++n}`;
  for (const j of jobs) {
    const act = `atrium:job/${j.id}`;
    const tool = `atrium:tool/${j.toolId}@${j.toolVersion}`;
    agent[tool] ??= { "prov:type": "prov:SoftwareAgent", "atrium:toolId": j.toolId, "atrium:toolVersion": j.toolVersion };
    actedOnBehalfOf[id("b")] = { "prov:delegate": tool, "prov:responsible": "atrium:atrium" };
    activity[act] = { "prov:type": "atrium:Job", "atrium:node": j.node, "atrium:sample": j.sample, "atrium:state": j.state, "atrium:command": j.command.join(" "), ...(j.startedAt ? { "prov:startTime": j.startedAt.toISOString() } : {}), ...(j.endedAt ? { "prov:endTime": j.endedAt.toISOString() } : {}) };
    wasAssociatedWith[id("a")] = { "prov:activity": act, "prov:agent": tool };
    wasInformedBy[id("i")] = { "prov:informed": act, "prov:informant": `atrium:run/${run.id}` };
    for (const up of j.after) wasInformedBy[id("i")] = { "prov:informed": act, "prov:informant": `atrium:job/${up}` };
    for (const [name, sha] of Object.entries(j.inputHashes)) {
      const e = `atrium:sha256/${sha}`;
      entity[e] ??= { "atrium:sha256": sha };
      used[id("u")] = { "prov:activity": act, "prov:entity": e, "prov:role": name };
    }
    for (const [name, sha] of Object.entries(j.outputHashes)) {
      const e = `atrium:sha256/${sha}`;
      entity[e] ??= { "atrium:sha256": sha };
      wasGeneratedBy[id("g")] = { "prov:entity": e, "prov:activity": act, "prov:role": name };
    }
  }
  return {
    prefix: { atrium: "https://atrium.invalid/ns#", prov: "http://www.w3.org/ns/prov#" },
    entity,
    activity,
    agent,
    used,
    wasGeneratedBy,
    wasAssociatedWith,
    wasInformedBy,
    actedOnBehalfOf,
  };
}
