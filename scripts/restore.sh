#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh (docs/deploy.md, "Backup and restore") into an EMPTY
# database and an EMPTY data directory; then start Atrium on them: the workers re-queue whatever
# was received but not yet de-identified or archived at backup time.
#   DATABASE_URL=postgresql://…/atrium_restored ATRIUM_DATA_DIR=/srv/atrium scripts/restore.sh /backup/2026-12-04
set -euo pipefail
src=${1:?"usage: scripts/restore.sh BACKUP_DIR (with DATABASE_URL and ATRIUM_DATA_DIR set as for Atrium)"}
: "${DATABASE_URL:?set DATABASE_URL to the (empty) database to restore into}"
data=${ATRIUM_DATA_DIR:-./.atrium}
if [ -d "$data" ] && [ -n "$(ls -A "$data")" ]; then
  echo "restore: $data is not empty; restore into an empty data directory" >&2
  exit 2
fi
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$src/atrium.pgdump"
mkdir -p "$data"
tar -C "$data" -xf "$src/files.tar"
echo "restore: database and files restored; start Atrium (atrium start, or atrium worker + the portal) on them"
