// The routing rules language: CTP DicomFilter-like boolean expressions over an instance's header.
//
//   Modality == "MR" && StudyDescription ~ /brain/i
//   (0008,0060) != "SR" && !(SeriesDescription contains "scout")
//   [0018,0087] >= 3 || Manufacturer startsWith "SIEMENS"
//
// Grammar (whitespace is free between tokens):
//   expr       := or
//   or         := and ( "||" and )*
//   and        := unary ( "&&" unary )*
//   unary      := "!" unary | "(" expr ")" | comparison
//   comparison := operand ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) operand
//               | operand ( "contains" | "startsWith" | "endsWith" ) operand
//               | operand ( "~" | "!~" ) regex
//   operand    := attribute | "string" | 'string' | number
//   attribute  := DICOM keyword (e.g. StudyDescription, case-insensitive)
//               | [gggg,eeee] | [ggggeeee] | (gggg,eeee)
//   regex      := /pattern/flags   (flags from i, m, s, u; matched by RE2, see lib/regex)
//
// Values are the attribute's text as stored (multiple values joined by a backslash, trailing
// padding removed); a missing attribute is the empty string. ==, != and the orderings compare as
// numbers when both sides are numbers, otherwise as text (case-sensitive; use ~ /…/i for
// case-insensitive matching). contains/startsWith/endsWith are case-sensitive text tests.
// Pure: no I/O, no framework. Parse errors name the position and what was expected.
import { formatTag, lookupKeyword, lookupTag } from "@/lib/dicom/dictionary";
import { compilePattern, PatternError, type SafePattern } from "@/lib/regex";

export class RuleSyntaxError extends Error {
  /** 0-based offset in the expression, and 1-based column (the same place, for people). */
  readonly position: number;
  readonly column: number;
  readonly expected: string;
  constructor(position: number, expected: string, found: string) {
    super(`At column ${position + 1}: expected ${expected}, found ${found}.`);
    this.name = "RuleSyntaxError";
    this.position = position;
    this.column = position + 1;
    this.expected = expected;
  }
}

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "startsWith" | "endsWith";

export type Operand =
  | { kind: "attr"; tag: number; name: string; pos: number }
  | { kind: "string"; value: string; pos: number }
  | { kind: "number"; value: number; text: string; pos: number };

export type RuleNode =
  | { kind: "or" | "and"; left: RuleNode; right: RuleNode }
  | { kind: "not"; operand: RuleNode }
  | { kind: "compare"; op: CompareOp; left: Operand; right: Operand }
  | { kind: "regex"; negate: boolean; left: Operand; regex: SafePattern };

type Token =
  | { t: "op"; v: string; pos: number }
  | { t: "word"; v: string; pos: number }
  | { t: "tag"; tag: number; v: string; pos: number }
  | { t: "string"; v: string; raw: string; pos: number }
  | { t: "number"; v: number; raw: string; pos: number }
  | { t: "regex"; v: SafePattern; raw: string; pos: number }
  | { t: "end"; pos: number };

const MAX_LENGTH = 4_000;
const MAX_DEPTH = 64;
const WORD_OPS = new Set(["contains", "startsWith", "endsWith"]);
const COMPARE_OPS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const OPERATOR_LIST = "an operator (==, !=, <, <=, >, >=, ~, !~, contains, startsWith, endsWith)";
const VALUE_LIST = 'a value (an attribute such as Modality or (0008,0060), a "string" or a number)';

function describe(tok: Token): string {
  switch (tok.t) {
    case "end":
      return "the end of the expression";
    case "string":
      return `the string ${tok.raw}`;
    case "number":
      return `the number ${tok.raw}`;
    case "regex":
      return `the regular expression ${tok.raw}`;
    case "tag":
      return `the tag ${tok.v}`;
    default:
      return `"${tok.v}"`;
  }
}

