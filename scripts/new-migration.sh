#!/usr/bin/env bash
# Writes a migration for the changes of prisma/schema/ since the last commit:
#   scripts/new-migration.sh add_something
# `prisma migrate dev` cannot reach a shadow database through the wasm engine here, so the SQL is
# the diff between the committed schema (which matches the committed migrations: commit every
# schema change together with its migration) and the working tree's schema.
set -euo pipefail
name=${1:?usage: scripts/new-migration.sh NAME}
cd "$(dirname "$0")/.."
old=$(mktemp -d)
trap 'rm -rf "$old"' EXIT
for f in $(git ls-tree --name-only HEAD prisma/schema/); do git show "HEAD:$f" > "$old/$(basename "$f")"; done
dir="prisma/migrations/$(date -u +%Y%m%d%H%M%S)_${name}"
sql=$(npx prisma migrate diff --from-schema-datamodel "$old" --to-schema-datamodel prisma/schema --script)
if ! grep -qv '^--\|^$' <<<"$sql"; then echo "No schema changes since the last commit."; exit 1; fi
mkdir -p "$dir"
printf '%s\n' "$sql" > "$dir/migration.sql"
echo "Wrote $dir/migration.sql"
