"use client";
// Light versions of a few Mantine components for long lists: the same markup and Mantine's own
// classes, without each element's props resolution and style computation. A page of 100 rows with
// a dozen Mantine components each spent ~0.4 s rendering in Chromium here (issue #21); use these
// in rows, and Mantine's components everywhere else.
import type { ReactNode } from "react";
import { ActionIcon, Badge, Table, UnstyledButton } from "@mantine/core";

const TD = Table.Td.classes.td;
const TR = Table.Tr.classes.tr;
const ICON_BUTTON = `mantine-focus-auto mantine-active ${ActionIcon.classes.root} ${UnstyledButton.classes.root}`;
const BORDER = "calc(0.0625rem * var(--mantine-scale)) solid transparent";

/** A row of a Mantine `<Table highlightOnHover>` (row borders on, as Mantine's default). */
export function LightTr({ children, selected, ...rest }: { children: ReactNode; selected?: boolean } & Record<`data-${string}`, string>) {
  return (
    <tr className={TR} data-with-row-border="true" data-hover="true" style={selected ? { backgroundColor: "var(--mantine-color-blue-light)" } : undefined} {...rest}>
      {children}
    </tr>
  );
}

export function LightTd({ children }: { children?: ReactNode }) {
  return <td className={TD}>{children}</td>;
}

/** Text styles for rows: Mantine's sizes and colours as plain style objects (shared, not rebuilt per row). */
export const lightText = {
  sm: { fontSize: "var(--mantine-font-size-sm)", lineHeight: "var(--mantine-line-height-sm)" },
  xs: { fontSize: "var(--mantine-font-size-xs)", lineHeight: "var(--mantine-line-height-xs)" },
  mono: { fontFamily: "var(--mantine-font-family-monospace)" },
  dimmed: { color: "var(--mantine-color-dimmed)" },
} as const;

const iconStyles = new Map<string, React.CSSProperties>();
function iconStyle(color: string): React.CSSProperties {
  let s = iconStyles.get(color);
  if (!s) {
    s = { "--ai-bg": "transparent", "--ai-hover": `var(--mantine-color-${color}-light-hover)`, "--ai-color": `var(--mantine-color-${color}-light-color)`, "--ai-bd": BORDER } as React.CSSProperties;
    iconStyles.set(color, s);
  }
  return s;
}

/** `<ActionIcon variant="subtle">` with a label (aria-label) and a native tooltip (title). */
export function LightIconButton({ label, title, color = "blue", onClick, children }: { label: string; title?: string; color?: string; onClick: () => void; children: ReactNode }) {
  return (
    <button type="button" className={ICON_BUTTON} data-variant="subtle" style={iconStyle(color)} aria-label={label} title={title ?? label} onClick={onClick}>
      <span className={ActionIcon.classes.icon}>{children}</span>
    </button>
  );
}

const badgeStyles = new Map<string, React.CSSProperties>();
/** `<Badge variant="light" size={size}>` (sm by default). */
export function LightBadge({ color, children, mb, size = "sm" }: { color: string; children: ReactNode; mb?: number; size?: "sm" | "md" }) {
  const key = `${color}:${mb ?? 0}:${size}`;
  let style = badgeStyles.get(key);
  if (!style) {
    style = {
      "--badge-height": `var(--badge-height-${size})`, "--badge-padding-x": `var(--badge-padding-x-${size})`, "--badge-fz": `var(--badge-fz-${size})`,
      "--badge-bg": `var(--mantine-color-${color}-light)`, "--badge-color": `var(--mantine-color-${color}-light-color)`, "--badge-bd": BORDER,
      ...(mb ? { marginBottom: `calc(${mb / 16}rem * var(--mantine-scale))` } : {}),
    } as React.CSSProperties;
    badgeStyles.set(key, style);
  }
  return (
    <div className={Badge.classes.root} data-variant="light" data-size={size} style={style}>
      <span className={Badge.classes.label}>{children}</span>
    </div>
  );
}

/** A native checkbox in the theme's colour (Mantine's Checkbox is ~10 components). */
export function LightCheckbox({ label, checked, onChange }: { label: string; checked: boolean; onChange: () => void }) {
  return <input type="checkbox" aria-label={label} checked={checked} onChange={onChange} style={CHECKBOX} />;
}
const CHECKBOX = { width: 18, height: 18, margin: 0, accentColor: "var(--mantine-primary-color-filled)", cursor: "pointer", verticalAlign: "middle" } as const;