const TAG_PAREN = /^\(\s*([0-9a-fA-F]{4})\s*,\s*([0-9a-fA-F]{4})\s*\)/;
const TAG_BRACKET = /^\[\s*([0-9a-fA-F]{4})\s*,?\s*([0-9a-fA-F]{4})\s*\]/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/;
const WORD = /^[A-Za-z_][A-Za-z0-9_]*/;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const prev = () => out[out.length - 1];
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    // A regular expression literal may follow only ~ and !~ (so "/" is never ambiguous).
    const p = prev();
    if (p?.t === "op" && (p.v === "~" || p.v === "!~")) {
      if (c !== "/") throw new RuleSyntaxError(i, `a regular expression such as /brain/i after "${p.v}"`, `"${c}"`);
      let j = i + 1;
      let body = "";
      let inClass = false;
      for (; j < src.length; j++) {
        const ch = src[j]!;
        if (ch === "\\" && j + 1 < src.length) {
          body += ch + src[j + 1];
          j++;
          continue;
        }
        if (ch === "[") inClass = true;
        else if (ch === "]") inClass = false;
        else if (ch === "/" && !inClass) break;
        body += ch;
      }
      if (j >= src.length) throw new RuleSyntaxError(src.length, `a closing "/" for the regular expression that starts at column ${i + 1}`, "the end of the expression");
      let k = j + 1;
      while (k < src.length && /[A-Za-z]/.test(src[k]!)) k++;
      const flags = src.slice(j + 1, k);
      const bad = [...flags].find((f, n) => !"imsu".includes(f) || flags.indexOf(f) !== n);
      if (bad !== undefined) throw new RuleSyntaxError(j + 1 + flags.indexOf(bad), "regular expression flags from i, m, s and u (each once)", `"${bad}"`);
      if (!body) throw new RuleSyntaxError(i, "a non-empty regular expression", '"//"');
      // RE2 (linear time): a pattern can never block the event loop (issue #17 §2).
      let re: SafePattern;
      try {
        re = compilePattern(body, flags);
      } catch (e) {
        if (!(e instanceof PatternError)) throw e;
        throw new RuleSyntaxError(i, "a valid regular expression (RE2 syntax)", `${src.slice(i, k)}: ${e.reason}`);
      }
      out.push({ t: "regex", v: re, raw: src.slice(i, k), pos: i });
      i = k;
      continue;
    }
    let m: RegExpExecArray | null;
    if (c === "(" && (m = TAG_PAREN.exec(rest))) {
      const tag = ((parseInt(m[1]!, 16) << 16) | parseInt(m[2]!, 16)) >>> 0;
      out.push({ t: "tag", tag, v: formatTag(tag), pos: i });
      i += m[0].length;
      continue;
    }
    if (c === "[") {
      m = TAG_BRACKET.exec(rest);
      if (!m) throw new RuleSyntaxError(i, "a tag written as [gggg,eeee] (hexadecimal group and element)", `"${rest.slice(0, 12)}"`);
      const tag = ((parseInt(m[1]!, 16) << 16) | parseInt(m[2]!, 16)) >>> 0;
      out.push({ t: "tag", tag, v: formatTag(tag), pos: i });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let v = "";
      for (; j < src.length && src[j] !== c; j++) {
        if (src[j] === "\\" && j + 1 < src.length) {
          const n = src[++j]!;
          v += n === "n" ? "\n" : n === "t" ? "\t" : n;
        } else v += src[j];
      }
      if (j >= src.length) throw new RuleSyntaxError(src.length, `a closing ${c} for the string that starts at column ${i + 1}`, "the end of the expression");
      out.push({ t: "string", v, raw: src.slice(i, j + 1), pos: i });
      i = j + 1;
      continue;
    }
    if ((m = NUMBER.exec(rest)) && !(/[+-]/.test(c) && !/[\d.]/.test(rest[1] ?? ""))) {
      out.push({ t: "number", v: Number(m[0]), raw: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    if ((m = WORD.exec(rest))) {
      out.push({ t: "word", v: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    const two = rest.slice(0, 2);
    if (["&&", "||", "==", "!=", "<=", ">=", "!~"].includes(two)) {
      out.push({ t: "op", v: two, pos: i });
      i += 2;
      continue;
    }
    if ("!()<>~".includes(c)) {
      out.push({ t: "op", v: c, pos: i });
      i++;
      continue;
    }
    if (c === "=") throw new RuleSyntaxError(i, '"==" (a single "=" is not an operator)', '"="');
    if (c === "&" || c === "|") throw new RuleSyntaxError(i, `"${c}${c}"`, `a single "${c}"`);
    throw new RuleSyntaxError(i, `${VALUE_LIST} or ${OPERATOR_LIST}`, `"${c}"`);
  }
  out.push({ t: "end", pos: src.length });
  return out;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t.t === "op" && t.v === v;
  }

  parse(): RuleNode {
    const first = this.peek();
    if (first.t === "end") throw new RuleSyntaxError(0, "a condition such as Modality == \"MR\"", "an empty expression");
    const node = this.or();
    const t = this.peek();
    if (t.t !== "end") {
      throw new RuleSyntaxError(t.pos, t.t === "op" && t.v === ")" ? 'the end of the expression (this ")" has no matching "(")' : '"&&", "||" or the end of the expression', describe(t));
    }
    return node;
  }

  private or(): RuleNode {
    let left = this.and();
    while (this.isOp("||")) {
      this.next();
      left = { kind: "or", left, right: this.and() };
    }
    return left;
  }

  private and(): RuleNode {
    let left = this.unary();
    while (this.isOp("&&")) {
      this.next();
      left = { kind: "and", left, right: this.unary() };
    }
    return left;
  }

  private unary(): RuleNode {
    if (++this.depth > MAX_DEPTH) throw new RuleSyntaxError(this.peek().pos, `at most ${MAX_DEPTH} levels of nesting`, "deeper nesting");
    try {
      if (this.isOp("!")) {
        this.next();
        return { kind: "not", operand: this.unary() };
      }
      if (this.isOp("(")) {
        const open = this.next();
        const inner = this.or();
        const close = this.peek();
        if (!(close.t === "op" && close.v === ")")) {
          throw new RuleSyntaxError(close.pos, `")" to close the "(" at column ${open.pos + 1} (or "&&", "||")`, describe(close));
        }
        this.next();
        return inner;
      }
      return this.comparison();
    } finally {
      this.depth--;
    }
  }

  private operand(after: string | null): Operand {
    const t = this.next();
    if (t.t === "tag") return { kind: "attr", tag: t.tag, name: lookupTag(t.tag)?.keyword ?? t.v, pos: t.pos };
    if (t.t === "string") return { kind: "string", value: t.v, pos: t.pos };
    if (t.t === "number") return { kind: "number", value: t.v, text: t.raw, pos: t.pos };
    if (t.t === "word" && !WORD_OPS.has(t.v)) {
      const entry = lookupKeyword(t.v);
      if (!entry) {
        throw new RuleSyntaxError(t.pos, `a DICOM keyword (e.g. StudyDescription) or a tag such as (0008,1030)`, `"${t.v}", which is not a DICOM keyword`);
      }
      return { kind: "attr", tag: entry.tag, name: entry.keyword, pos: t.pos };
    }
    throw new RuleSyntaxError(t.pos, after ? `${VALUE_LIST} after "${after}"` : VALUE_LIST, describe(t));
  }

  private comparison(): RuleNode {
    const left = this.operand(null);
    const t = this.next();
    if (t.t === "op" && (t.v === "~" || t.v === "!~")) {
      const r = this.next();
      // The tokenizer guarantees a regex here.
      if (r.t !== "regex") throw new RuleSyntaxError(r.pos, `a regular expression such as /brain/i after "${t.v}"`, describe(r));
      return { kind: "regex", negate: t.v === "!~", left, regex: r.v };
    }
    if ((t.t === "op" && COMPARE_OPS.has(t.v)) || (t.t === "word" && WORD_OPS.has(t.v))) {
      const op = t.v as CompareOp;
      return { kind: "compare", op, left, right: this.operand(op) };
    }
    if (t.t === "word" && ["contains", "contain", "startswith", "endswith", "startwith", "endwith"].includes(t.v.toLowerCase())) {
      throw new RuleSyntaxError(t.pos, `${OPERATOR_LIST} (operator names are case-sensitive)`, describe(t));
    }
    const name = left.kind === "attr" ? left.name : left.kind === "string" ? `"${left.value}"` : left.text;
    throw new RuleSyntaxError(t.pos, `${OPERATOR_LIST} after ${name}`, describe(t));
  }
}

/** Parses an expression; throws RuleSyntaxError (with the position and what was expected). */
export function parseRule(expression: string): RuleNode {
  if (expression.length > MAX_LENGTH) throw new RuleSyntaxError(MAX_LENGTH, `an expression of at most ${MAX_LENGTH} characters`, `${expression.length} characters`);
  return new Parser(tokenize(expression)).parse();
}

// ---- evaluation ------------------------------------------------------------------------------

/** The header values a rule may ask for: the attribute's text, or undefined when absent. */
export type HeaderLookup = (tag: number) => string | undefined;

export interface UsedAttribute {
  tag: string;
  keyword: string;
  /** The value the rule saw ("" when the attribute is absent). */
  value: string;
  present: boolean;
}

function asNumber(s: string): number | undefined {
  const t = s.trim();
  if (!t || !NUMBER.test(t) || NUMBER.exec(t)![0].length !== t.length) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

export class CompiledRule {
  readonly ast: RuleNode;
  constructor(readonly expression: string) {
    this.ast = parseRule(expression);
  }

  /** The attributes the expression reads, in the order they appear, once each. */
  attributes(): { tag: number; keyword: string }[] {
    const seen = new Map<number, string>();
    const visitOperand = (o: Operand) => {
      if (o.kind === "attr" && !seen.has(o.tag)) seen.set(o.tag, o.name);
    };
    const visit = (n: RuleNode): void => {
      if (n.kind === "or" || n.kind === "and") {
        visit(n.left);
        visit(n.right);
      } else if (n.kind === "not") visit(n.operand);
      else if (n.kind === "compare") {
        visitOperand(n.left);
        visitOperand(n.right);
      } else if (n.kind === "regex") visitOperand(n.left);
    };
    visit(this.ast);
    return [...seen].map(([tag, keyword]) => ({ tag, keyword }));
  }

  matches(header: HeaderLookup): boolean {
    const value = (o: Operand): string => (o.kind === "attr" ? (header(o.tag) ?? "") : o.kind === "string" ? o.value : o.text);
    const evalNode = (n: RuleNode): boolean => {
      switch (n.kind) {
        case "or":
          return evalNode(n.left) || evalNode(n.right);
        case "and":
          return evalNode(n.left) && evalNode(n.right);
        case "not":
          return !evalNode(n.operand);
        case "regex": {
          const hit = n.regex.test(value(n.left));
          return n.negate ? !hit : hit;
        }
        case "compare": {
          const a = value(n.left);
          const b = value(n.right);
          if (n.op === "contains") return a.includes(b);
          if (n.op === "startsWith") return a.startsWith(b);
          if (n.op === "endsWith") return a.endsWith(b);
          const na = asNumber(a);
          const nb = asNumber(b);
          const numeric = na !== undefined && nb !== undefined;
          const cmp = numeric ? Math.sign(na - nb) : a < b ? -1 : a > b ? 1 : 0;
          switch (n.op) {
            case "==":
              return cmp === 0;
            case "!=":
              return cmp !== 0;
            case "<":
              return cmp < 0;
            case "<=":
              return cmp <= 0;
            case ">":
              return cmp > 0;
            case ">=":
              return cmp >= 0;
          }
        }
      }
    };
    return evalNode(this.ast);
  }

  /** Evaluates and reports the values the expression used (for the owner's "test this rule"). */
  explain(header: HeaderLookup): { matched: boolean; used: UsedAttribute[] } {
    const used = this.attributes().map(({ tag, keyword }) => {
      const v = header(tag);
      return { tag: formatTag(tag), keyword, value: v ?? "", present: v !== undefined };
    });
    return { matched: this.matches(header), used };
  }
}

export function compileRule(expression: string): CompiledRule {
  return new CompiledRule(expression);
}

/** Checks an expression: null when it parses, else the error (message, 1-based column, expected). */
export function checkRule(expression: string): { message: string; column: number; position: number; expected: string } | null {
  try {
    parseRule(expression);
    return null;
  } catch (e) {
    if (e instanceof RuleSyntaxError) return { message: e.message, column: e.column, position: e.position, expected: e.expected };
    throw e;
  }
}
