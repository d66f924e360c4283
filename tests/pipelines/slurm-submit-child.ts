// Child process for the re-attach test: submits one job through the SLURM executor, prints the
// SubmittedJob as JSON and then hangs until it is killed.
import { slurmExecutor } from "../../lib/pipelines/executors/slurm";

const spec = JSON.parse(process.argv[2]);
const job = await slurmExecutor().submit(spec);
process.stdout.write(JSON.stringify(job) + "\n");
setInterval(() => undefined, 1000);
