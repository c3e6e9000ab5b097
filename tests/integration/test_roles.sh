#!/usr/bin/env bash
# Least privilege in the stores (trust rule 8): each process connects with
# its own PostgreSQL role and password (sql/998_roles.sql), and this test
# tries, as each role in turn, what a process taken over would try: audit
# rows in another service's name, the executor's ledger rows changed or
# removed, the kill switch cleared, checkpoints removed, Telegram prompts
# edited, approval votes added. All must fail. Redis refuses a client
# without the password. `audit verify` fails on a stale or missing
# checkpoint and lists every break. Checkpoints reach Kafka too.
. "$(dirname "$0")/lib.sh"

SERVICES=(consensus approval telegram token executor auditor)
ROLES=("${SERVICES[@]}" admin)
export WINGMAN_PG_CONNINFO_ADMIN=$WINGMAN_PG_CONNINFO

# refused ROLE SQL PATTERN: the statement fails with an error matching PATTERN.
refused() {
	local out
	if out=$(pgas "$1" "BEGIN; $2; ROLLBACK" 2>&1); then
		fail "$1 was allowed: $2"
	fi
	grep -Eq "$3" <<<"$out" || fail "$1: $2: expected /$3/, got: $out"
}
# allowed ROLE SQL: the statement works (inside a transaction rolled back).
allowed() {
	local out
	out=$(pgas "$1" "BEGIN; $2; ROLLBACK" 2>&1) || fail "$1 was refused: $2: $out"
}
denied='permission denied'

say "each process has its own role and password"
for r in "${ROLES[@]}"; do
	[ "$(pgas "$r" "SELECT current_user")" = "wingman_$r" ] || fail "wrong role for $r"
done
v=WINGMAN_PG_CONNINFO_EXECUTOR
set +e
psql "${!v% passfile=*}" -w -tAqc "SELECT 1" >/dev/null 2>"$T/err"; rc1=$?
psql "${!v% passfile=*} passfile=${WINGMAN_PG_CONNINFO_TOKEN#*passfile=}" -w -tAqc "SELECT 1" \
    >/dev/null 2>>"$T/err"; rc2=$?
set -e
[ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] || fail "wingman_executor logged in without its password: $(cat "$T/err")"
ok "7 roles; wingman_executor cannot log in without its password or with token's"

