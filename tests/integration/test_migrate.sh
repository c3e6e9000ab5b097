#!/usr/bin/env bash
# Schema versions (wingman migrate): an upgrade from the previous schema
# keeps its rows and the daemons run a request on the result; applied files
# are never applied twice; a changed applied file is refused; --status says
# what is applied and pending; audit rows and a checkpoint written before
# per-writer chains (013) become the legacy chain, which verifies with its
# old checkpoint beside the new chains. In a database of its own (wingman_upgrade),
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
# Audit rows as a version before per-writer chains (013) writes them: the
# one chain, through its append function, and a checkpoint of its head
# signed the old way (v1: no chain named). After 014 they are the legacy chain.
"$W" migrate --conninfo "$up_owner" --to 13 >"$T/m13" || fail "migrate --to 13: $(cat "$T/m13")"
{
	for ev in legacy_a legacy_b legacy_c; do
		psql "$up_owner" -v ON_ERROR_STOP=1 -qAt -c "SELECT o_seq FROM wingman_audit_append('wingman',
		    ARRAY['$rid'], ARRAY['$ev'], ARRAY['{\"details\":{},\"event\":\"$ev\",\"prev_hash\":\"'],
		    ARRAY['\",\"request_id\":\"$rid\",\"seq\":'], ARRAY[',\"service\":\"wingman\",\"ts\":\"2026-01-01T00:00:00.000Z\"}'])" \
		    >/dev/null || fail "legacy audit row $ev not written"
	done
	read -r lseq lhash < <(psql "$up_owner" -tA -F ' ' -c "SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1")
	[ "$lseq" = 3 ] || fail "legacy rows: $lseq"
	cts=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
	printf 'wingman-audit-checkpoint-v1\n%s\n%s\n%s' "$lseq" "$lhash" "$cts" >"$T/cp-input"
	sig=$(openssl pkeyutl -sign -rawin -inkey "$WINGMAN_KEYS_DIR/audit.key" -in "$T/cp-input" |
	    base64 -w0 | tr '+/' '-_' | tr -d '=')
	psql "$up_owner" -v ON_ERROR_STOP=1 -qc "INSERT INTO audit_checkpoints (seq, row_hash, ts, kid, signature)
	    VALUES ($lseq, '$lhash', '$cts', 'audit', '$sig')" || fail "old checkpoint not written"
	ok "at 013: 3 audit rows in the one chain, and a checkpoint of its head signed the old way"
}
"$W" migrate --conninfo "$up_owner" --to "$prev" >"$T/m1b" || fail "migrate --to $prev: $(cat "$T/m1b")"
grep -q "schema at version $prev" "$T/m1b" || fail "not at $prev: $(cat "$T/m1b")"
psql "$up_owner" -v ON_ERROR_STOP=1 -qc "
INSERT INTO approval_requests (request_id, environment, worker_id, state, assessment,
  approvers_required, token_ttl_s, expires_at, outcome_topic, outcome)
 VALUES ('$rid', 'test', 'agent-7', 'pending', '{}', 1, 60, now() + interval '1 hour', '', '');" ||
	fail "rows of $prev not written"
ok "at $prev: a pending approval written"


say "3. migrate to head keeps them and fills what the new versions add"
# First the versioned files alone: between 014 and 998_roles.sql (each its
# own transaction) the roles still have the rights 013's 998 gave them,
# INSERT on audit_log among them. 014 itself must install the chain-aware
# writer check, or rows go into the legacy chain, another service's chain
# or a chain named by 500 characters in that window.
cp -r "$src/sql" "$T/sql-versioned"
rm "$T"/sql-versioned/9[0-9][0-9]_*.sql
psql "$up_owner" -qc "GRANT SELECT (seq, row_hash), INSERT ON audit_log TO wingman_consensus" ||
	fail "cannot grant as 013's 998_roles.sql did"
"$W" migrate --conninfo "$up_owner" --dir "$T/sql-versioned" >"$T/m2" || fail "migrate: $(cat "$T/m2")"
grep -q "^applied ${head}_" "$T/m2" || fail "$head not applied: $(cat "$T/m2")"
grep -q "schema at version $head (1 migration(s) applied now)" "$T/m2" || fail "$(cat "$T/m2")"
{
	window_row() { # CHAIN SERVICE
		printf "INSERT INTO audit_log (seq, chain, service, request_id, event, content, prev_hash, row_hash)
		    VALUES (-1, '%s', '%s', 'r-w', 'window', '{\"chain\":\"%s\",\"service\":\"%s\"}', 'x', 'y')" "$1" "$2" "$1" "$2"
	}
	long=wingman-consensus/$(printf 'x%.0s' {1..500})
	for c in "legacy wingman-consensus AUDIT_BAD_CHAIN" "wingman-approval/0 wingman-approval AUDIT_WRONG_WRITER" \
	    "$long wingman-consensus AUDIT_BAD_CHAIN" "wingman-consensus/0 wingman-consensus AUDIT_BAD_SEQ"; do
		set -- $c
		set +e; out=$(pgas consensus "$(window_row "$1" "$2")" 2>&1); rc=$?; set -e
		[ $rc -ne 0 ] && grep -q "$3" <<<"$out" || fail "between 014 and 998, wingman_consensus wrote into ${1:0:40}: $out"
	done
	ok "between 014 and 998: rows into the legacy chain, another service's chain, a 500-character chain, at a chosen seq: refused by 014's writer check"
}
"$W" migrate --conninfo "$up_owner" >"$T/m2b" || fail "migrate: $(cat "$T/m2b")"
grep -q "schema at version $head (0 migration(s) applied now)" "$T/m2b" || fail "$(cat "$T/m2b")"
[ "$(psql "$up_owner" -tAc "SELECT verdict FROM executions WHERE jti = 'jti-upgrade-ok'")" = executed ] ||
	fail "the old finished run has no verdict"
