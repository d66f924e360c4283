// The rows both portal-list benchmarks measure: `n` quarantined instances of a project (five
// reasons, three ways in) and `n` of its studies in the archive (2 % failed, 1 % queued), in SQL.
export async function seedPortalRows(sql: { exec(text: string): Promise<unknown> }, projectId: string, n: number): Promise<void> {
  await sql.exec(`INSERT INTO "ReceivedInstance" (id, "projectId", channel, "batchId", "stagingPath", "sizeBytes", sha256, status, reason, "reasonCode", "receivedAt", "updatedAt")
    SELECT 'q' || g, '${projectId}', (ARRAY['cstore','stow','upload'])[1 + g % 3]::"IntakeChannel", 'b' || (g / 100), 'staging/q' || g, 1000 + g % 5000, md5(g::text) || md5(g::text),
           'quarantined', 'fixture reason', (ARRAY['not_dicom','no_route','deid_failed','parse_error','too_large'])[1 + g % 5], now() - (g || ' seconds')::interval, now()
      FROM generate_series(1, ${n}) g`);
  await sql.exec(`INSERT INTO "IntakeStudy" (id, "projectId", "studyInstanceUid", "subjectLabel", "instanceCount", status)
    SELECT 's' || g, '${projectId}', '2.25.' || g, 'SUBJ' || (g / 5), 10, 'archived' FROM generate_series(1, ${n}) g`);
  await sql.exec(`INSERT INTO "StudyArchive" ("studyId", "projectId", state, "queuedAt", "archivedAt", "archivedInstances", "updatedAt")
    SELECT 's' || g, '${projectId}', (CASE WHEN g % 50 = 0 THEN 'failed' WHEN g % 97 = 0 THEN 'queued' ELSE 'archived' END)::"ArchiveState", now() - (g || ' seconds')::interval, now(), 10, now()
      FROM generate_series(1, ${n}) g`);
  await sql.exec(`ANALYZE "ReceivedInstance"; ANALYZE "IntakeStudy"; ANALYZE "StudyArchive"`);
}