say "audit rows: each role writes in its own name and its own chains only"
row() { # SERVICE-COLUMN SERVICE-IN-CONTENT [CHAIN [CHAIN-IN-CONTENT]]
	local chain=${3:-$1/0}
	printf "INSERT INTO audit_log (seq, chain, service, request_id, event, content, prev_hash, row_hash)
	    VALUES (-1, '%s', '%s', 'roles-test', 'forged', '{\"chain\":\"%s\",\"service\":\"%s\"}', 'x', 'y')" \
	    "$chain" "$1" "${4:-$chain}" "$2"
}
name_of() { [ "$1" = admin ] && echo wingman || echo "wingman-$1"; }
# good_row CHAIN SERVICE [SEQ [PREV [HASH]]]: a plain INSERT of a row as the
# append makes it: seq s from the sequence, prev p the chain's head (the
# legacy head for its first row), the content naming both, its hash. SEQ,
# PREV and HASH (SQL over s, p and body) make it wrong on purpose.
good_row() {
	printf "INSERT INTO audit_log (seq, chain, service, request_id, event, content, prev_hash, row_hash)
	    SELECT %s, c, sv, 'roles-test', 'direct', body, %s, %s
	    FROM (SELECT s, c, sv, p, format('{\"chain\":\"%%s\",\"details\":{},\"event\":\"direct\",\"prev_hash\":\"%%s\",\"request_id\":\"roles-test\",\"seq\":%%s,\"service\":\"%%s\",\"ts\":\"t\"}',
	            c, %s, %s, sv) AS body
	          FROM (SELECT nextval('audit_log_seq') AS s, '%s'::text AS c, '%s'::text AS sv,
	                  coalesce((SELECT row_hash FROM audit_log WHERE chain = '%s' ORDER BY seq DESC LIMIT 1),
	                      (SELECT legacy_hash FROM audit_chain_origin)) AS p) h) b" \
	    "${3:-s}" "${4:-p}" "${5:-"encode(sha256(convert_to(${4:-p} || E'\\n' || body, 'UTF8')), 'hex')"}" \
	    "${4:-p}" "${3:-s}" "$1" "$2" "$1"
}
for r in "${ROLES[@]}"; do
	me=$(name_of "$r")
	other=wingman-executor
	[ "$r" = executor ] && other=wingman-approval
	refused "$r" "$(row "$other" "$other")" AUDIT_WRONG_WRITER
	refused "$r" "$(row "$me" "$other")" AUDIT_BAD_ROW
	# Into another service's chain, in its own name: the chain is not its.
	refused "$r" "$(row "$me" "$me" "$other/0")" AUDIT_WRONG_WRITER
	refused "$r" "$(row "$other" "$other" "$other/3")" AUDIT_WRONG_WRITER
	# The content binds the chain; the legacy chain is closed.
	refused "$r" "$(row "$me" "$me" "$me/0" "$me/1")" AUDIT_BAD_ROW
	refused "$r" "$(row "$me" "$me" legacy)" AUDIT_BAD_CHAIN
	allowed "$r" "$(good_row "$me/900" "$me")"
	allowed "$r" "$(good_row "$me/901" "$me"); $(good_row "$me/901" "$me")"
	# A plain INSERT is held to the append's rules: its seq is the one the
	# sequence just gave (not one above it, not 0, not near 2^63), it links
	# to its chain's head, its hash is its content's.
	refused "$r" "$(good_row "$me/900" "$me" 's + 5')" AUDIT_BAD_SEQ
	refused "$r" "$(good_row "$me/900" "$me" '0')" AUDIT_BAD_SEQ
	refused "$r" "$(good_row "$me/900" "$me" '9223372036854775000')" AUDIT_BAD_SEQ
	refused "$r" "$(good_row "$me/900" "$me"); $(good_row "$me/900" "$me" s "(SELECT legacy_hash FROM audit_chain_origin)")" AUDIT_BROKEN_LINK
	refused "$r" "$(good_row "$me/900" "$me" s p "repeat('a', 64)")" AUDIT_BAD_HASH
	# Lanes are numbers of 1 to 3 digits.
	refused "$r" "$(good_row "$me/abc" "$me")" AUDIT_BAD_CHAIN
	refused "$r" "$(good_row "$me/$(printf 'x%.0s' {1..40})" "$me")" AUDIT_BAD_CHAIN
	refused "$r" "$(good_row "$me/1000" "$me")" AUDIT_BAD_CHAIN
	for sql in "UPDATE audit_log SET event = 'x' WHERE seq = 1" "DELETE FROM audit_log WHERE seq = 1" \
	    "TRUNCATE audit_log" "UPDATE audit_log SET chain = 'x/0'" "DELETE FROM audit_chain_origin" \
	    "UPDATE audit_chain_origin SET legacy_seq = 0" "INSERT INTO audit_chains (chain) VALUES ('$me/902')" \
	    "UPDATE audit_chains SET chain = chain" "DELETE FROM audit_chains" "TRUNCATE audit_chains"; do
		refused "$r" "$sql" "$denied|append-only"
	done
done
ok "every role: another service's name or chain, content naming another, a chain the content does not name, the legacy chain: refused; own rows in own chains allowed; no UPDATE, DELETE, TRUNCATE"
ok "every role, by plain INSERT: a seq of its choosing (above the sequence, 0, near 2^63), a link past its chain's head, a wrong hash, a lane that is not 1-3 digits: refused; audit_chains: no INSERT, UPDATE, DELETE, TRUNCATE"

# The check reads the real origin, not a temporary table of the writer's
# that shadows it (pg_temp comes first for unqualified names).
refused token "CREATE TEMP TABLE audit_chain_origin (legacy_seq bigint, legacy_hash text);
    INSERT INTO audit_chain_origin VALUES (0, repeat('f', 64)); $(good_row wingman-token/905 wingman-token)" AUDIT_BROKEN_LINK
ok "a temporary audit_chain_origin of the writer's own does not move where a new chain starts"

# A chain's first row registers it (the roles may not), so the auditor signs its head.
[ "$(pgas admin "BEGIN; $(good_row wingman/903 wingman); SELECT count(*) FROM audit_chains WHERE chain = 'wingman/903'; ROLLBACK")" = 1 ] ||
	fail "a chain's first row did not register it in audit_chains"
