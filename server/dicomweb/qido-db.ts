// QIDO-RS queries against the local archive's index tables (one SQL statement per request).
// Keys of a lower level in a higher-level query (e.g. Modality or SeriesInstanceUID when searching
// studies) match through EXISTS over the lower level. Values are always bound parameters.
import { Prisma, type PrismaClient } from "@/server/db/generated/client";
import { likePattern, type InstanceRow, type Level, type MatchKey, type Matcher, type Query, type SeriesRow, type StudyRow } from "@/lib/dicomweb/qido";

const COL: Record<MatchKey, { level: Level; sql: Prisma.Sql }> = {
  StudyInstanceUID: { level: "study", sql: Prisma.raw(`e."studyInstanceUid"`) },
  PatientID: { level: "study", sql: Prisma.raw(`e."patientId"`) },
  PatientName: { level: "study", sql: Prisma.raw(`e."patientName"`) },
  StudyDate: { level: "study", sql: Prisma.raw(`e."studyDate"`) },
  StudyTime: { level: "study", sql: Prisma.raw(`e."studyTime"`) },
  AccessionNumber: { level: "study", sql: Prisma.raw(`e."accessionNumber"`) },
  ModalitiesInStudy: { level: "study", sql: Prisma.raw(`e."modalities"`) },
  StudyDescription: { level: "study", sql: Prisma.raw(`e."studyDescription"`) },
  ReferringPhysicianName: { level: "study", sql: Prisma.raw(`e."referringPhysicianName"`) },
  StudyID: { level: "study", sql: Prisma.raw(`e."dicomStudyId"`) },
  SeriesInstanceUID: { level: "series", sql: Prisma.raw(`s."seriesInstanceUid"`) },
  Modality: { level: "series", sql: Prisma.raw(`s."modality"`) },
  SeriesNumber: { level: "series", sql: Prisma.raw(`s."seriesNumber"`) },
  SeriesDescription: { level: "series", sql: Prisma.raw(`s."seriesDescription"`) },
  SOPInstanceUID: { level: "instance", sql: Prisma.raw(`i."sopInstanceUid"`) },
  SOPClassUID: { level: "instance", sql: Prisma.raw(`i."sopClassUid"`) },
  InstanceNumber: { level: "instance", sql: Prisma.raw(`i."instanceNumber"`) },
};

function condition(key: MatchKey, m: Matcher): Prisma.Sql {
  const col = COL[key].sql;
  switch (m.kind) {
    case "uids":
      return m.values.length === 1 ? Prisma.sql`${col} = ${m.values[0]}` : Prisma.sql`${col} IN (${Prisma.join(m.values)})`;
    case "list":
      return key === "ModalitiesInStudy" ? Prisma.sql`${col} && ${m.values}::text[]` : Prisma.sql`${col} IN (${Prisma.join(m.values)})`;
    case "number":
      return Prisma.sql`${col} = ${m.value}`;
    case "range": {
      const parts: Prisma.Sql[] = [Prisma.sql`${col} IS NOT NULL`];
      if (m.from) parts.push(Prisma.sql`${col} >= ${m.from}`);
      if (m.to) parts.push(Prisma.sql`left(${col}, ${m.to.length}) <= ${m.to}`);
      return Prisma.join(parts, " AND ");
    }
    case "text":
      if (m.wildcard) return m.caseInsensitive ? Prisma.sql`${col} ILIKE ${likePattern(m.pattern)}` : Prisma.sql`${col} LIKE ${likePattern(m.pattern)}`;
      if (key === "ModalitiesInStudy") return Prisma.sql`${m.pattern} = ANY(${col})`;
      return m.caseInsensitive ? Prisma.sql`lower(${col}) = lower(${m.pattern})` : Prisma.sql`${col} = ${m.pattern}`;
  }
}

