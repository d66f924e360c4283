// A safe parser and evaluator for workflow transition/callback conditions (issue #16).
// Study Governor evaluates Python expressions with eval; Atrium accepts the subset those files
// use — literals, names, attribute access, indexing, comparisons (==, !=, <, <=, >, >=, in,
// not in, is, is not), and/or/not, parentheses — and never evaluates code. Python spellings
// (True/False/None, and/or/not) and JS spellings (true/false/null, &&/||/!) are both accepted.

export class ConditionSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = "ConditionSyntaxError";
  }
}

export class ConditionEvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConditionEvalError";
  }
}

export type Expr =
  | { kind: "lit"; value: unknown }
  | { kind: "name"; name: string }
  | { kind: "attr"; object: Expr; name: string }
  | { kind: "index"; object: Expr; index: Expr }
  | { kind: "list"; items: Expr[] }
  | { kind: "not"; operand: Expr }
  | { kind: "neg"; operand: Expr }
  | { kind: "bool"; op: "and" | "or"; left: Expr; right: Expr }
  | { kind: "cmp"; op: CmpOp; left: Expr; right: Expr };

type CmpOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in" | "is" | "is not";

type Tok =
  | { t: "num"; v: number; p: number }
  | { t: "str"; v: string; p: number }
  | { t: "id"; v: string; p: number }
  | { t: "op"; v: string; p: number }
  | { t: "end"; p: number };

const OPS = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", ",", "-"];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
      out.push({ t: "num", v: Number(m[0]), p: i });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = "";
      while (j < src.length && src[j] !== c) {
        if (src[j] === "\\" && j + 1 < src.length) {
          const n = src[j + 1]!;
          s += n === "n" ? "\n" : n === "t" ? "\t" : n;
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new ConditionSyntaxError(`unterminated string starting at column ${i + 1}`, i);
      out.push({ t: "str", v: s, p: i });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ t: "id", v: m[0], p: i });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ConditionSyntaxError(`unexpected character '${c}' at column ${i + 1}`, i);
    out.push({ t: "op", v: op, p: i });
    i += op.length;
  }
  out.push({ t: "end", p: src.length });
  return out;
}

const MAX_LENGTH = 2000;
const MAX_DEPTH = 50;

/** Parses a condition; throws ConditionSyntaxError with the column of the problem. */
export function parseCondition(src: string): Expr {
  if (src.length > MAX_LENGTH) throw new ConditionSyntaxError(`condition longer than ${MAX_LENGTH} characters`, 0);
  const toks = tokenize(src);
  let k = 0;
  let depth = 0;
  const peek = () => toks[k]!;
  const isOp = (v: string) => {
    const t = peek();
    return t.t === "op" && t.v === v;
  };
  const isKw = (v: string) => {
    const t = peek();
    return t.t === "id" && t.v === v;
  };
  const expect = (v: string) => {
    if (!isOp(v)) throw new ConditionSyntaxError(`expected '${v}' at column ${peek().p + 1}`, peek().p);
    k++;
  };
  const enter = () => {
    if (++depth > MAX_DEPTH) throw new ConditionSyntaxError("condition nested too deeply", peek().p);
  };

  function or(): Expr {
    let left = and();
    while (isKw("or") || isOp("||")) {
      k++;
      left = { kind: "bool", op: "or", left, right: and() };
    }
    return left;
  }
  function and(): Expr {
    let left = not();
    while (isKw("and") || isOp("&&")) {
      k++;
      left = { kind: "bool", op: "and", left, right: not() };
    }
    return left;
  }
  function not(): Expr {
    if (isKw("not") || isOp("!")) {
      k++;
      enter();
      const operand = not();
      depth--;
      return { kind: "not", operand };
    }
    return cmp();
  }
  function cmpOp(): CmpOp | null {
    const t = peek();
    if (t.t === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(t.v)) {
      k++;
      return t.v as CmpOp;
    }
    if (isKw("in")) {
      k++;
      return "in";
    }
    if (isKw("not") && toks[k + 1]?.t === "id" && (toks[k + 1] as { v: string }).v === "in") {
      k += 2;
      return "not in";
    }
    if (isKw("is")) {
      k++;
      if (isKw("not")) {
        k++;
        return "is not";
      }
      return "is";
    }
    return null;
  }
  function cmp(): Expr {
    let left = unary();
    for (let op = cmpOp(); op; op = cmpOp()) left = { kind: "cmp", op, left, right: unary() };
    return left;
  }
  function unary(): Expr {
    if (isOp("-")) {
      k++;
      enter();
      const operand = unary();
      depth--;
      return { kind: "neg", operand };
    }
    return postfix();
  }
  function postfix(): Expr {
    let e = primary();
    for (;;) {
      if (isOp(".")) {
        k++;
        const t = peek();
        if (t.t !== "id") throw new ConditionSyntaxError(`expected a name after '.' at column ${t.p + 1}`, t.p);
        k++;
        e = { kind: "attr", object: e, name: t.v };
      } else if (isOp("[")) {
        k++;
        enter();
        const index = or();
        depth--;
        expect("]");
        e = { kind: "index", object: e, index };
      } else if (isOp("(")) {
        throw new ConditionSyntaxError(`function calls are not allowed in conditions (column ${peek().p + 1})`, peek().p);
      } else return e;
    }
  }
  function primary(): Expr {
    const t = peek();
    if (t.t === "num") {
      k++;
      return { kind: "lit", value: t.v };
    }
    if (t.t === "str") {
      k++;
      return { kind: "lit", value: t.v };
    }
    if (t.t === "id") {
      const lits: Record<string, unknown> = { True: true, true: true, False: false, false: false, None: null, null: null };
      if (["and", "or", "not", "in", "is"].includes(t.v))
        throw new ConditionSyntaxError(`unexpected '${t.v}' at column ${t.p + 1}`, t.p);
      k++;
      if (t.v in lits) return { kind: "lit", value: lits[t.v] };
      return { kind: "name", name: t.v };
    }
    if (isOp("(")) {
      k++;
      enter();
      const e = or();
      depth--;
      expect(")");
      return e;
    }
    if (isOp("[")) {
      k++;
      const items: Expr[] = [];
      while (!isOp("]")) {
        enter();
        items.push(or());
        depth--;
        if (!isOp("]")) expect(",");
      }
      k++;
      return { kind: "list", items };
    }
    if (t.t === "end") throw new ConditionSyntaxError("condition ends too early", t.p);
    throw new ConditionSyntaxError(`unexpected '${t.v}' at column ${t.p + 1}`, t.p);
  }

  const e = or();
  if (peek().t !== "end") throw new ConditionSyntaxError(`unexpected text at column ${peek().p + 1}`, peek().p);
  return e;
}