for sql in "UPDATE audit_chains SET chain = chain" "DELETE FROM audit_chains" "TRUNCATE audit_chains" \
    "UPDATE audit_chain_origin SET legacy_seq = 0" "DELETE FROM audit_chain_origin"; do
	out=$(pgo "BEGIN; INSERT INTO audit_chains (chain) VALUES ('wingman/904'); $sql; ROLLBACK" 2>&1) &&
		fail "the owner may: $sql"
	grep -Eq "audit_chain(s|_origin) is append-only" <<<"$out" || fail "owner: $sql: $out"
done
out=$(pgo "BEGIN; INSERT INTO audit_chains (chain) VALUES ('wingman/abc'); ROLLBACK" 2>&1) &&
	fail "audit_chains took a chain that is not <service>/<lane>"
grep -q "check constraint" <<<"$out" || fail "audit_chains CHECK: $out"
ok "a chain's first row registers it; audit_chains and audit_chain_origin are append-only even for the owner; audit_chains holds only <service>/<0-999> names"

# The older shared role (sql/999_service_role.sql), where one still exists:
# it maps to no service, so it may only read (no audit rows, no kill switch).
sup=${WINGMAN_PG_OWNER_CONNINFO/user=wingman/user=postgres}
if [ "$(psql "$sup" -tAqc "SELECT count(*) FROM pg_roles WHERE rolname = 'wingman_service'")" = 0 ]; then
	psql "$sup" -qc "CREATE ROLE wingman_service" || fail "cannot create wingman_service"
	trap 'psql "$sup" -qc "DROP OWNED BY wingman_service" -c "DROP ROLE wingman_service" >/dev/null 2>&1; cleanup' EXIT
fi
psql "$WINGMAN_PG_OWNER_CONNINFO" -v ON_ERROR_STOP=1 -qf "$src/sql/999_service_role.sql" >/dev/null ||
	fail "999_service_role.sql does not apply"
[ "$(pgo "SELECT count(*) FROM pg_tables t, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
    WHERE t.schemaname = 'public' AND has_table_privilege('wingman_service', 'public.' || t.tablename, p)")" = 0 ] ||
	fail "wingman_service may write a table"
[ "$(pgo "SELECT count(*) FROM (SELECT oid FROM pg_class WHERE relkind = 'S'
    AND relnamespace = 'public'::regnamespace OFFSET 0) s WHERE has_sequence_privilege('wingman_service', oid, 'USAGE')")" = 0 ] || fail "wingman_service may take a seq"
out=$(psql "$sup" -v ON_ERROR_STOP=1 -tAqc "SET ROLE wingman_service; $(good_row wingman-approval/907 wingman-approval)" 2>&1) &&
	fail "wingman_service wrote an approval row"
grep -q "$denied" <<<"$out" || fail "wingman_service's row: $out"
ok "wingman_service (999), which maps to no service: reads only; an approval row in its hand is refused"

# The writer check calls built-ins unqualified: nobody but the owner creates.
for r in "${ROLES[@]}"; do
	[ "$(pgo "SELECT count(*) FROM pg_namespace WHERE has_schema_privilege('wingman_$r', oid, 'CREATE')")" = 0 ] &&
	    [ "$(pgo "SELECT has_database_privilege('wingman_$r', current_database(), 'CREATE')")" = f ] ||
	    fail "wingman_$r may create in a schema or the database"
done
ok "no service role may create in any schema or in the database"

# A chain cannot fork: a REPEATABLE READ writer whose snapshot predates
# the chain's newest row cannot append after the row before it.
v=WINGMAN_PG_CONNINFO_EXECUTOR
chain_rows() { pgo "SELECT count(*) FROM audit_log WHERE chain = 'wingman-executor/908'"; }
echo "$(good_row wingman-executor/908 wingman-executor);" >"$T/append.sql"
pgas executor "$(good_row wingman-executor/908 wingman-executor)" >/dev/null
before=$(chain_rows)
fork=$(psql "${!v}" -v ON_ERROR_STOP=1 -tAq 2>&1 <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM audit_log WHERE chain = 'wingman-executor/908';
\! psql "${!v}" -v ON_ERROR_STOP=1 -tAqf "$T/append.sql"
$(good_row wingman-executor/908 wingman-executor);
COMMIT;
SQL
) && fail "a REPEATABLE READ writer forked its chain: $fork"
grep -q "audit_log_chain_link" <<<"$fork" || fail "the fork was refused for another reason: $fork"
[ "$(chain_rows)" = $((before + 1)) ] || fail "chain wingman-executor/908: $before rows before, $(chain_rows) after"
ok "a REPEATABLE READ writer with an old snapshot cannot fork its chain (audit_log_chain_link)"

