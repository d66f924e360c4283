// The PS3.15 retain options: the only profile options that keep what the Basic profile removes.
// No file access here, so that the portal's client components can import the list.
export const RETAIN_OPTIONS = [
  "retainSafePrivate",
  "retainUIDs",
  "retainDeviceIdentity",
  "retainInstitutionIdentity",
  "retainPatientCharacteristics",
  "retainLongitudinalFullDates",
  "retainLongitudinalModifiedDates",
] as const;
export type RetainOption = (typeof RETAIN_OPTIONS)[number];

export const RETAIN_MEANINGS: Record<RetainOption, string> = {
  retainSafePrivate: "Retain Safe Private Option",
  retainUIDs: "Retain UIDs Option",
  retainDeviceIdentity: "Retain Device Identity Option",
  retainInstitutionIdentity: "Retain Institution Identity Option",
  retainPatientCharacteristics: "Retain Patient Characteristics Option",
  retainLongitudinalFullDates: "Retain Longitudinal Temporal Information Full Dates Option",
  retainLongitudinalModifiedDates: "Retain Longitudinal Temporal Information Modified Dates Option",
};

export function isRetainOption(o: string): o is RetainOption {
  return (RETAIN_OPTIONS as readonly string[]).includes(o);
}
