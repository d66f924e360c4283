// Filing an instance in its study: the study is created on its first instance (a study already
// handed on receives again and the archive step merges it), the instance is marked de-identified
// and the event recorded — one statement, one commit. The instance row is locked first and must
// still be in `from`, so that a job run twice at once files it once (the second changes nothing).
// Parameters: $1 new study id, $2 project, $3 Study Instance UID, $4 subject label, $5 instance id,
// then those `set` uses, then the event detail (jsonb) at position `detailParam`.

export function fileInStudySql(o: { from: "received" | "review"; set: string; step: string; detailParam: number }): string {
  return `
  WITH pending AS (
    SELECT id FROM "ReceivedInstance" WHERE id = $5 AND status = '${o.from}' FOR UPDATE),
  s AS (
    INSERT INTO "IntakeStudy" (id, "projectId", "studyInstanceUid", "subjectLabel", "instanceCount", "firstInstanceAt", "lastInstanceAt", status)
    SELECT $1, $2, $3, $4, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', 'receiving' FROM pending
    ON CONFLICT ("projectId", "studyInstanceUid") DO UPDATE
      SET "instanceCount" = "IntakeStudy"."instanceCount" + 1, "lastInstanceAt" = now() AT TIME ZONE 'UTC', status = 'receiving', "stableAt" = NULL
    RETURNING id),
  u AS (
    UPDATE "ReceivedInstance" r SET status = 'deidentified', ${o.set}, "studyId" = s.id, "updatedAt" = now() AT TIME ZONE 'UTC'
    FROM s WHERE r.id = $5
    RETURNING r.id, s.id AS "studyId")
  INSERT INTO "InstanceEvent" ("instanceId", at, step, detail)
  SELECT u.id, now() AT TIME ZONE 'UTC', '${o.step}', jsonb_build_object('studyId', u."studyId") || $${o.detailParam}::jsonb FROM u
  RETURNING "instanceId", detail->>'studyId' AS "studyId"`;
}
