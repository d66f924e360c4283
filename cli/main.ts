// Entry point of the `atrium` command line. Each subcommand is a file in cli/commands/
// exporting `summary` (one line for the help) and `run(args)`; adding a file adds a command.
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface CliCommand {
  summary: string;
  run(args: string[]): Promise<number | void>;
}

const commandsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "commands");

export function listCommands(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function loadCommand(name: string): Promise<CliCommand> {
  // A relative template import: the compiled CLI (bin/cli-build.mjs) bundles every file of
  // commands/ from it, each in its own chunk, loaded only when its command runs (or for --help).
  // Commands import their heavy modules (database, workers, DICOM) inside run(), so that
  // `atrium --help` and a command's --help load almost nothing.
  return (await import(`./commands/${name}.ts`)) as CliCommand;
}

async function printHelp(): Promise<void> {
  const lines = ["Usage: atrium <command> [options]", "", "Commands:"];
  for (const name of listCommands()) lines.push(`  ${name.padEnd(12)} ${(await loadCommand(name)).summary}`);
  lines.push("", "Run `atrium <command> --help` for a command's options.");
  console.log(lines.join("\n"));
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    await printHelp();
    return;
  }
  if (!listCommands().includes(name)) {
    console.error(`atrium: unknown command "${name}". Run \`atrium --help\` to see the commands.`);
    process.exit(2);
  }
  const code = await (await loadCommand(name)).run(rest);
  if (typeof code === "number") process.exitCode = code;
}
