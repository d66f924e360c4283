// A CTP script that cannot be read is refused with the line and the reason (issue #17 §0): text
// that is not a script, a broken end tag, an unknown or unsupported function, unbalanced
// parentheses, or a script with no rule. None of these may silently de-identify nothing.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { CtpScriptError, parseCtpScript } from "@/lib/dicom/ctp/script";

function refusal(text: string): CtpScriptError {
  try {
    parseCtpScript(text);
  } catch (e) {
    expect(e).toBeInstanceOf(CtpScriptError);
    return e as CtpScriptError;
  }
  throw new Error("the script was accepted");
}

describe("CTP script validation", () => {
  it("refuses text that is not a script (line 1)", () => {
    const e = refusal("this is not a script");
    expect(e.line).toBe(1);
    expect(e.message).toMatch(/^line 1: /);
    expect(e.reason).toMatch(/not a script line/);
  });

  it("refuses properties with a line that is not param./set./keep./remove.", () => {
    const e = refusal("# comment\nset.[0010,0010]PatientName=@empty()\nsetx PatientID\n");
    expect(e.line).toBe(3);
  });

  it("refuses a broken end tag, with its line", () => {
    const e = refusal('<script>\n  <e en="T" t="00100010" n="PatientName">@empty()</e\n  <e en="T" t="00100020" n="PatientID">@empty()</e>\n</script>');
    expect(e.line).toBe(2);
    expect(e.reason).toMatch(/end tag|<\/e>/);
  });

  it("refuses a missing </script>", () => {
    expect(refusal('<script>\n<e t="00100010">@empty()</e>\n').reason).toMatch(/<\/script>/);
  });

  it("refuses text between elements", () => {
    const e = refusal('<script>\n<e t="00100010">@empty()</e>\nstray words\n</script>');
    expect(e.line).toBe(3);
  });

  it("refuses an unknown function like @hashh(), naming it and the line", () => {
    const e = refusal('<script>\n<e t="00100010" n="PatientName">@empty()</e>\n<e t="00100020" n="PatientID">@hashh(this,8)</e>\n</script>');
    expect(e.line).toBe(3);
    expect(e.reason).toMatch(/@hashh\(\)/);
    expect(e.reason).toMatch(/unknown function/);
  });

  it("refuses unknown functions inside @if clauses and in properties scripts", () => {
    expect(refusal('<script><e t="00100010">@if(this,exists){@nope()}{@empty()}</e></script>').reason).toMatch(/@nope\(\)/);
    expect(refusal("set.[0010,0010]PatientName=@hashh(this)").line).toBe(1);
  });

  it("refuses functions Atrium does not provide (@call, @encrypt)", () => {
    expect(refusal('<script><e t="00100010">@encrypt(this,"k")</e></script>').reason).toMatch(/not supported/);
  });

  it("refuses unbalanced parentheses and a missing @if clause", () => {
    expect(refusal('<script><e t="00100010">@hash(this,8</e></script>').reason).toMatch(/\)/);
    expect(refusal('<script><e t="00100010">@if(this,exists){@empty()}</e></script>').reason).toMatch(/clause/);
  });

  it("refuses a script with no rule", () => {
    expect(refusal("<script>\n</script>").reason).toMatch(/no rule/);
    expect(refusal("# only a comment\n").reason).toMatch(/no rule/);
    expect(refusal('<script><p t="UIDROOT">1.2.3</p></script>').reason).toMatch(/no rule/);
  });

  it("refuses an element rule without an element, with the line", () => {
    expect(refusal('<script>\n\n<e n="Nothing">@empty()</e></script>').line).toBe(3);
  });

  it("accepts the shipped CTP default-style script and a properties script", () => {
    const xml = readFileSync(new URL("./ctp-default-style.xml", import.meta.url), "utf8");
    expect(parseCtpScript(xml).rules.length).toBeGreaterThan(10);
    expect(parseCtpScript("param.SITE=S1\nset.[0010,0010]PatientName=@hashname(this,6)\n#set.[0010,0020]PatientID=@keep()\nremove.privategroups\n").rules).toHaveLength(1);
    // A literal @ in text is written escaped; parameters inside arguments are not calls.
    expect(parseCtpScript('<script><e t="00100020">@hashptid(@SITE,this)</e><e t="00081030">study \\@ site</e></script>').rules).toHaveLength(2);
  });
});
