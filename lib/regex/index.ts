// Regular expressions written by users (routing rules, CTP anonymizer and pixel scripts) run on
// RE2 (the re2js port: pure JavaScript, no native build), never on V8's backtracking RegExp:
// matching takes time linear in the value's length whatever the pattern, so no pattern can block
// the event loop that also serves the portal, the DICOM listener and the workers (issue #17 §2).
//
// RE2's syntax is that of JavaScript/Perl without the features that need backtracking:
// no backreferences (\1, \k<name>), no lookahead or lookbehind ((?=…), (?!…), (?<=…), (?<!…)),
// no atomic groups or possessive quantifiers, repetition counts at most 1000. \d, \w, \s and \b
// are ASCII (as in JavaScript without the u flag, except that \s is [\t\n\f\r ]); \uXXXX is
// written \x{XXXX}. Patterns RE2 cannot compile are refused with a PatternError saying why.
import { RE2JS } from "re2js";

/** The flags a pattern may carry (as in JavaScript): i, m, s; u is accepted (RE2 is Unicode-aware). */
export const PATTERN_FLAGS = "imsu";

/** Largest compiled program accepted (RE2 instructions): bounds compile time and per-character cost. */
export const MAX_PROGRAM_SIZE = 20_000;
/** Longest pattern accepted. */
export const MAX_PATTERN_LENGTH = 4_000;

export class PatternError extends Error {
  override readonly name = "PatternError";
  constructor(
    /** A sentence saying what is wrong with the pattern and what to write instead. */
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** A compiled pattern. Stateless (no lastIndex), so one instance can be shared. */
export interface SafePattern {
  readonly source: string;
  readonly flags: string;
  /** Matches anywhere in the text (RegExp.prototype.test). */
  test(text: string): boolean;
  /** Matches the whole text (Java's String.matches, CTP's "matches"). */
  testWhole(text: string): boolean;
  /** Replaces every match; `$&`, `$1`… as in String.prototype.replace. */
  replaceAll(text: string, replacement: string): string;
}

/** The RE2 error in words a rule or script author can act on. */
function explain(message: string, pattern: string): string {
  const m = /^error parsing regexp: (.*?)(?:: `(.*)`)?$/s.exec(message);
  const what = m?.[1] ?? message;
  const at = m?.[2];
  if (/invalid escape sequence/.test(what) && at && /^\\[1-9k]/.test(at)) {
    return `backreferences such as ${at} are not supported (patterns run on RE2, which has no backreferences); match the text itself instead`;
  }
  if (at && /^\(\?[=!]/.test(at)) return `lookahead ${at}…) is not supported (patterns run on RE2, which has no lookaround); use a separate condition instead`;
  if (/invalid named capture/.test(what) && at && /^\(\?<[=!]/.test(at)) {
    return `lookbehind ${at.slice(0, 4)}…) is not supported (patterns run on RE2, which has no lookaround); use a separate condition instead`;
  }
  if (at && /^\(\?>/.test(at)) return "atomic groups (?>…) are not supported (patterns run on RE2); a plain group (?:…) matches the same text without the risk";
  if (/nested repetition/.test(what) && at && /[+*?]\+$/.test(at)) return `possessive quantifiers such as ${at} are not supported (patterns run on RE2); drop the last + (RE2 never backtracks)`;
  if (/invalid escape sequence/.test(what) && at === "\\u") return "\\uXXXX is not supported: write a Unicode character as \\x{XXXX}";
  if (/invalid repeat count/.test(what)) return `the repetition ${at ?? ""} is too large: counts are at most 1000, nested repetitions included`.replace("  ", " ");
  const detail = at && at !== pattern ? `${what} at \`${at}\`` : what;
  return `${detail} (the pattern runs on RE2; see the rules reference for its syntax)`;
}

function toRe2Flags(flags: string): number {
  let f = 0;
  for (const [i, c] of [...flags].entries()) {
    if (!PATTERN_FLAGS.includes(c) || flags.indexOf(c) !== i) throw new PatternError(`unknown or repeated flag "${c}": flags are i, m, s and u, each once`);
    if (c === "i") f |= RE2JS.CASE_INSENSITIVE;
    else if (c === "m") f |= RE2JS.MULTILINE;
    else if (c === "s") f |= RE2JS.DOTALL;
  }
  return f;
}

const cache = new Map<string, SafePattern | PatternError>();
const CACHE_SIZE = 500;

function compileUncached(source: string, flags: string): SafePattern {
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`the pattern is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH} are accepted`);
  const f = toRe2Flags(flags);
  let re: RE2JS;
  try {
    re = RE2JS.compile(source, f);
  } catch (e) {
    throw new PatternError(explain((e as Error).message, source));
  }
  if (re.programSize() > MAX_PROGRAM_SIZE) {
    throw new PatternError(`the pattern is too complex (${re.programSize()} RE2 instructions, at most ${MAX_PROGRAM_SIZE}); use smaller repetition counts or fewer alternatives`);
  }
  return {
    source,
    flags,
    test: (text) => re.test(text),
    testWhole: (text) => re.testExact(text),
    replaceAll: (text, replacement) => re.matcher(text).replaceAll(replacement),
  };
}

/** Compiles a pattern for RE2; throws PatternError with the reason when RE2 cannot run it. */
export function compilePattern(source: string, flags = ""): SafePattern {
  const key = `${flags}/${source}`;
  const hit = cache.get(key);
  if (hit instanceof PatternError) throw hit;
  if (hit) return hit;
  let out: SafePattern | PatternError;
  try {
    out = compileUncached(source, flags);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    out = e;
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  if (out instanceof PatternError) throw out;
  return out;
}

/** null when RE2 can run the pattern, else the reason. */
export function checkPattern(source: string, flags = ""): string | null {
  try {
    compilePattern(source, flags);
    return null;
  } catch (e) {
    if (e instanceof PatternError) return e.reason;
    throw e;
  }
}
