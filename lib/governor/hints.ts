// What to do about a callback that did not succeed or an experiment that is stuck (issue #16):
// one sentence for the portal and the CLI, from the execution's function, status, result and log.
// Free of Node APIs (the portal imports it).

export interface ExecutionLike {
  function: string;
  status: string;
  result: string;
  runLog: string;
  resultLog: string;
}

export function executionHint(x: ExecutionLike): string | null {
  const log = `${x.runLog}\n${x.resultLog}`;
  if (x.status === "waiting")
    return "Waiting for an external system to report back (PUT /api/v2/callback_executions/{id} with the execution's secret). It times out after the callback's wait_timeout.";
  if (x.status === "created" || x.status === "queued") return "Queued: it starts after the callback's initial_delay when a worker is free. If it stays here, check that the workers run (Operations page).";
  if (x.status === "running") return "Running now; it times out after the callback's run_timeout.";
  if (x.status === "skipped") return /left '/.test(log) ? "Closed: the experiment left the state before this callback was resolved." : null;
  if (x.result === "success" || x.result === "none") return null;
  if (x.result === "timeout")
    return /wait_timeout/.test(log)
      ? "No external system reported back within wait_timeout. Check the system that should answer, then Retry (owners), or force the next state."
      : "The callback ran longer than its run_timeout. Raise run_timeout in the workflow, or fix what made it slow, then Retry.";
  if (/not registered/.test(log)) return "The program is not registered. A site admin adds it to ATRIUM_GOVERNOR_PROGRAMS (name=/absolute/path) on the workers, then an owner retries.";
  if (/not available in this build/.test(log)) return "This Atrium has no adapter for this callback yet. Force the experiment to the next state, or import a workflow that does not use it.";
  if (/mail is not configured/.test(log)) return "Mail is not configured: set ATRIUM_SMTP_HOST, ATRIUM_SMTP_PORT, ATRIUM_MAIL_FROM and ATRIUM_GOVERNOR_MAIL_TO on the workers, then Retry.";
  if (/bad callback_arguments/.test(log)) return "The workflow gives this callback wrong arguments (see the log). Fix them, import the workflow again, and force the experiment back into this state.";
  if (/not allowed|allow-list|outbound/i.test(log)) return "The URL is not on the outbound allow-list. A site admin allows the host, then an owner retries.";
  if (x.function === "external_program" || x.function === "command") return "The program failed (its exit code was not the expected one). Read its output below, fix the cause, then Retry.";
  return "The callback failed. Read its log below, fix the cause, then Retry (owners) or force a state.";
}
