// Importing fastr tool definitions (their JSON/YAML serialization: id, version, command.targets,
// interface.inputs/outputs with datatype, prefix, cardinality, required, default, enum) into
// Atrium tools. What does not map is listed, not silently dropped.
import { parse } from "yaml";
import { toolSchema, type Datatype, type ToolDefinition } from "./schema";

const TYPE_MAP: Record<string, Datatype> = {
  Int: "integer", UnsignedInt: "integer", Float: "number", Number: "number", Boolean: "boolean", String: "string",
  NiftiImageFile: "nifti", NiftiImageFileCompressed: "nifti", NiftiImageFileUncompressed: "nifti",
  Directory: "directory", DicomImageFile: "dicom-series", TxtFile: "file", JsonFile: "file", AnyFile: "file", AnyType: "string",
};

export interface FastrImport {
  tool: ToolDefinition;
  /** What did not map (one line each). */
  unmapped: string[];
}

type FastrParam = { id?: string; datatype?: string; enum?: string[]; prefix?: string; cardinality?: string | number; required?: boolean; default?: unknown; description?: string; order?: number; automatic?: boolean; repeat_prefix?: boolean; nospace?: boolean; join?: string; location?: string; environ?: string; hidden?: boolean };

export function importFastrTool(text: string): FastrImport {
  if (text.trimStart().startsWith("<")) throw new Error("This is a fastr XML tool file; only fastr's JSON/YAML tool files are imported. Convert it with fastr (it reads XML and writes JSON), then import the JSON.");
  const doc = parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object" || !doc.id) throw new Error('Not a fastr tool: no "id" field.');
  const unmapped: string[] = [];
  const cmd = (doc.command ?? {}) as { targets?: { bin?: string; binary?: string; class?: string; os?: string }[]; version?: string };
  const target = cmd.targets?.find((t) => !t.os || t.os === "*" || t.os === "linux") ?? cmd.targets?.[0];
  const bin = target?.bin ?? target?.binary;
  if (!bin) throw new Error("The fastr tool has no command target with a binary (command.targets[].bin).");
  if (target?.class && target.class !== "LocalBinaryTarget") unmapped.push(`command target class ${target.class} (run as a local binary instead)`);
  const iface = (doc.interface ?? {}) as { class?: string; inputs?: FastrParam[]; outputs?: FastrParam[] };
  if (iface.class && iface.class !== "FastrInterface") unmapped.push(`interface class ${iface.class}`);
  const typeOf = (p: FastrParam, where: string): Datatype => {
    if (p.enum) return "enum";
    const t = TYPE_MAP[p.datatype ?? ""];
    if (!t) unmapped.push(`${where} "${p.id}": datatype ${p.datatype} (imported as file)`);
    return t ?? "file";
  };
  const isList = (c: FastrParam["cardinality"]) => c !== undefined && String(c) !== "1";
  const inputs = (iface.inputs ?? []).map((p) => {
    for (const k of ["environ", "hidden", "location"] as const) if (p[k] !== undefined) unmapped.push(`input "${p.id}": ${k}`);
    if (p.cardinality !== undefined && /as:|val:|unknown/.test(String(p.cardinality))) unmapped.push(`input "${p.id}": cardinality ${p.cardinality} (imported as a list)`);
    return { id: p.id!, type: typeOf(p, "input"), list: isList(p.cardinality), required: p.required ?? true, ...(p.default !== undefined ? { default: p.default } : {}), ...(p.enum ? { values: p.enum.map(String) } : {}), ...(p.description ? { description: p.description } : {}) };
  });
  const ordered = [...(iface.inputs ?? [])].map((p, i) => ({ p, order: p.order ?? i })).sort((a, b) => (a.order < 0 ? 1e6 + a.order : a.order) - (b.order < 0 ? 1e6 + b.order : b.order));
  const command: ToolDefinition["command"] = [bin];
  for (const { p } of ordered) {
    const arg = { input: p.id!, ...(p.prefix ? { flag: p.prefix } : {}), ...(p.join ? { join: p.join } : {}), ...(p.repeat_prefix ? { repeatFlag: true } : {}), ...(p.nospace ? { nospace: true } : {}) };
    command.push(arg);
  }
  const outputs = (iface.outputs ?? []).map((p) => {
    const type = typeOf(p, "output");
    if (!p.automatic) {
      // fastr passes a generated path on the command line; Atrium gives {outdir}/<id>.
      command.push(...(p.prefix ? [p.prefix] : []), `{outdir}/${p.id}`);
    }
    const fileLike = type === "file" || type === "nifti" || type === "directory" || type === "dicom-series";
    unmapped.push(`output "${p.id}": fastr's collector (${p.automatic ? "automatic" : "path"}) becomes ${fileLike ? `a glob out/${p.id}*` : `key "${p.id}" of the JSON the tool prints on stdout`}; check it`);
    return { id: p.id!, type: type === "enum" ? "string" as const : type, list: isList(p.cardinality), find: type === "file" || type === "nifti" || type === "directory" || type === "dicom-series" ? { glob: `out/${p.id}*` } : { stdout: p.id! } };
  });
  const raw = { kind: "tool", id: String(doc.id), version: String((doc.version as string | undefined) ?? cmd.version ?? "1"), ...(doc.name ? { name: String(doc.name) } : {}), ...(doc.description ? { description: String(doc.description) } : {}), command, inputs, outputs, requires: { binaries: [bin] } };
  for (const k of ["tests", "references", "cite", "help", "class"]) if (doc[k] !== undefined) unmapped.push(`${k} (metadata not kept)`);
  return { tool: toolSchema.parse(raw), unmapped };
}