say "the executor's ledger: only the executor changes it, nobody deletes"
for r in "${ROLES[@]}"; do
	refused "$r" "DELETE FROM executions" "$denied"
	refused "$r" "TRUNCATE executions" "$denied"
	[ "$r" = executor ] && continue
	refused "$r" "UPDATE executions SET state = 'done'" "$denied"
	refused "$r" "INSERT INTO executions (jti, request_id, cmd_index, cmd, state)
	    VALUES ('roles-test', 'roles-test', 0, 'docker ps', 'running')" "$denied"
done
allowed executor "UPDATE executions SET state = state WHERE jti = 'roles-test'"
ok "executions: UPDATE and INSERT by the executor alone; DELETE and TRUNCATE by nobody"

say "the functions of sql/010: the ledger's the executor's alone; the append in the caller's name"
for r in "${ROLES[@]}"; do
	[ "$r" = executor ] && continue
	refused "$r" "SELECT * FROM wingman_ledger_lock('roles-test')" "$denied"
	refused "$r" "SELECT * FROM wingman_ledger_intent('roles-test', 'roles-test', 0, 'docker ps',
	    'x', NULL, NULL, NULL, NULL, NULL)" "$denied"
	refused "$r" "SELECT * FROM wingman_ledger_finish('roles-test', '{}', 'executed',
	    'x', NULL, NULL, NULL, NULL, NULL)" "$denied"
done
allowed executor "SELECT * FROM wingman_ledger_lock('roles-test')"
# SECURITY INVOKER: the rows are the caller's INSERTs, checked as such.
append=$(cat <<'SQL'
SELECT * FROM wingman_audit_append('wingman-token/0', ARRAY['r'], ARRAY['e'],
    ARRAY['{"chain":"wingman-token/0","details":{},"event":"e","prev_hash":"'],
    ARRAY['","request_id":"r","seq":'], ARRAY[',"service":"wingman-token","ts":"t"}'])
SQL
)
refused consensus "$append" AUDIT_WRONG_WRITER
allowed token "$append"
ok "wingman_ledger_*: the executor alone; wingman_audit_append: another service's name refused, own allowed"

say "the kill switch: written by the CLI's role alone"
for r in "${SERVICES[@]}"; do
	refused "$r" "UPDATE freeze_state SET frozen = false" "$denied"
	refused "$r" "UPDATE freeze_state SET id = true" "$denied|KILLSWITCH_ADMIN_ONLY"
	refused "$r" "DELETE FROM freeze_state" "$denied"
	refused "$r" "DELETE FROM revocations" "$denied"
	refused "$r" "INSERT INTO revocations (request_id) VALUES ('roles-test')" "$denied"
done
allowed executor "SELECT frozen FROM freeze_state WHERE id FOR SHARE"
allowed admin "UPDATE freeze_state SET reason = reason"
ok "no service may clear freeze_state or revocations; the executor reads them (FOR SHARE), wingman_admin writes"

say "audit_checkpoints are append-only, for everyone"
for r in "${ROLES[@]}"; do
	refused "$r" "UPDATE audit_checkpoints SET seq = 0" "$denied|append-only"
	refused "$r" "DELETE FROM audit_checkpoints" "$denied|append-only"
