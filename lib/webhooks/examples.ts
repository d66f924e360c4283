// Ready-to-paste senders for a webhook source, shown once when the source is created (or its
// secret rotated): a shell `curl` with the signature computed by openssl, and an Orthanc Lua
// script whose OnStableStudy posts the signed webhook. Orthanc embeds Lua 5.3 (native 64-bit
// integers and bit operators) and offers no HMAC, so the script carries a pure-Lua SHA-256.
import type { WebhookNodeKind } from "./schema";

/** Pure Lua 5.3 SHA-256 and HMAC-SHA256 (hex), used by the Orthanc script below. */
export const LUA_HMAC_SHA256 = `-- SHA-256 and HMAC-SHA256 in pure Lua 5.3 (Orthanc has no HMAC of its own).
local ATRIUM_K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function atrium_rotr(x, n)
  return ((x >> n) | (x << (32 - n))) & 0xffffffff
end

function atrium_sha256(msg)
  local H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local ml = #msg
  msg = msg .. "\\128" .. string.rep("\\0", (55 - ml) % 64) .. string.pack(">I8", ml * 8)
  local w = {}
  for i = 1, #msg, 64 do
    for j = 1, 16 do
      w[j] = string.unpack(">I4", msg, i + (j - 1) * 4)
    end
    for j = 17, 64 do
      local x, y = w[j - 15], w[j - 2]
      local s0 = atrium_rotr(x, 7) ~ atrium_rotr(x, 18) ~ (x >> 3)
      local s1 = atrium_rotr(y, 17) ~ atrium_rotr(y, 19) ~ (y >> 10)
      w[j] = (w[j - 16] + s0 + w[j - 7] + s1) & 0xffffffff
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for j = 1, 64 do
      local S1 = atrium_rotr(e, 6) ~ atrium_rotr(e, 11) ~ atrium_rotr(e, 25)
      local ch = (e & f) ~ ((~e) & g)
      local t1 = (h + S1 + ch + ATRIUM_K[j] + w[j]) & 0xffffffff
      local S0 = atrium_rotr(a, 2) ~ atrium_rotr(a, 13) ~ atrium_rotr(a, 22)
      local maj = (a & b) ~ (a & c) ~ (b & c)
      local t2 = (S0 + maj) & 0xffffffff
      h, g, f, e, d, c, b, a = g, f, e, (d + t1) & 0xffffffff, c, b, a, (t1 + t2) & 0xffffffff
    end
    H[1] = (H[1] + a) & 0xffffffff
    H[2] = (H[2] + b) & 0xffffffff
    H[3] = (H[3] + c) & 0xffffffff
    H[4] = (H[4] + d) & 0xffffffff
    H[5] = (H[5] + e) & 0xffffffff
    H[6] = (H[6] + f) & 0xffffffff
    H[7] = (H[7] + g) & 0xffffffff
    H[8] = (H[8] + h) & 0xffffffff
  end
  return string.pack(">I4I4I4I4I4I4I4I4", H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8])
end

function atrium_hmac_sha256_hex(key, msg)
  if #key > 64 then key = atrium_sha256(key) end
  key = key .. string.rep("\\0", 64 - #key)
  local ipad = key:gsub(".", function(ch) return string.char(ch:byte() ~ 0x36) end)
  local opad = key:gsub(".", function(ch) return string.char(ch:byte() ~ 0x5c) end)
  local mac = atrium_sha256(opad .. atrium_sha256(ipad .. msg))
  return (mac:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
end
`;

const luaString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
const shellQuote = (s: string) => `'${s.replace(/'/g, `'"'"'`)}'`;

export interface ExampleInput {
  /** The full webhook URL, e.g. https://atrium.example.org/api/webhooks/<id>. */
  url: string;
  secret: string;
  nodeKind: WebhookNodeKind;
}

/** A shell command that signs and posts one webhook (needs curl and openssl). */
export function curlExample({ url, secret, nodeKind }: ExampleInput): string {
  const body = nodeKind === "orthanc" ? '{"study":"<Orthanc study id>"}' : '{"studyInstanceUid":"<Study Instance UID>"}';
  return [
    `SECRET=${shellQuote(secret)}`,
    `BODY=${shellQuote(body)}`,
    `TS=$(date +%s)`,
    `# signature: hex HMAC-SHA256 of "<timestamp>.<body>" with the secret`,
    `SIG=$(printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex | sed 's/^.* //')`,
    `curl -sS -X POST ${shellQuote(url)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -H "X-Atrium-Timestamp: $TS" \\`,
    `  -H "X-Atrium-Signature: sha256=$SIG" \\`,
    `  --data-binary "$BODY"`,
  ].join("\n");
}

/**
 * An Orthanc Lua script (orthanc.json: "LuaScripts": ["atrium.lua"]) that posts the signed webhook
 * when a study becomes stable. For a DICOMweb source it names the study by its Study Instance UID
 * (Orthanc's DICOMweb plugin then serves it).
 */
export function orthancLuaExample({ url, secret, nodeKind }: ExampleInput): string {
  const body =
    nodeKind === "orthanc"
      ? `'{"study":"' .. studyId .. '"}'`
      : `'{"studyInstanceUid":"' .. tags["StudyInstanceUID"] .. '"}'`;
  return `-- Atrium webhook: posts every stable study to Atrium, which pulls it from this Orthanc.
local ATRIUM_URL = ${luaString(url)}
local ATRIUM_SECRET = ${luaString(secret)}

function OnStableStudy(studyId, tags, metadata)
  local body = ${body}
  local timestamp = tostring(os.time())
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Atrium-Timestamp"] = timestamp,
    ["X-Atrium-Signature"] = "sha256=" .. atrium_hmac_sha256_hex(ATRIUM_SECRET, timestamp .. "." .. body),
  }
  if HttpPost(ATRIUM_URL, body, headers) == nil then
    print("Atrium webhook: the post failed (see the error above); the study was not announced")
  end
end

${LUA_HMAC_SHA256}`;
}
