#!/usr/bin/env bash
# Backup and restore (scripts/backup, scripts/restore): the stack's
# PostgreSQL, Redis ledger and keys are backed up, restored into a fresh
# second stack (its own Redis, PostgreSQL, keys and state directory, the
# same dockerd; no Kafka: its daemons run in filter mode, the same handler
# code, which keeps the test well inside its time), and there the audit
# log verifies with its checkpoints, a recorded order whose token was used
# cannot run again (the restored executions row and Redis claim answer
# it), and a new request runs through all four stages.
# The second stack's ports: WINGMAN_RESTORE_{REDIS,PG}_PORT.
. "$(dirname "$0")/lib.sh"

S2=${WINGMAN_STATE_DIR:-/var/tmp/wingman}-restore
R2=${WINGMAN_RESTORE_REDIS_PORT:-16555}
P2=${WINGMAN_RESTORE_PG_PORT:-15655}
RESTART="docker restart wingman-test-api"
# This stack's ports, as scripts/backup reads them.
export WINGMAN_PG_PORT=${WINGMAN_PG_PORT:-$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$WINGMAN_PG_OWNER_CONNINFO")}
export WINGMAN_REDIS_PORT=${WINGMAN_REDIS_PORT:-$(sed -n 's/.*:\([0-9]*\)\/[0-9]*$/\1/p' <<<"$WINGMAN_REDIS_URL")}

# Stops what `scripts/stack up` started for the second stack, by its pid
# files (never `scripts/stack down`: that removes the shared containers).
stack2_stop() {
	local f
	for f in "$S2"/pids/redis-auth.pid; do
		[ -s "$f" ] && stop_pid "$(cat "$f")"
	done
	if [ -f "$S2/postgres/data/postmaster.pid" ]; then
		runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl" \
			-D "$S2/postgres/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	fi
}
stack2() {
	WINGMAN_STATE_DIR=$S2 WINGMAN_STACK_KAFKA=0 WINGMAN_REDIS_PORT=$R2 WINGMAN_PG_PORT=$P2 "$@"
}
trap 'stop_daemons; stack2_stop; rm -rf "$S2" "$T"' EXIT
stack2_stop
rm -rf "$S2"

say "1. on this stack: a human-approved restart runs; the auditor signs checkpoints"
start_daemons
WINGMAN_AUDIT_CHECKPOINT_S=1 as_service auditor "$build/services/auditor/wingman-auditor" \
	</dev/null >"$T/auditor.log" 2>&1 9>&- &
DAEMON_PIDS+=($!)
id=$("$W" submit --env test --worker agent-7 --text "before the backup" --cmd "$RESTART")
first_on wingman.approval-prompts "$id" 60 >/dev/null || fail "no prompt for $id"
"$W" approve "$id" --as alice >/dev/null || fail "approval not counted"
"$W" wait "$id" --timeout 90 >"$T/result" || fail "restart: $(cat "$T/result")"
first_on wingman.orders "$id" 30 >"$T/order" || fail "no order for $id"
jti=$(pgq "SELECT jti FROM executions WHERE request_id = '$id'")
[ -n "$jti" ] || fail "no execution row for $id"
for i in $(seq 1 60); do
	[ "$(pgq "SELECT count(*) FROM audit_checkpoints WHERE seq >= (SELECT max(seq) FROM audit_log)")" -ge 1 ] && break
	sleep 1
done
stop_daemons
"$W" audit verify --pub "$WINGMAN_KEYS_DIR" >"$T/verify1" || fail "audit verify before the backup: $(cat "$T/verify1")"
ok "$id executed (jti ${jti:0:8}…); $(cut -d: -f2 "$T/verify1")"

# A role only this cluster has, with a grant the dump records: the restore
# takes its grants from sql/, so a role the new cluster lacks cannot fail it.
SUPER1="host=127.0.0.1 port=$WINGMAN_PG_PORT user=postgres dbname=wingman"
psql -X -q "$SUPER1" -c "DROP ROLE IF EXISTS wingman_itest_retired" -c "CREATE ROLE wingman_itest_retired" \
	-c "GRANT SELECT ON audit_log TO wingman_itest_retired" >/dev/null || fail "cannot make the retired role"
trap 'stop_daemons; stack2_stop; rm -rf "$S2" "$T"; psql -X -q "$SUPER1" -c "REVOKE ALL ON audit_log FROM wingman_itest_retired" -c "DROP ROLE IF EXISTS wingman_itest_retired" >/dev/null 2>&1' EXIT

say "2. scripts/backup"
"$src/scripts/backup" "$T/backup" >"$T/backup.log" 2>&1 || fail "scripts/backup: $(cat "$T/backup.log")"
for f in redis.rdb wingman.dump roles.sql keys.tar MANIFEST SHA256SUMS; do
	[ -s "$T/backup/$f" ] || fail "backup lacks $f"
done
[ "$(stat -c %a "$T/backup")" = 700 ] || fail "the backup directory is not private"
ok "backup: $(ls "$T/backup" | tr '\n' ' ')"

say "3. a fresh second stack (Redis $R2, PostgreSQL $P2)"
stack2 "$src/scripts/stack" up >"$T/stack2.log" 2>&1 || fail "second stack: $(tail -n 20 "$T/stack2.log")"
KEYS1=$WINGMAN_KEYS_DIR
BROKERS1=$WINGMAN_KAFKA_BROKERS
eval "$(stack2 "$src/scripts/stack" env)"
# Nothing of the second stack may reach the first one's broker.
export WINGMAN_KAFKA_BROKERS=127.0.0.1:9
[ "$(pgq "SELECT count(*) FROM audit_log")" = 0 ] || fail "the second stack is not fresh"
ok "second stack up, empty"

say "4. scripts/restore into it"
damaged=$T/damaged
cp -a "$T/backup" "$damaged"
printf x >>"$damaged/wingman.dump"
! stack2 "$src/scripts/restore" "$damaged" >"$T/restore-damaged.log" 2>&1 || fail "a damaged backup was restored"
stack2 "$src/scripts/restore" "$T/backup" >"$T/restore.log" 2>&1 || fail "scripts/restore: $(tail -n 30 "$T/restore.log")"
[ "$(cd "$KEYS1" && sha256sum -- * | sort)" = "$(cd "$WINGMAN_KEYS_DIR" && sha256sum -- * | sort)" ] ||
	fail "the restored keys differ from the backed-up ones"
ok "a damaged backup is refused; the backup restored, keys identical"

say "5. the restored stack: audit verifies, the used token cannot run again"
# The newest checkpoint is as old as the backup: --max-age allows for it.
"$W" audit verify --pub "$WINGMAN_KEYS_DIR" --max-age 3600 >"$T/verify2" 2>&1 ||
	fail "audit verify after the restore: $(cat "$T/verify2")"
[ "$(cut -d, -f1 "$T/verify2")" = "$(cut -d, -f1 "$T/verify1")" ] ||
	fail "not the same log: $(cat "$T/verify1") / $(cat "$T/verify2")"
[ "$(REDISCLI_AUTH=$(cat "$S2/secrets/redis.pass") redis-cli -p "$R2" exists "wingman:jti:$jti")" = 1 ] ||
	fail "the Redis claim of $jti did not survive"
[ "$(pgq "SELECT count(*) FROM executions WHERE jti = '$jti'")" = 1 ] || fail "the intent row of $jti is missing"
ok "audit chain and checkpoints verify ($(cut -d: -f2 "$T/verify2" | cut -d, -f1-2)); claim and intent row of $jti restored"

# stage SERVICE: that daemon in filter mode, with its own role, on stdin/stdout.
stage() { (as_service "$1" "$build/services/$1/wingman-$1" --stdin 2>>"$T/$1.log"); }
before=$(started_at wingman-test-api)
jq -cn --arg id "$id" --slurpfile o "$T/order" '{topic: "wingman.orders", key: $id, value: $o[0]}' |
	stage executor >"$T/replayed" || fail "executor --stdin failed"
[ "$(jq -r 'select(.topic == "wingman.results") | .value.status' "$T/replayed")" = executed ] ||
	fail "the replay was not answered with the stored result: $(cat "$T/replayed")"
[ "$(audit_count "$id" replay_answered)" -ge 1 ] || fail "the replay was not answered from the ledger"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the used token ran again after the restore"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 1 ] || fail "a second execution row"
ok "the recorded order replayed on the restored stack: answered from the ledger, nothing ran"

nid=$(new_id)
jq -cn --arg id "$nid" --argjson r "$(request_json "$nid" test agent-7 "docker inspect wingman-test-demo")" \
	'{topic: "wingman.requests", key: $id, value: $r}' |
	stage consensus | stage approval | stage token | stage executor >"$T/new" || fail "pipeline failed"
[ "$(jq -r 'select(.topic == "wingman.results") | .value.status' "$T/new")" = executed ] ||
	fail "a new request on the restored stack: $(cat "$T/new")"
"$W" audit verify >/dev/null || fail "the chain broke after new rows"
ok "a new request runs through the four stages on the restored stack; the chain goes on"