/** WHERE conditions for `query` at its level; lower-level keys become EXISTS subqueries. */
function where(query: Query, projectId: string): Prisma.Sql {
  const byLevel: Record<Level, Prisma.Sql[]> = { study: [], series: [], instance: [] };
  for (const [k, m] of Object.entries(query.match) as Array<[MatchKey, Matcher]>) {
    const key = query.level === "study" && k === "Modality" ? "ModalitiesInStudy" : k;
    const mm: Matcher = key === "ModalitiesInStudy" && m.kind === "text" && !m.wildcard ? { kind: "list", values: [m.pattern] } : m;
    byLevel[COL[key].level].push(condition(key, mm));
  }
  const conds: Prisma.Sql[] = [Prisma.sql`e."projectId" = ${projectId}`, Prisma.sql`e."instanceCount" > 0`, ...byLevel.study];
  const inst = byLevel.instance.length ? Prisma.join(byLevel.instance, " AND ") : null;
  const ser = byLevel.series.length ? Prisma.join(byLevel.series, " AND ") : null;
  if (query.level === "study") {
    if (ser || inst) {
      const parts = [Prisma.sql`s."experimentId" = e.id`];
      if (ser) parts.push(ser);
      if (inst) parts.push(Prisma.sql`EXISTS (SELECT 1 FROM "ArchiveInstance" i WHERE i."scanId" = s.id AND ${inst})`);
      conds.push(Prisma.sql`EXISTS (SELECT 1 FROM "ArchiveScan" s WHERE ${Prisma.join(parts, " AND ")})`);
    }
  } else if (query.level === "series") {
    if (ser) conds.push(ser);
    if (inst) conds.push(Prisma.sql`EXISTS (SELECT 1 FROM "ArchiveInstance" i WHERE i."scanId" = s.id AND ${inst})`);
  } else {
    if (ser) conds.push(ser);
    if (inst) conds.push(inst);
  }
  return Prisma.join(conds, " AND ");
}

const STUDY_COLS = Prisma.raw(`e."studyInstanceUid", e."studyDate", e."studyTime", e."accessionNumber", e."modalities", e."referringPhysicianName",
  e."studyDescription", e."patientName", e."patientId", e."patientBirthDate", e."patientSex", e."dicomStudyId",
  e."instanceCount" AS "numberOfInstances",
  (SELECT COUNT(*)::int FROM "ArchiveScan" sc WHERE sc."experimentId" = e.id) AS "numberOfSeries"`);
const SERIES_COLS = Prisma.raw(`s."seriesInstanceUid", s."modality", s."seriesDescription", s."seriesNumber", s."seriesDate", s."seriesTime",
  s."instanceCount" AS "seriesInstances"`);
const INSTANCE_COLS = Prisma.raw(`i."sopInstanceUid", i."sopClassUid", i."instanceNumber", i."rows", i."columns", i."bitsAllocated",
  i."numberOfFrames", i."transferSyntaxUid"`);

export interface QidoResult<R> {
  rows: R[];
  /** More matches exist beyond this page. */
  truncated: boolean;
}

/** Runs `query` in `projectId`; returns one page (limit + offset) and whether more matched. */
export async function runQido(prisma: PrismaClient, projectId: string, query: Query): Promise<QidoResult<StudyRow | SeriesRow | InstanceRow>> {
  const w = where(query, projectId);
  const page = Prisma.sql`LIMIT ${query.limit + 1} OFFSET ${query.offset}`;
  let rows: Array<StudyRow | SeriesRow | InstanceRow>;
  if (query.level === "study") {
    // Page first, then count series for the page's rows only.
    rows = await prisma.$queryRaw<StudyRow[]>`
      SELECT ${STUDY_COLS} FROM (
        SELECT * FROM "ArchiveExperiment" e WHERE ${w}
        ORDER BY e."studyDate" DESC NULLS LAST, e."studyTime" DESC NULLS LAST, e."studyInstanceUid" ${page}
      ) e
      ORDER BY e."studyDate" DESC NULLS LAST, e."studyTime" DESC NULLS LAST, e."studyInstanceUid"`;
  } else if (query.level === "series") {
    rows = await prisma.$queryRaw<SeriesRow[]>`
      SELECT ${STUDY_COLS}, ${SERIES_COLS}
      FROM "ArchiveScan" s JOIN "ArchiveExperiment" e ON e.id = s."experimentId" WHERE ${w}
      ORDER BY e."studyDate" DESC NULLS LAST, e."studyInstanceUid", s."seriesNumber" ASC NULLS LAST, s."seriesInstanceUid" ${page}`;
  } else {
    rows = await prisma.$queryRaw<InstanceRow[]>`
      SELECT ${STUDY_COLS}, ${SERIES_COLS}, ${INSTANCE_COLS}
      FROM "ArchiveInstance" i JOIN "ArchiveScan" s ON s.id = i."scanId" JOIN "ArchiveExperiment" e ON e.id = s."experimentId" WHERE ${w}
      ORDER BY e."studyDate" DESC NULLS LAST, e."studyInstanceUid", s."seriesNumber" ASC NULLS LAST, s."seriesInstanceUid", i."instanceNumber" ASC NULLS LAST, i."sopInstanceUid" ${page}`;
  }
  const truncated = rows.length > query.limit;
  return { rows: truncated ? rows.slice(0, query.limit) : rows, truncated };
}
