// What fastr's PIM reporter (pimreporter.py) sends for one real run, built exactly as
// reference/fastr.md §6 describes it: network "add" = source "numbers" → node "add" (tool AddInt)
// → sink "out", two samples, no steps. The registration, then batches of job updates (0 → 1 → 2/3),
// log records on root/master, a failed job with its process info, and the final root/master.

export const RUN_ID = "add_2026-12-05T07-30-11_3f2a";
export const NETWORK = "add";
export const SAMPLES = ["s1", "s2"] as const;

const STATUS_TYPES = [
  { title: "idle", color: "#aaccff", description: "Jobs that are waiting for input" },
  { title: "running", color: "#daa520", description: "Jobs that are running" },
  { title: "success", color: "#23b22f", description: "Jobs that finished successfully" },
  { title: "failed", color: "#dd3311", description: "Jobs that have failed" },
  { title: "cancelled", color: "#334477", description: "Jobs which were cancelled" },
  { title: "undefined", color: "#ccaa99", description: "Jobs with an undefined state" },
];

const port = (name: string, datatype: string, dims: string[], extra: Record<string, unknown> = {}) => ({ name, title: name, customData: { ...extra, datatype, dimension_names: dims } });

export function registration(runId = RUN_ID) {
  return {
    title: runId,
    name: runId,
    assignedTo: [],
    user: "fastr-user",
    root: {
      name: "root",
      title: NETWORK,
      description: "",
      children: [
        { name: "numbers", title: "numbers", children: [], customData: {}, inPorts: [port("input", "Int", ["numbers"])], outPorts: [port("output", "Int", ["numbers"])], type: "SourceNodeRun" },
        {
          name: "add",
          title: "add",
          children: [],
          customData: {},
          inPorts: [port("left", "Int", ["numbers"], { input_group: "default" }), port("right", "Int", [], { input_group: "default" })],
          outPorts: [port("result", "Int", ["numbers"])],
          type: "NodeRun",
        },
        { name: "out", title: "out", children: [], customData: {}, inPorts: [port("input", "Int", ["numbers"], { input_group: "default" })], outPorts: [port("output", "Int", ["numbers"])], type: "SinkNodeRun" },
      ],
      customData: {},
      inPorts: [],
      outPorts: [],
      type: "NetworkRun",
    },
    links: [
      { name: "link_0", title: "link_0", description: "", fromPort: "root/numbers/output", toPort: "root/add/left", dataType: "Int", customData: { expand: false, collapse: [] } },
      { name: "link_1", title: "link_1", description: "", fromPort: "root/add/result", toPort: "root/out/input", dataType: "Int", customData: { expand: false, collapse: [] } },
    ],
    description: `Run of ${runId} started at 2026-12-05 07:30:11.123456`,
    customData: { workflow_engine: "fastr", tmpdir: `/tmp/fastr_${runId}` },
    statusTypes: STATUS_TYPES,
  };
}

export const jobPath = (node: string, sample: string) => `root/${node}/${NETWORK}___${node}___${sample}`;

const job = (node: string, sample: string, index: number, status: number, extra: Record<string, unknown> = {}) => ({
  path: jobPath(node, sample),
  title: "",
  description: "",
  status,
  customData: { sample_id: [sample], sample_index: [index], errors: [], ...extra },
});

const logRecord = (ts: string, message: string, level = "INFO") => ({
  path: "root/master",
  customData: { __log__: { [ts]: { process_name: "MainProcess", thread_name: "MainThread", level_name: level, module: "networkrun", function: "execute", lineno: 412, message } } },
});

/** The batches as the reporter's background sender PUTs them, in order. */
export function batches() {
  const master = (status: number) => ({ path: "root/master", title: "", customData: {}, status, description: "" });
  return [
    [master(1), logRecord("2026-12-05 07:30:11.200000", "Running network via fastr")],
    [
      ...SAMPLES.map((s, i) => job("numbers", s, i, 0)),
      ...SAMPLES.map((s, i) => job("numbers", s, i, 1)),
      ...SAMPLES.map((s, i) => job("numbers", s, i, 2)),
      ...SAMPLES.map((s, i) => job("add", s, i, 0)),
      job("add", "s1", 0, 1),
      job("add", "s2", 1, 1),
    ],
    [
      job("add", "s1", 0, 2),
      job("add", "s2", 1, 3, {
        errors: [["FastrExecutionError", "AddInt exited with 1", "executionscript.py", 88]],
        __stdout__: "",
        __stderr__: "Traceback: ValueError: right operand missing\n",
        command: ["python", "addint.py", "--left", "2"],
        returncode: 1,
        time_elapsed: 0.42,
        hostinfo: { hostname: "node07" },
        tool_name: "AddInt",
        tool_version: "1.0",
      }),
      logRecord("2026-12-05 07:30:14.500000", "Job add___s2 failed", "WARNING"),
      job("out", "s1", 0, 0),
      job("out", "s1", 0, 1),
      job("out", "s1", 0, 2),
      job("out", "s2", 1, 4),
    ],
    [logRecord("2026-12-05 07:30:15.000000", "Network run finished"), master(3)],
  ];
}