done
set +e
# (A row first: on a log without checkpoints a row trigger has nothing to refuse.)
out=$(pgo "BEGIN; INSERT INTO audit_checkpoints (seq, row_hash, ts, kid, signature)
    VALUES (0, 'x', 't', 'k', 's'); DELETE FROM audit_checkpoints; ROLLBACK" 2>&1); rc1=$?
out2=$(pgo "BEGIN; TRUNCATE audit_checkpoints; ROLLBACK" 2>&1); rc2=$?
set -e
[ $rc1 -ne 0 ] && grep -q append-only <<<"$out" || fail "the owner deleted checkpoints: $out"
[ $rc2 -ne 0 ] && grep -q append-only <<<"$out2" || fail "the owner truncated checkpoints: $out2"
ok "no role, not even the owner, may UPDATE, DELETE or TRUNCATE audit_checkpoints"

say "working tables belong to their process"
for r in "${ROLES[@]}"; do
	if [ "$r" != telegram ]; then
		refused "$r" "UPDATE telegram_prompts SET prompt = 'x'" "$denied"
		refused "$r" "DELETE FROM telegram_votes" "$denied"
		refused "$r" "UPDATE telegram_execs SET result_status = 'x'" "$denied"
	fi
	# An /exec request the bot recorded stays: its message makes no second one.
	refused "$r" "DELETE FROM telegram_execs" "$denied"
	if [ "$r" != approval ]; then
		refused "$r" "INSERT INTO approval_votes (request_id, approver, decision, channel)
		    VALUES ('roles-test', 'mallory', 'approve', 'cli')" "$denied"
		refused "$r" "UPDATE approval_requests SET assessment = 'x'" "$denied"
	fi
	refused "$r" "DELETE FROM approval_votes" "$denied"
	refused "$r" "DELETE FROM approval_requests" "$denied"
done
for r in consensus token; do
	refused "$r" "SELECT count(*) FROM approval_requests" "$denied"
	refused "$r" "SELECT content FROM audit_log LIMIT 1" "$denied"
done
allowed telegram "UPDATE telegram_prompts SET prompt = prompt WHERE request_id = 'roles-test'"
allowed telegram "UPDATE telegram_execs SET result_status = result_status WHERE request_id = 'roles-test'"
allowed approval "UPDATE approval_requests SET reason = reason WHERE request_id = 'roles-test'"
ok "telegram_prompts and telegram_execs edited by telegram alone, deleted by nobody; approval votes added by approval alone; consensus and token read nothing"

say "Redis answers only with the password"
port=$(sed -E 's|.*@[^:]+:([0-9]+).*|\1|' <<<"$WINGMAN_REDIS_URL")
set +e
out=$(REDISCLI_AUTH= timeout 5 redis-cli -p "$port" SET wingman:jti:roles-test x 2>&1)
set -e
grep -q NOAUTH <<<"$out" || fail "Redis without a password: $out"
[ "$(redis-cli -u "$WINGMAN_REDIS_URL" PING 2>/dev/null)" = PONG ] || fail "Redis with the password"
ok "a client without the password gets NOAUTH; the executor's URL works"

say "checkpoints reach Kafka too"
# Audit rows to checkpoint (revocations of ids that never existed).
for _ in 1 2 3; do "$W" revoke "$(new_id)" --reason "test_roles" >/dev/null; done
since=$(date -u +%Y-%m-%dT%H:%M:%S)
WINGMAN_AUDIT_CHECKPOINT_S=1 as_service auditor "$build/services/auditor/wingman-auditor" \
    >"$T/auditor.log" 2>&1 9>&- &
DAEMON_PIDS+=($!)
for _ in $(seq 1 60); do
	[ "$(pgq "SELECT count(*) FROM audit_checkpoints WHERE ts >= '$since'")" -ge 2 ] && break
	sleep 0.5
done
# From the beginning of the topic, for a few seconds: ours are among them.
# (An auditor of an older checkout may add checkpoints it does not publish.)
"$KT" consume wingman.audit-checkpoints audit --timeout 10 >"$T/cps" || true
stop_daemons
cp=$(jq -c --arg s "$since" 'select(.type == "audit_checkpoint" and .ts >= $s)' "$T/cps" | tail -n 1)
[ -n "$cp" ] || fail "no checkpoint of this run on wingman.audit-checkpoints"
cp_id=$(jq -r .id <<<"$cp")
[ "$(jq -r .signature <<<"$cp")" = "$(pgq "SELECT signature FROM audit_checkpoints WHERE id = $cp_id")" ] ||
    fail "the Kafka copy of checkpoint $cp_id differs from PostgreSQL's"
ok "checkpoint $cp_id is on wingman.audit-checkpoints with the same signature as in PostgreSQL"

say "audit verify: stale or missing checkpoints fail, every break is listed"
# On a copy in a scratch schema: the real log stays intact for everyone.
copy() {
	pgo "DROP SCHEMA IF EXISTS roles_copy CASCADE; CREATE SCHEMA roles_copy;
	     CREATE TABLE roles_copy.audit_log (LIKE public.audit_log INCLUDING ALL);
	     CREATE TABLE roles_copy.audit_checkpoints (LIKE public.audit_checkpoints INCLUDING ALL);
	     CREATE TABLE roles_copy.audit_chain_origin (LIKE public.audit_chain_origin INCLUDING ALL);
	     CREATE TABLE roles_copy.audit_chains (LIKE public.audit_chains INCLUDING ALL);
	     INSERT INTO roles_copy.audit_log SELECT * FROM public.audit_log;
	     INSERT INTO roles_copy.audit_checkpoints SELECT * FROM public.audit_checkpoints;
	     INSERT INTO roles_copy.audit_chain_origin SELECT * FROM public.audit_chain_origin;
	     INSERT INTO roles_copy.audit_chains SELECT * FROM public.audit_chains" >/dev/null
}
verify_copy() {
	WINGMAN_PG_CONNINFO="$WINGMAN_PG_OWNER_CONNINFO options='-csearch_path=roles_copy'" \
	    "$W" audit verify --pub "$WINGMAN_KEYS_DIR/audit.pub" "$@" 2>&1
}
copy
out=$(verify_copy --max-age 3600) || fail "the copy does not verify: $out"
ok "fresh copy: $out"
out=$(verify_copy --max-age 3600 --kafka) || fail "the copy and the Kafka copies disagree: $out"
pgo "DELETE FROM roles_copy.audit_checkpoints WHERE id = $cp_id" >/dev/null
verify_copy --max-age 3600 >/dev/null || fail "one checkpoint fewer already fails without Kafka"
set +e; out=$(verify_copy --max-age 3600 --kafka); rc=$?; set -e
[ $rc -eq 1 ] && grep -q "AUDIT_CHECKPOINT_MISSING: .* is gone from audit_checkpoints" <<<"$out" ||
    fail "a deleted checkpoint was not seen from Kafka: rc=$rc $out"
ok "checkpoint $cp_id deleted from PostgreSQL: audit verify alone passes, --kafka fails (AUDIT_CHECKPOINT_MISSING)"
copy
sleep 2
set +e; out=$(verify_copy --max-age 1); rc=$?; set -e
[ $rc -eq 1 ] && grep -q AUDIT_CHECKPOINT_STALE <<<"$out" || fail "stale checkpoint passed: rc=$rc $out"
ok "newest checkpoint older than --max-age: $(grep STALE <<<"$out")"
pgo "DELETE FROM roles_copy.audit_checkpoints" >/dev/null # a copy has no triggers
set +e; out=$(verify_copy --max-age 3600); rc=$?; set -e
[ $rc -eq 1 ] && grep -q AUDIT_NO_CHECKPOINT <<<"$out" || fail "no checkpoint passed: rc=$rc $out"
ok "rows but no checkpoint: AUDIT_NO_CHECKPOINT"
copy
max=$(pgo "SELECT count(*) FROM roles_copy.audit_log")
[ "$max" -ge 3 ] || fail "too few audit rows ($max)"
# seq has gaps (a sequence): the first row and one in the middle.
a=$(pgo "SELECT min(seq) FROM roles_copy.audit_log")
b=$(pgo "SELECT seq FROM roles_copy.audit_log ORDER BY seq OFFSET $((max / 2)) LIMIT 1")
pgo "UPDATE roles_copy.audit_log SET content = replace(content, '\"event\":\"', '\"event\":\"X')
     WHERE seq IN ($a, $b)" >/dev/null
set +e; out=$(verify_copy --max-age 3600); rc=$?; set -e
[ $rc -eq 1 ] || fail "two altered rows passed: $out"
grep -q "AUDIT_BAD_HASH: row $a was altered" <<<"$out" &&
    grep -q "AUDIT_BAD_HASH: row $b was altered" <<<"$out" || fail "not every break listed: $out"
grep -q "2 break(s)" <<<"$out" || fail "break count: $out"
ok "rows $a and $b altered: both listed, 2 break(s)"
pgo "DROP SCHEMA roles_copy CASCADE" >/dev/null

echo "$checks passed, 0 failed"
