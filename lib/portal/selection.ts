// What a paged table has selected for a bulk action: rows ticked one by one (across pages), or
// "every row matching the filters" as of when the list was loaded, minus the rows unticked. Pure
// and immutable: the portal's tables keep one in state, and `toSelection` gives the payload of
// the bulk procedures (lib/portal/paging selectionSchema). A loop that repeats a bulk call until
// nothing remains (`bulkStep`) is here too, so its stopping rules are unit-tested.
import { MAX_PICKED } from "./paging";

export type RowSelection<F> =
  | { kind: "ids"; ids: readonly string[] }
  | { kind: "matching"; filter: F; asOf: Date; total: number; except: readonly string[] };

export function emptySelection<F>(): RowSelection<F> {
  return { kind: "ids", ids: [] };
}

export function isSelected<F>(sel: RowSelection<F>, id: string): boolean {
  return sel.kind === "ids" ? sel.ids.includes(id) : !sel.except.includes(id);
}

/** Ticks or unticks one row. */
export function toggle<F>(sel: RowSelection<F>, id: string): RowSelection<F> {
  if (sel.kind === "ids") return { ...sel, ids: sel.ids.includes(id) ? sel.ids.filter((x) => x !== id) : [...sel.ids, id] };
  const except = sel.except.includes(id) ? sel.except.filter((x) => x !== id) : [...sel.except, id];
  // Unticking every matching row one by one leaves nothing selected.
  return except.length >= sel.total ? emptySelection() : { ...sel, except };
}

/** Ticks (or unticks) every row of the page shown. */
export function togglePage<F>(sel: RowSelection<F>, pageIds: readonly string[], on: boolean): RowSelection<F> {
  if (sel.kind === "ids") {
    const rest = sel.ids.filter((x) => !pageIds.includes(x));
    return { kind: "ids", ids: on ? [...rest, ...pageIds] : rest };
  }
  const rest = sel.except.filter((x) => !pageIds.includes(x));
  const next = { ...sel, except: on ? rest : [...rest, ...pageIds] };
  return next.except.length >= sel.total ? emptySelection() : next;
}

/** Every row matching `filter` (loaded at `asOf`, `total` of them). */
export function selectMatching<F>(filter: F, asOf: Date, total: number): RowSelection<F> {
  return total > 0 ? { kind: "matching", filter, asOf, total, except: [] } : emptySelection();
}

/** How many rows the selection covers. */
export function selectedCount<F>(sel: RowSelection<F>): number {
  return sel.kind === "ids" ? sel.ids.length : Math.max(0, sel.total - sel.except.length);
}

/** Whether every row of the page shown is ticked (for the header checkbox). */
export function pageState<F>(sel: RowSelection<F>, pageIds: readonly string[]): "all" | "some" | "none" {
  const n = pageIds.filter((id) => isSelected(sel, id)).length;
  return n === 0 ? "none" : n === pageIds.length ? "all" : "some";
}

/** A reason the selection cannot be sent as it is (too many rows ticked one by one), else null. */
export function selectionProblem<F>(sel: RowSelection<F>): string | null {
  const n = sel.kind === "ids" ? sel.ids.length : sel.except.length;
  if (n > MAX_PICKED) {
    return sel.kind === "ids"
      ? `You ticked ${n.toLocaleString("en")} rows one by one; at most ${MAX_PICKED.toLocaleString("en")} can be. Use "Select all matching" with filters instead.`
      : `You unticked ${n.toLocaleString("en")} rows; at most ${MAX_PICKED.toLocaleString("en")} can be. Narrow the filters instead.`;
  }
  return null;
}

/** The payload of a bulk procedure's `selection`. */
export function toSelection<F>(sel: RowSelection<F>): { kind: "ids"; ids: string[] } | { kind: "matching"; filter: F; asOf: Date; except: string[] } {
  return sel.kind === "ids" ? { kind: "ids", ids: [...sel.ids] } : { kind: "matching", filter: sel.filter, asOf: sel.asOf, except: [...sel.except] };
}

/** Progress of a bulk action repeated until nothing remains. */
export interface BulkProgress {
  done: number;
  /** done + what the server said remains (the total grows or shrinks as others act). */
  total: number;
  state: "running" | "finished" | "cancelled" | "stuck" | "failed";
  error?: string;
}

/**
 * Folds one answer `{done, remaining}` of a bulk call into the progress. A call that acted on
 * nothing while rows remain would loop for ever (rows a concurrent action holds): it stops as
 * "stuck" and says so.
 */
export function bulkStep(p: BulkProgress, r: { done: number; remaining: number }): BulkProgress {
  const done = p.done + r.done;
  const total = done + r.remaining;
  if (r.remaining === 0) return { done, total, state: "finished" };
  if (r.done === 0) return { done, total, state: "stuck", error: `${r.remaining.toLocaleString("en")} selected rows could not be acted on (another action may hold them). Reload the list and try again.` };
  return { done, total, state: "running" };
}

/**
 * Runs a bulk call until nothing remains, reporting progress after every call; `cancelled()` is
 * read between calls (a call under way finishes: its chunk is one transaction).
 */
export async function runBulk(
  call: () => Promise<{ done: number; remaining: number }>,
  expected: number,
  onProgress: (p: BulkProgress) => void,
  cancelled: () => boolean,
): Promise<BulkProgress> {
  let p: BulkProgress = { done: 0, total: expected, state: "running" };
  onProgress(p);
  for (;;) {
    if (cancelled()) {
      p = { ...p, state: "cancelled" };
      break;
    }
    try {
      p = bulkStep(p, await call());
    } catch (e) {
      p = { ...p, state: "failed", error: (e as Error).message };
    }
    if (p.state !== "running") break;
    onProgress(p);
  }
  onProgress(p);
  return p;
}
