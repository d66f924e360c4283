import { createTheme, DEFAULT_THEME, type CSSVariablesResolver } from "@mantine/core";

export const theme = createTheme({
  primaryColor: "indigo",
  // WCAG AA (4.5:1): links and primary buttons at indigo-8 (indigo-6 was 4.1:1 on the page's gray-0),
  // and filled badges/buttons take black or white text by the background's luminance, switching at
  // 0.18 (white text passes 4.5:1 below it, black text above it).
  primaryShade: { light: 8, dark: 8 },
  autoContrast: true,
  luminanceThreshold: 0.18,
  defaultRadius: "md",
  fontFamily: "Inter, 'DejaVu Sans', system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  headings: { fontWeight: "650" },
});

/**
 * Secondary ("dimmed") text carries key information (dates, e-mails, counts): Mantine's default,
 * gray-6 #868e96, is 3.3:1 on white; gray-7 #495057 is 8.2:1 on white and 7.8:1 on the page's
 * gray-0, above WCAG AA's 4.5:1 (checked by the browser tests' axe-core run).
 */
/** `hex` mixed with black: `amount` 0 keeps it, 1 is black. */
function darken(hex: string, amount: number): string {
  const n = parseInt(hex.slice(1), 16);
  const c = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => Math.round(v * (1 - amount)));
  return `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Text of "light" badges, alerts and buttons (a pale tint of the colour behind its shade-6 text) is
 * under 4.5:1 for orange, yellow, teal, lime…: it takes the colour's 9th shade darkened by 45 %,
 * above 7:1 on those tints for every colour of the palette.
 */
const lightTextColors = Object.fromEntries(
  Object.entries(DEFAULT_THEME.colors).map(([name, shades]) => [`--mantine-color-${name}-light-color`, darken(shades[9], 0.45)]),
);

export const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: { "--mantine-color-dimmed": "var(--mantine-color-gray-7)", "--mantine-color-placeholder": "var(--mantine-color-gray-7)", ...lightTextColors },
  dark: {},
});
