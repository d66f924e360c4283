// Job and run states as the run pages show them: one colour and label per state, for Atrium's own
// runs and for runs reported through /pim alike.
export const STATE_COLOR: Record<string, string> = {
  idle: "gray",
  queued: "gray",
  registered: "gray",
  running: "yellow",
  success: "green",
  finished: "green",
  failed: "red",
  cancelled: "indigo",
  undefined: "dark",
};
/** Hex colours for the SVG graph (Mantine's 6th shades of the same colours). */
export const STATE_HEX: Record<string, string> = {
  idle: "#868e96",
  queued: "#868e96",
  running: "#fab005",
  success: "#40c057",
  finished: "#40c057",
  failed: "#fa5252",
  cancelled: "#4c6ef5",
  undefined: "#343a40",
};
export const STATE_ORDER = ["failed", "running", "idle", "queued", "success", "finished", "cancelled", "undefined"];

export function stateColor(state: string): string {
  return STATE_COLOR[state] ?? "gray";
}
