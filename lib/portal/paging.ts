// Paged lists of the portal: the cursor page every list answers with, "100 of 1,500", and the
// selection of a bulk action (rows picked across pages, or every row matching the filters as of
// the moment the list was loaded, minus the rows unticked). Pure: shared by the tRPC inputs, the
// server's queries and the portal's tables.
import { z } from "zod";

/** How many rows one bulk call acts on; the portal repeats the call and shows the progress. */
export const BULK_CHUNK = 200;

/** Most ids one selection may name (the rows ticked one by one across pages). */
export const MAX_PICKED = 5_000;

export const rowIdSchema = z.string().min(1).max(64);

/** A page of a list: `total` counts every row matching the filters, not only this page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total: number;
}

/** Rows picked one by one, or every row matching the filters (received/queued no later than `asOf`) except some. */
export function selectionSchema<F extends z.ZodTypeAny>(filter: F) {
  return z.discriminatedUnion("kind", [
    z.object({
      kind: z.literal("ids"),
      ids: z.array(rowIdSchema).min(1, "Select at least one row.").max(MAX_PICKED, `Select at most ${MAX_PICKED.toLocaleString("en")} rows one by one, or select every matching row.`),
    }),
    z.object({
      kind: z.literal("matching"),
      filter,
      /** When the list was loaded: rows that arrived afterwards are not acted on. */
      asOf: z.coerce.date(),
      except: z.array(rowIdSchema).max(MAX_PICKED).default([]),
    }),
  ]);
}

/** The first `size` rows of `rows` (fetched with one more) and the cursor of the next page. */
export function cutPage<T extends { id: string }>(rows: T[], size: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, size);
  return { items, nextCursor: rows.length > size ? items[items.length - 1]!.id : null };
}

/** "100 of 1,500 instances", "1 study", "all 12 studies". */
export function shownOf(shown: number, total: number, noun: [string, string]): string {
  const word = total === 1 ? noun[0] : noun[1];
  if (shown >= total) return total === 0 ? `No ${noun[1]}` : `${total === 1 ? "" : "All "}${total.toLocaleString("en")} ${word}`.trim();
  return `${shown.toLocaleString("en")} of ${total.toLocaleString("en")} ${word}`;
}

/** Splits ids into chunks of at most `size` (a bulk action over rows picked across pages). */
export function chunks<T>(items: readonly T[], size = BULK_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** How many rows a selection covers, given the total matching the filters when it was made. */
export function selectionSize(sel: { kind: "ids"; ids: readonly string[] } | { kind: "matching"; except: readonly string[] }, matchingTotal: number): number {
  return sel.kind === "ids" ? sel.ids.length : Math.max(0, matchingTotal - sel.except.length);
}