const FORBIDDEN = new Set(["__proto__", "prototype", "constructor"]);

function member(obj: unknown, key: unknown): unknown {
  if (obj === null || obj === undefined) throw new ConditionEvalError(`cannot read '${String(key)}' of ${obj === null ? "None" : "undefined"}`);
  if (Array.isArray(obj) || typeof obj === "string") {
    if (typeof key === "number") {
      const i = key < 0 ? obj.length + key : key;
      return obj[i];
    }
    if (key === "length") return obj.length;
    throw new ConditionEvalError(`cannot index a list with '${String(key)}'`);
  }
  if (obj instanceof Map) return obj.get(key);
  if (typeof obj !== "object") throw new ConditionEvalError(`cannot read '${String(key)}' of a ${typeof obj}`);
  const k = String(key);
  if (FORBIDDEN.has(k)) throw new ConditionEvalError(`'${k}' is not readable in conditions`);
  return Object.prototype.hasOwnProperty.call(obj, k) ? (obj as Record<string, unknown>)[k] : undefined;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

function order(a: unknown, b: unknown, op: string): boolean {
  if (a instanceof Date) a = a.getTime();
  if (b instanceof Date) b = b.getTime();
  if (!((typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string")))
    throw new ConditionEvalError(`cannot compare ${typeof a} with ${typeof b} using ${op}`);
  return op === "<" ? a < b : op === "<=" ? a <= b : op === ">" ? a > b : a >= b;
}

function contains(container: unknown, item: unknown): boolean {
  if (Array.isArray(container)) return container.some((x) => equal(x, item));
  if (typeof container === "string") return typeof item === "string" && container.includes(item);
  if (container && typeof container === "object") return Object.prototype.hasOwnProperty.call(container, String(item));
  throw new ConditionEvalError(`'in' needs a list, text or mapping on its right`);
}

/** Python truthiness. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object" && !(v instanceof Date)) return Object.keys(v).length > 0;
  return true;
}

export function evaluate(e: Expr, scope: Record<string, unknown>): unknown {
  switch (e.kind) {
    case "lit":
      return e.value;
    case "name":
      if (!Object.prototype.hasOwnProperty.call(scope, e.name)) throw new ConditionEvalError(`unknown name '${e.name}'`);
      return scope[e.name];
    case "attr":
      return member(evaluate(e.object, scope), e.name);
    case "index":
      return member(evaluate(e.object, scope), evaluate(e.index, scope));
    case "list":
      return e.items.map((x) => evaluate(x, scope));
    case "not":
      return !truthy(evaluate(e.operand, scope));
    case "neg": {
      const v = evaluate(e.operand, scope);
      if (typeof v !== "number") throw new ConditionEvalError("'-' needs a number");
      return -v;
    }
    case "bool": {
      const l = evaluate(e.left, scope);
      if (e.op === "and") return truthy(l) ? evaluate(e.right, scope) : l;
      return truthy(l) ? l : evaluate(e.right, scope);
    }
    case "cmp": {
      const l = evaluate(e.left, scope);
      const r = evaluate(e.right, scope);
      switch (e.op) {
        case "==":
        case "is":
          return equal(l, r);
        case "!=":
        case "is not":
          return !equal(l, r);
        case "in":
          return contains(r, l);
        case "not in":
          return !contains(r, l);
        default:
          return order(l, r, e.op);
      }
    }
  }
}

/** Parses and evaluates; an empty condition is true. */
export function evaluateCondition(src: string | null | undefined, scope: Record<string, unknown>): boolean {
  if (!src || !src.trim()) return true;
  return truthy(evaluate(parseCondition(src), scope));
}
