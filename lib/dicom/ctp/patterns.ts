// The regular expressions a CTP script carries (@contents(elem,"regex",…), @if(elem,matches,"regex"),
// @lookup(…,ignore,"regex")), checked when the script is saved or given to the CLI: each must
// compile on RE2, the linear-time engine the script engine runs them on (issue #17 §2).
import { formatTag } from "../dictionary";
import { checkPattern } from "../../regex";
import { tokenize, type Call } from "./engine";
import type { CtpScript } from "./script";

function unquote(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** The patterns of one rule's script, clauses included, with the function that uses each. */
export function rulePatterns(script: string, depth = 0): { fn: string; pattern: string }[] {
  if (depth > 32) return [];
  const out: { fn: string; pattern: string }[] = [];
  for (const t of tokenize(script)) {
    if (typeof t === "string") continue;
    const c: Call = t;
    const name = c.name.toLowerCase();
    if (name === "contents" && c.args.length >= 2) out.push({ fn: "@contents", pattern: unquote(c.args[1]!) });
    if (name === "if" && unquote(c.args[1] ?? "").toLowerCase() === "matches") out.push({ fn: "@if(…, matches, …)", pattern: unquote(c.args[2] ?? "") });
    if (name === "lookup" && unquote(c.args[2] ?? "").toLowerCase() === "ignore") out.push({ fn: "@lookup(…, ignore, …)", pattern: unquote(c.args[3] ?? "") });
    for (const clause of c.clauses) out.push(...rulePatterns(clause, depth + 1));
  }
  return out;
}

/** One sentence per regular expression of the script that RE2 cannot run (empty: all fine). */
export function ctpScriptPatternProblems(script: CtpScript): string[] {
  const problems: string[] = [];
  for (const r of script.rules) {
    const where = r.privateRef
      ? `${r.name || "private element"} (${r.privateRef.group.toString(16).padStart(4, "0")}[${r.privateRef.creator}]${r.privateRef.element.toString(16).padStart(2, "0")})`
      : `${r.name || formatTag(r.tag)} ${formatTag(r.tag)}`;
    for (const p of rulePatterns(r.script)) {
      const reason = checkPattern(p.pattern);
      if (reason) problems.push(`the rule for ${where} uses ${p.fn} with the regular expression "${p.pattern}", which RE2 cannot run: ${reason}`);
    }
  }
  return problems;
}
