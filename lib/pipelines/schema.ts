// Pipeline definitions are data: tools (a command line built from typed inputs, typed outputs and
// how each is found, resources, host requirements) and pipelines (a DAG of tool nodes, sources taken
// from an experiment, constants, sinks back to the archive). One zod schema per document kind; the
// same schemas validate files (`atrium pipeline validate`), the portal editor and the database rows.
import { z } from "zod";

/** Format version of definition files; bump when a field changes meaning. */
export const DEFINITION_SCHEMA_VERSION = 1;

export const DATATYPES = ["dicom-series", "nifti", "file", "directory", "number", "integer", "string", "boolean", "enum"] as const;
export type Datatype = (typeof DATATYPES)[number];
export const FILE_TYPES: ReadonlySet<Datatype> = new Set(["dicom-series", "nifti", "file", "directory"]);
export const isFileType = (t: Datatype) => FILE_TYPES.has(t);

/** Sample levels, coarse to fine: a node runs once per sample at its level. */
export const LEVELS = ["run", "subject", "experiment", "scan"] as const;
export type Level = (typeof LEVELS)[number];
export const levelDepth = (l: Level) => LEVELS.indexOf(l);

const ident = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "An id is a letter or '_' then letters, digits or '_'.");
const toolId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.\/-]*$/, "A tool id is letters, digits, '_', '-', '.' or '/' (e.g. dcm2niix or fastr/math/AddInt).");
export const pipelineIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, "A pipeline id is lower-case letters, digits, '_' or '-' (e.g. dicom-stats).");
const version = z.union([z.string().min(1).max(64), z.number()]).transform((v) => String(v));

const scalar = z.union([z.string(), z.number(), z.boolean()]);
export type Scalar = z.infer<typeof scalar>;
export const valueSchema = z.union([scalar, z.array(scalar)]);
export type Value = z.infer<typeof valueSchema>;

const inputSchema = z
  .object({
    id: ident,
    type: z.enum(DATATYPES),
    list: z.boolean().default(false),
    required: z.boolean().default(true),
    default: valueSchema.optional(),
    /** The allowed values of an enum input. */
    values: z.array(z.string().min(1)).min(1).optional(),
    description: z.string().max(2000).optional(),
  })
  .strict()
  .superRefine((i, ctx) => {
    if (i.type === "enum" && !i.values) ctx.addIssue({ code: "custom", path: ["values"], message: `Input "${i.id}" is an enum: list its allowed values in "values".` });
    if (i.type !== "enum" && i.values) ctx.addIssue({ code: "custom", path: ["values"], message: `Input "${i.id}" has "values" but is not an enum.` });
  });
export type ToolInput = z.infer<typeof inputSchema>;

const findSchema = z.union([
  z.object({ path: z.string().min(1).max(500) }).strict(),
  z.object({ glob: z.string().min(1).max(500) }).strict(),
  z.object({ stdout: z.string().min(1).max(200) }).strict(),
]);
export type OutputFind = z.infer<typeof findSchema>;

const outputSchema = z
  .object({
    id: ident,
    type: z.enum(DATATYPES),
    list: z.boolean().default(false),
    /** An output that may be missing without failing the job. */
    optional: z.boolean().default(false),
    /** How the output is found after the run: a path template, a glob (in the job's directory), or a key of the JSON object the tool prints last on stdout. */
    find: findSchema,
    description: z.string().max(2000).optional(),
  })
  .strict();
export type ToolOutput = z.infer<typeof outputSchema>;

/** One argument of the command template. */
export type CommandArg = string | { input: string; flag?: string; join?: string; repeatFlag?: boolean; nospace?: boolean } | { optional: CommandArg[] };
const inputArg = z
  .object({
    input: ident,
    flag: z.string().min(1).max(100).optional(),
    join: z.string().max(10).optional(),
    repeatFlag: z.boolean().optional(),
    nospace: z.boolean().optional(),
  })
  .strict();
const commandArg: z.ZodType<CommandArg> = z.lazy(() => z.union([z.string().max(2000), inputArg, z.object({ optional: z.array(commandArg).min(1) }).strict()]));

export const resourcesSchema = z
  .object({
    cores: z.number().int().min(1).max(256).default(1),
    memoryMb: z.number().int().min(16).max(4_194_304).default(1024),
    wallTimeSeconds: z.number().int().min(1).max(30 * 86400).default(3600),
  })
  .strict();
export type Resources = z.infer<typeof resourcesSchema>;

