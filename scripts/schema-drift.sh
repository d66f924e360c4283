#!/usr/bin/env bash
# Authoring a migration: `prisma migrate dev` cannot run here (its wasm engine has no shadow
# database factory), so migrations are written by hand from the SQL Prisma would generate
# (`npx prisma migrate diff --from-empty --to-schema-datamodel prisma/schema --script`).
# This script proves they agree: it builds one database from prisma/migrations and one from
# the schema, and diffs their pg_dump --schema-only. Empty output and exit 0: no drift.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${ATRIUM_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
a="drift_mig_$$"; b="drift_schema_$$"
psql "$base" -qc "CREATE DATABASE $a" -c "CREATE DATABASE $b" >/dev/null
trap 'psql "$base" -qc "DROP DATABASE IF EXISTS $a WITH (FORCE)" -c "DROP DATABASE IF EXISTS $b WITH (FORCE)" >/dev/null' EXIT
url() { local u="${base%/*}/$1"; echo "$u"; }
DATABASE_URL="$(url $a)" node bin/atrium.mjs migrate >/dev/null
DATABASE_URL="$(url $b)" npx prisma migrate diff --from-empty --to-schema-datamodel prisma/schema --script 2>/dev/null | psql -q "$(url $b)" >/dev/null
dump() { pg_dump --schema-only --no-owner --exclude-table=_prisma_migrations "$(url $1)" | grep -v -e '^--' -e '^$' -e '^\\' | sed 's/,$//' | sort; }
diff <(dump $a) <(dump $b)
