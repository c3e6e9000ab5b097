#!/usr/bin/env bash
# Schema versions (wingman migrate): an upgrade from the previous schema
# keeps its rows and the daemons run a request on the result; applied files
# are never applied twice; a changed applied file is refused; --status says
# what is applied and pending. In a database of its own (wingman_upgrade),
# so the stack's own database and its audit chain are left alone.
. "$(dirname "$0")/lib.sh"

private_database wingman_upgrade
up_owner=$WINGMAN_PG_OWNER_CONNINFO
head=$(ls "$src"/sql/[0-8][0-9][0-9]_*.sql | sort | tail -n 1 | xargs basename | cut -c1-3)
prev=$(ls "$src"/sql/[0-8][0-9][0-9]_*.sql | sort | tail -n 2 | head -n 1 | xargs basename | cut -c1-3)

# Rows are written twice on the way up: at 007, before 008 added the
# verdict column (008 derives it from the stored result), and at the
# previous version, as the daemons of that version write them.
say "1. a new database migrated to 007, rows of that version written"
"$W" migrate --conninfo "$up_owner" --to 7 >"$T/m1" || fail "migrate --to 7: $(cat "$T/m1")"
grep -q "schema at version 007" "$T/m1" || fail "not at 007: $(cat "$T/m1")"
"$W" migrate --conninfo "$up_owner" --status >"$T/st1"
grep -q "^pending  $head " "$T/st1" || fail "--status does not show $head pending: $(cat "$T/st1")"
grep -q "^applied  007 " "$T/st1" || fail "--status does not show 007 applied"
[ "$(psql "$up_owner" -tAc "SELECT max(version) FROM schema_migrations WHERE version < 900")" = 7 ] ||
	fail "schema_migrations does not stop at 7"
rid=$(new_id)
psql "$up_owner" -v ON_ERROR_STOP=1 -qc "
INSERT INTO executions (jti, request_id, cmd_index, cmd, state, result, finished_at) VALUES
 ('jti-upgrade-ok', '$rid', 0, 'docker ps', 'done', '{\"status\":\"ok\",\"output\":\"x\"}', now()),
 ('jti-upgrade-frozen', '$rid', 1, 'docker ps', 'done', '{\"status\":\"refused\",\"output\":\"FROZEN: by x\"}', now());" ||
	fail "rows of 007 not written"
ok "migrate --to 7 applied $(grep -c '^applied [0-9]' "$T/m1") files; --status lists $head pending; runs without a verdict written"

say "2. migrated to the previous version ($prev), rows of that version written"
"$W" migrate --conninfo "$up_owner" --to "$prev" >"$T/m1b" || fail "migrate --to $prev: $(cat "$T/m1b")"
grep -q "schema at version $prev" "$T/m1b" || fail "not at $prev: $(cat "$T/m1b")"
psql "$up_owner" -v ON_ERROR_STOP=1 -qc "
INSERT INTO approval_requests (request_id, environment, worker_id, state, assessment,
  approvers_required, token_ttl_s, expires_at, outcome_topic, outcome)
 VALUES ('$rid', 'test', 'agent-7', 'pending', '{}', 1, 60, now() + interval '1 hour', '', '');" ||
	fail "rows of $prev not written"
ok "at $prev: a pending approval written"

say "3. migrate to head keeps them and fills what the new versions add"
"$W" migrate --conninfo "$up_owner" >"$T/m2" || fail "migrate: $(cat "$T/m2")"
grep -q "^applied ${head}_" "$T/m2" || fail "$head not applied: $(cat "$T/m2")"
grep -q "schema at version $head (1 migration(s) applied now)" "$T/m2" || fail "$(cat "$T/m2")"
[ "$(psql "$up_owner" -tAc "SELECT verdict FROM executions WHERE jti = 'jti-upgrade-ok'")" = executed ] ||
	fail "the old finished run has no verdict"
[ "$(psql "$up_owner" -tAc "SELECT verdict FROM executions WHERE jti = 'jti-upgrade-frozen'")" = frozen ] ||
	fail "the old frozen run has no frozen verdict"
[ "$(psql "$up_owner" -tAc "SELECT state FROM approval_requests WHERE request_id = '$rid'")" = pending ] ||
	fail "the pending approval was lost"
ok "upgrade 007 -> $prev -> $head kept the rows; 008 gave the old runs their verdicts"

say "4. idempotent: nothing applied twice"
"$W" migrate --conninfo "$up_owner" >"$T/m3" || fail "second migrate: $(cat "$T/m3")"
grep -q "(0 migration(s) applied now)" "$T/m3" || fail "second run applied something: $(cat "$T/m3")"
! grep -q "^applied" "$T/m3" || fail "second run re-applied a file: $(cat "$T/m3")"
ok "a second migrate applies nothing"

say "5. the daemons run a request on the upgraded database"
start_daemons
out=$("$W" submit --env test --worker agent-7 --text "after the upgrade" \
	--cmd "docker inspect wingman-test-demo" --wait --timeout 90) || fail "request failed: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "status: $out"
id=$(jq -r .request_id <<<"$out")
[ "$(psql "$up_owner" -tAc "SELECT verdict FROM executions WHERE request_id = '$id'")" = executed ] ||
	fail "the run is not in the upgraded database"
"$W" audit verify >"$T/verify" || fail "audit verify: $(cat "$T/verify")"
ok "inspect executed against the upgraded schema; audit chain OK"
stop_daemons

say "6. an applied file that changed is refused"
cp -r "$src/sql" "$T/sql"
printf -- '-- edited after it was applied\n' >>"$(ls "$T"/sql/${head}_*.sql)"
set +e
"$W" migrate --conninfo "$up_owner" --dir "$T/sql" >"$T/m4" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a changed applied file was accepted"
grep -q MIGRATION_CHANGED "$T/m4" || fail "no MIGRATION_CHANGED: $(cat "$T/m4")"
grep -q "^CHANGED  $head " "$T/m4" || fail "the changed file is not named: $(cat "$T/m4")"
ok "changed file refused: MIGRATION_CHANGED names $head"

say "7. a database newer than the files is refused"
cp -r "$src/sql" "$T/sql-old"
rm "$T"/sql-old/${head}_*.sql
set +e
"$W" migrate --conninfo "$up_owner" --dir "$T/sql-old" >"$T/m5" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && grep -q SCHEMA_NEWER "$T/m5" || fail "an older wingman migrated a newer schema: $(cat "$T/m5")"
ok "older files against a newer schema: SCHEMA_NEWER"
