import { parseArgs } from "node:util";

export const summary = "Validate a pipeline or tool definition file (pipeline validate FILE [--tools DIR]).";

const usage = `Usage: atrium pipeline validate FILE [--tools DIR…] [--json]

Checks a pipeline or tool definition (YAML or JSON): its fields, and for a pipeline its nodes and
links against the tools (the shipped examples in lib/pipelines/examples, plus every *.tool.yaml /
*.tool.json in the --tools directories). Prints each problem with its line, naming the node and
link; exit code 1 when there are problems.`;

export async function run(args: string[]) {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { tools: { type: "string", multiple: true }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help || positionals[0] !== "validate" || !positionals[1]) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  const [{ readFileSync, readdirSync, existsSync }, path, { parseDefinitionText, formatProblem, parseToolText }, { analyzePipeline, toolCatalog, validateTool }] = await Promise.all([
    import("node:fs"),
    import("node:path"),
    import("@/lib/pipelines/document"),
    import("@/lib/pipelines/validate"),
  ]);
  const file = positionals[1];
  if (!existsSync(file)) {
    console.error(`atrium pipeline validate: no file ${file}.`);
    return 2;
  }
  const parsed = parseDefinitionText(readFileSync(file, "utf8"));
  let problems = parsed.ok ? [] : parsed.problems;
  if (parsed.ok) {
    if (parsed.value.kind === "tool") problems = validateTool(parsed.value, parsed.source);
    else {
      const dirs = [path.resolve(import.meta.dirname, "..", "..", "lib", "pipelines", "examples"), ...(values.tools ?? [])];
      const tools = dirs.flatMap((d) =>
        readdirSync(d)
          .filter((f) => /\.tool\.(ya?ml|json)$/.test(f))
          .flatMap((f) => {
            const r = parseToolText(readFileSync(path.join(d, f), "utf8"));
            return r.ok ? [r.value] : [];
          }),
      );
      problems = analyzePipeline(parsed.value, toolCatalog(tools), parsed.source).problems;
    }
  }
  if (values.json) console.log(JSON.stringify({ file, ok: !problems.length, problems }, null, 2));
  else if (!problems.length) console.log(`${file}: valid ${parsed.ok ? `${parsed.value.kind} ${parsed.value.id} version ${parsed.value.version}` : ""}`);
  else for (const p of problems) console.log(`${file}:${formatProblem(p)}${p.node ? ` [node ${p.node}${p.link ? `, link ${p.link}` : ""}]` : ""}`);
  return problems.length ? 1 : 0;
}