export const toolSchema = z
  .object({
    kind: z.literal("tool"),
    schema: z.literal(DEFINITION_SCHEMA_VERSION).default(DEFINITION_SCHEMA_VERSION),
    id: toolId,
    version,
    name: z.string().max(200).optional(),
    description: z.string().max(5000).optional(),
    /** The command line: literal strings (with {input}, {outdir}, {workdir}, {cores}, {sample} placeholders), input arguments, optional parts. */
    command: z.array(commandArg).min(1),
    inputs: z.array(inputSchema).default([]),
    outputs: z.array(outputSchema).default([]),
    resources: resourcesSchema.default({ cores: 1, memoryMb: 1024, wallTimeSeconds: 3600 }),
    requires: z.object({ binaries: z.array(z.string().min(1).max(200)).default([]) }).strict().default({ binaries: [] }),
  })
  .strict();
export type ToolDefinition = z.infer<typeof toolSchema>;

const scansSource = z
  .object({
    from: z.literal("scans"),
    type: z.literal("dicom-series").default("dicom-series"),
    /** Modalities to take (any when absent). */
    modality: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** A regular expression the series description must match (case-insensitive). */
    seriesDescription: z.string().min(1).max(500).optional(),
    /** At least this many matching scans, or the experiment is skipped (with the reason on the run). */
    min: z.number().int().min(0).optional(),
    /** At most this many (the lowest series numbers). */
    max: z.number().int().min(1).optional(),
  })
  .strict();
const resourceSource = z
  .object({
    from: z.literal("resource"),
    /** A resource written by an earlier run's sink. */
    resource: z.string().min(1).max(100),
    on: z.enum(["experiment", "scan"]).default("experiment"),
    type: z.enum(DATATYPES).default("file"),
  })
  .strict();
export const sourceSchema = z.discriminatedUnion("from", [scansSource, resourceSource]);
export type SourceDefinition = z.infer<typeof sourceSchema>;

const constantSchema = z.object({ type: z.enum(DATATYPES), list: z.boolean().default(false), value: valueSchema }).strict();

/** A link into a node input: "source", "constant", "node.output", or with a fan-in. */
export const linkSchema = z.union([
  z.string().min(1).max(200),
  z
    .object({
      from: z.string().min(1).max(200),
      /** Fan-in: gather every sample of the upstream into one list per sample at this level. */
      collapse: z.enum(LEVELS).optional(),
    })
    .strict(),
  z.object({ value: valueSchema }).strict(),
]);
export type LinkDefinition = z.infer<typeof linkSchema>;

const nodeSchema = z
  .object({
    tool: toolId,
    version: version.optional(),
    in: z.record(z.string(), linkSchema).default({}),
    resources: resourcesSchema.partial().optional(),
  })
  .strict();
export type NodeDefinition = z.infer<typeof nodeSchema>;

const sinkSchema = z
  .object({
    from: z.string().min(1).max(200),
    /** Files go back to the archive as a resource of this name. */
    resource: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "A resource name is letters, digits, '_' or '-'.").optional(),
    /** Values are stored as a named result. */
    value: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, "A value name is letters, digits, '_', '.' or '-'.").optional(),
    /** What the result belongs to (default: the sample's own level). */
    on: z.enum(["subject", "experiment", "scan"]).optional(),
  })
  .strict()
  .refine((s) => Boolean(s.resource) !== Boolean(s.value), { message: 'A sink names exactly one of "resource" (files) or "value" (a named value).' });
export type SinkDefinition = z.infer<typeof sinkSchema>;

export const pipelineSchema = z
  .object({
    kind: z.literal("pipeline"),
    schema: z.literal(DEFINITION_SCHEMA_VERSION).default(DEFINITION_SCHEMA_VERSION),
    id: pipelineIdSchema,
    version: version,
    name: z.string().max(200).optional(),
    description: z.string().max(5000).optional(),
    sources: z.record(z.string(), sourceSchema).default({}),
    constants: z.record(z.string(), constantSchema).default({}),
    nodes: z.record(z.string(), nodeSchema),
    sinks: z.record(z.string(), sinkSchema).default({}),
  })
  .strict();
export type PipelineDefinition = z.infer<typeof pipelineSchema>;

export const documentSchema = z.discriminatedUnion("kind", [toolSchema, pipelineSchema]);
export type Definition = z.infer<typeof documentSchema>;

export const identSchema = ident;

/** The key a node's tool is looked up by: id@version, or id (the latest version). */
export function toolRef(id: string, v?: string) {
  return v ? `${id}@${v}` : id;
}
