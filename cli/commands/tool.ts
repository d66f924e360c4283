import { parseArgs } from "node:util";

export const summary = "Import a fastr tool file as an Atrium tool definition (tool import FILE [--out FILE]).";

const usage = `Usage: atrium tool import FILE [--out FILE]

Reads a fastr tool definition (its JSON or YAML form) and writes the Atrium tool definition (YAML) to
--out or stdout, then lists what did not map (README, "Pipelines"). Register the result in a project
with the portal's Tools page.`;

export async function run(args: string[]) {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help || positionals[0] !== "import" || !positionals[1]) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  const [{ readFileSync, writeFileSync }, { stringify }, { importFastrTool }] = await Promise.all([import("node:fs"), import("yaml"), import("@/lib/pipelines/fastr")]);
  try {
    const { tool, unmapped } = importFastrTool(readFileSync(positionals[1], "utf8"));
    const text = stringify(tool);
    if (values.out) writeFileSync(values.out, text);
    else process.stdout.write(text);
    for (const u of unmapped) console.error(`not mapped: ${u}`);
    console.error(`atrium tool import: ${tool.id} version ${tool.version} (${tool.inputs.length} inputs, ${tool.outputs.length} outputs)${values.out ? ` written to ${values.out}` : ""}.`);
    return 0;
  } catch (e) {
    console.error(`atrium tool import: ${(e as Error).message}`);
    return 1;
  }
}