[ "$(psql "$up_owner" -tAc "SELECT verdict FROM executions WHERE jti = 'jti-upgrade-frozen'")" = frozen ] ||
	fail "the old frozen run has no frozen verdict"
[ "$(psql "$up_owner" -tAc "SELECT state FROM approval_requests WHERE request_id = '$rid'")" = pending ] ||
	fail "the pending approval was lost"
ok "upgrade 007 -> $prev -> $head kept the rows; 008 gave the old runs their verdicts"
{
	[ "$(psql "$up_owner" -tAc "SELECT string_agg(DISTINCT chain, ',') FROM audit_log")" = legacy ] ||
		fail "the old rows are not the legacy chain"
	[ "$(psql "$up_owner" -tA -F ' ' -c "SELECT legacy_seq, legacy_hash FROM audit_chain_origin")" = "$lseq $lhash" ] ||
		fail "audit_chain_origin does not record the legacy head"
	ok "014: the old rows are the legacy chain; audit_chain_origin records its head (row $lseq)"
}

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
{
	# Every new chain's first row links to the legacy head.
	[ "$(psql "$up_owner" -tAc "SELECT count(*) FROM (SELECT DISTINCT ON (chain) chain, prev_hash
	    FROM audit_log WHERE chain <> 'legacy' ORDER BY chain, seq) f")" -ge 4 ] ||
		fail "fewer than 4 per-writer chains: $(psql "$up_owner" -tAc "SELECT DISTINCT chain FROM audit_log")"
	[ "$(psql "$up_owner" -tAc "SELECT count(*) FROM (SELECT DISTINCT ON (chain) chain, prev_hash
	    FROM audit_log WHERE chain <> 'legacy' ORDER BY chain, seq) f WHERE prev_hash <> '$lhash'")" = 0 ] ||
		fail "a new chain does not start at the legacy head"
	grep -qE "rows in [5-9][0-9]* chains|rows in [1-9][0-9]+ chains" "$T/verify" || fail "chains: $(cat "$T/verify")"
	# The auditor signs every chain's head; the old checkpoint still verifies beside them.
	WINGMAN_AUDIT_CHECKPOINT_S=1 as_service auditor "$build/services/auditor/wingman-auditor" \
	    </dev/null >"$T/auditor.log" 2>&1 9>&- &
	DAEMON_PIDS+=($!)
	heads() { [ "$(psql "$up_owner" -tAc "SELECT count(DISTINCT chain) FROM audit_checkpoints WHERE chain IS NOT NULL")" -ge 5 ]; }
	wait_for 60 heads || fail "no checkpoint per chain: $(cat "$T/auditor.log")"
	"$W" audit verify --pub "$WINGMAN_KEYS_DIR/audit.pub" --max-age 86400 >"$T/verify2" 2>&1 ||
		fail "audit verify --pub: $(cat "$T/verify2")"
	ok "legacy chain + new chains verify: $(cat "$T/verify2")"
	# The old checkpoint is checked, not skipped: a forged one fails.
	psql "$up_owner" -qc "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER;
	    UPDATE audit_checkpoints SET row_hash = repeat('a', 64) WHERE chain IS NULL;
	    ALTER TABLE audit_checkpoints ENABLE TRIGGER USER" || fail "cannot alter the old checkpoint"
	set +e; "$W" audit verify --pub "$WINGMAN_KEYS_DIR/audit.pub" --max-age 86400 >"$T/verify3" 2>&1; rc=$?; set -e
	[ $rc -eq 1 ] && grep -q AUDIT_CHECKPOINT_FORGED "$T/verify3" || fail "an altered old checkpoint passed: $(cat "$T/verify3")"
	ok "an altered old (v1) checkpoint is refused: AUDIT_CHECKPOINT_FORGED"
	# A v1 checkpoint (the one chain's head) signs legacy rows only: one of
	# a per-writer row, genuinely signed, is refused.
	read -r pseq phash < <(psql "$up_owner" -tA -F ' ' -c "SELECT seq, row_hash FROM audit_log
	    WHERE chain <> 'legacy' ORDER BY seq DESC LIMIT 1")
	printf 'wingman-audit-checkpoint-v1\n%s\n%s\n%s' "$pseq" "$phash" "$cts" >"$T/cp-input2"
	sig=$(openssl pkeyutl -sign -rawin -inkey "$WINGMAN_KEYS_DIR/audit.key" -in "$T/cp-input2" |
	    base64 -w0 | tr '+/' '-_' | tr -d '=')
	psql "$up_owner" -v ON_ERROR_STOP=1 -qc "INSERT INTO audit_checkpoints (seq, row_hash, ts, kid, signature)
	    VALUES ($pseq, '$phash', '$cts', 'audit', '$sig')" || fail "v1 checkpoint of row $pseq not written"
	set +e; "$W" audit verify --pub "$WINGMAN_KEYS_DIR/audit.pub" --max-age 86400 >"$T/verify4" 2>&1; rc=$?; set -e
	[ $rc -eq 1 ] && grep -q "AUDIT_BAD_CHAIN: .*(v1, made before per-writer chains) signs row $pseq" "$T/verify4" ||
		fail "a v1 checkpoint of per-writer row $pseq passed: $(cat "$T/verify4")"
	ok "a genuine v1 checkpoint of per-writer row $pseq is refused: AUDIT_BAD_CHAIN"
}
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
