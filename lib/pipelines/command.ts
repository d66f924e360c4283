// Builds a job's argv from its tool's command template and the input values (staged paths for
// files, values for the rest): flags, positional arguments, lists (joined, repeated flag, or one
// argument each), optional parts dropped when an input they use has no value.
import type { CommandArg, Scalar, ToolDefinition } from "./schema";
import { placeholdersOf } from "./validate";

export type InputValues = Record<string, Scalar | Scalar[] | undefined>;
export interface CommandContext {
  outdir: string;
  workdir: string;
  cores: number;
  memoryMb: number;
  sample: string;
}

export class CommandError extends Error {
  override readonly name = "CommandError";
}

const str = (v: Scalar) => (typeof v === "boolean" ? (v ? "true" : "false") : String(v));

/** The inputs with their defaults applied; a missing required input is an error naming it. */
export function withDefaults(tool: ToolDefinition, given: InputValues): InputValues {
  const out: InputValues = {};
  for (const i of tool.inputs) {
    const v = given[i.id] ?? i.default;
    if (v === undefined && i.required) throw new CommandError(`Tool ${tool.id}: required input "${i.id}" has no value.`);
    out[i.id] = v;
  }
  return out;
}

export function buildCommand(tool: ToolDefinition, given: InputValues, ctx: CommandContext): string[] {
  const values = withDefaults(tool, given);
  const special: Record<string, string> = { outdir: ctx.outdir, workdir: ctx.workdir, cores: String(ctx.cores), memoryMb: String(ctx.memoryMb), sample: ctx.sample };
  const has = (name: string) => name in special || (values[name] !== undefined && !(Array.isArray(values[name]) && (values[name] as Scalar[]).length === 0));
  const fill = (s: string) =>
    s.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      if (name in special) return special[name]!;
      const v = values[name];
      if (v === undefined) throw new CommandError(`Tool ${tool.id}: the command uses {${name}}, which has no value.`);
      return Array.isArray(v) ? v.map(str).join(",") : str(v);
    });
  const refs = (a: CommandArg): string[] => (typeof a === "string" ? placeholdersOf(a) : "input" in a ? [a.input] : a.optional.flatMap(refs));
  const render = (args: CommandArg[]): string[] =>
    args.flatMap((a): string[] => {
      if (typeof a === "string") return [fill(a)];
      if ("optional" in a) return a.optional.flatMap(refs).every(has) ? render(a.optional) : [];
      const v = values[a.input];
      if (v === undefined) return [];
      const glue = (flag: string | undefined, value: string) => (flag === undefined ? [value] : a.nospace ? [flag + value] : [flag, value]);
      if (typeof v === "boolean" && a.flag) return v ? [a.flag] : [];
      if (!Array.isArray(v)) return glue(a.flag, str(v));
      if (!v.length) return [];
      if (a.join !== undefined) return glue(a.flag, v.map(str).join(a.join));
      if (a.repeatFlag) return v.flatMap((x) => glue(a.flag, str(x)));
      return a.flag ? (a.nospace ? [a.flag + str(v[0]!), ...v.slice(1).map(str)] : [a.flag, ...v.map(str)]) : v.map(str);
    });
  return render(tool.command);
}
