import { db } from "@/server/db";
import { markStableStudies } from "@/server/intake/deidentify";

export async function processIntakeStability() {
  return { stable: await markStableStudies(await db()) };
}
