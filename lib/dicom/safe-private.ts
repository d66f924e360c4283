// Private attributes treated as safe under the Retain Safe Private option: a small, deliberately
// conservative subset of PS3.15 Table E.3.10-1 (quantitative acquisition parameters only: b-values,
// rescale/scale factors). A project can extend it. Each entry names the private creator, the
// group and the element byte within the block (gggg,xxEE).
export interface SafePrivateRule {
  creator: string;
  group: number;
  element: number; // 0x00-0xFF, the low byte
}

export const DEFAULT_SAFE_PRIVATE: SafePrivateRule[] = [
  { creator: "SIEMENS MR HEADER", group: 0x0019, element: 0x0c }, // B_value
  { creator: "SIEMENS MR HEADER", group: 0x0019, element: 0x0d }, // DiffusionDirectionality
  { creator: "SIEMENS MR HEADER", group: 0x0019, element: 0x0e }, // DiffusionGradientDirection
  { creator: "SIEMENS MR HEADER", group: 0x0019, element: 0x27 }, // B_matrix
  { creator: "GEMS_PARM_01", group: 0x0043, element: 0x39 }, // slop_int_6..9 (b-value)
  { creator: "Philips MR Imaging DD 001", group: 0x2005, element: 0x0d }, // scale intercept
  { creator: "Philips MR Imaging DD 001", group: 0x2005, element: 0x0e }, // scale slope
  { creator: "Philips Imaging DD 001", group: 0x2001, element: 0x03 }, // diffusion b-factor
  { creator: "Philips Imaging DD 001", group: 0x2001, element: 0x04 }, // diffusion direction
];

export function isSafePrivate(rules: SafePrivateRule[], creator: string | undefined, tag: number): boolean {
  if (!creator) return false;
  const c = creator.trim().toUpperCase();
  const g = tag >>> 16;
  const e = tag & 0xff;
  return rules.some((r) => r.group === g && r.element === e && r.creator.toUpperCase() === c);
}
