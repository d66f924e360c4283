#!/usr/bin/env bash
# A consistent backup of a running Atrium (docs/deploy.md, "Backup and restore"): the database
# first — pg_dump reads one snapshot — then the data directory. Atrium writes (and fsyncs) a file
# before the row that refers to it is committed, so every file the dump refers to is on disk when
# the copy starts; files that arrive meanwhile are copied too and are simply not referenced after a
# restore. Safe while Atrium receives when originals outlive the backup (ATRIUM_STAGING_RETENTION_HOURS
# longer than a backup takes; see the guide).
#   DATABASE_URL=postgresql://… ATRIUM_DATA_DIR=/srv/atrium scripts/backup.sh /backup/2026-12-04
set -euo pipefail
dest=${1:?"usage: scripts/backup.sh DEST_DIR (with DATABASE_URL and ATRIUM_DATA_DIR set as for Atrium)"}
: "${DATABASE_URL:?set DATABASE_URL as for Atrium (the embedded database is backed up by stopping Atrium and copying ATRIUM_DATA_DIR)}"
data=${ATRIUM_DATA_DIR:-./.atrium}
[ -d "$data" ] || { echo "backup: the data directory $data does not exist (set ATRIUM_DATA_DIR)" >&2; exit 2; }
mkdir -p "$dest"
# 1. The database: one consistent snapshot, custom format (pg_restore can restore it in parallel).
pg_dump --format=custom --no-owner --no-privileges --file="$dest/atrium.pgdump" "$DATABASE_URL"
# 2. The data directory, after the dump: staging, the local archive's blob store, the generated
#    secret. Not: the private Redis (queues are re-derived from the database), files still being
#    received (*.partial: not acknowledged yet) or written (*.tmp).
status=0
tar -C "$data" --exclude=./redis --exclude='*.partial' --exclude='*.tmp' \
  --warning=no-file-changed --warning=no-file-removed -cf "$dest/files.tar" . || status=$?
# tar's exit 1 means a file changed or vanished while it was read (intake goes on): not an error here.
[ "$status" -le 1 ] || exit "$status"
echo "backup: $(du -sh "$dest/atrium.pgdump" | cut -f1) database, $(du -sh "$dest/files.tar" | cut -f1) files in $dest"
