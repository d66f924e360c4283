// GET /pim/api/info — fastr's reporter checks for {"version": 2} before it reports anything.
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ version: 2, name: "Atrium", api: "PIM API v2 (fastr pimreporter)" });
}
