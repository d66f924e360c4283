// What an update really changes: the fields given with a value that differs from the current one,
// and those fields' values before. Used for the update itself and for its audit entry.
export interface FieldChanges {
  fields: string[];
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}

export function fieldChanges(current: object, changes: object): FieldChanges {
  const now = current as Record<string, unknown>;
  const after = Object.fromEntries(Object.entries(changes).filter(([k, v]) => v !== undefined && now[k] !== v));
  const fields = Object.keys(after);
  return { fields, after, before: Object.fromEntries(fields.map((k) => [k, now[k]])) };
}
