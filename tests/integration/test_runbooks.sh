#!/usr/bin/env bash
# The runbooks run, so they cannot rot: every ```sh runbook block of
# docs/runbooks/*.md is extracted and run, in the order a reader meets
# them, one runbook after another in one environment (docs/runbooks/README.md
# says which: the stack's variables, wingman and its daemons on PATH, a
# scratch directory, and wingman_start/stop/restart for "start the
# service"). A block that fails fails the test, naming the runbook and the
# block's line. Blocks marked plain ```sh need compose or Telegram and are
# only counted. On a copy of the keys and a database of the test's own.
. "$(dirname "$0")/lib.sh"

RB=$src/docs/runbooks
# backup-restore last: after a restore, checkpoints published since the
# backup are (rightly) reported missing by audit verify --kafka.
ORDER=(deploy-prd upgrade rotate-keys approve-telegram incident-response troubleshoot-stuck
	backup-restore)

say "every runbook is in the list and has runnable blocks"
for f in "$RB"/*.md; do
	n=$(basename "$f" .md)
	[ "$n" = README ] && continue
	[[ " ${ORDER[*]} " == *" $n "* ]] || fail "docs/runbooks/$n.md is not run by this test (add it to ORDER)"
done
for n in "${ORDER[@]}"; do
	[ -f "$RB/$n.md" ] || fail "docs/runbooks/$n.md is missing"
	[ "$(grep -c '^```sh runbook$' "$RB/$n.md")" -ge 1 ] || fail "$n.md has no runnable block"
done
ok "${#ORDER[@]} runbooks, each with runnable blocks"

# The environment of docs/runbooks/README.md.
private_database wingman_runbooks
"$W" migrate --conninfo "$WINGMAN_PG_OWNER_CONNINFO" >"$T/migrate.log" || fail "migrate: $(cat "$T/migrate.log")"
"$KT" truncate wingman.audit-checkpoints >/dev/null || fail "cannot empty wingman.audit-checkpoints"
cp -a "$WINGMAN_KEYS_DIR" "$T/keys"
export WINGMAN_KEYS_DIR=$T/keys
export RUNBOOK_SCRATCH=$T/scratch RUNBOOK_PIDS=$T/pids RUNBOOK_LOGS=$T
mkdir -p "$RUNBOOK_SCRATCH" "$RUNBOOK_PIDS"
export WINGMAN_AUDIT_CHECKPOINT_S=5
# scripts/backup and scripts/restore act on this test's database.
export WINGMAN_BACKUP_DB=$PRIVATE_DB
export WINGMAN_BACKUP_PG="${WINGMAN_PG_OWNER_CONNINFO/user=wingman/user=postgres}"
# Where the smoke tests point on this stack (prd's are not here).
export SMOKE_ENV=test SMOKE_CONTAINER=wingman-test-demo SMOKE_WORKER=agent-7
# The bot's settings, for its configuration check (it never starts here).
(umask 077; echo "123456789:AAtestTOKENtestTOKENtestTOKENtestTOKE" >"$T/telegram.token")
export WINGMAN_TELEGRAM_TOKEN_FILE=$T/telegram.token WINGMAN_TELEGRAM_CHAT_ID=-1001234567890 \
	WINGMAN_TELEGRAM_APPROVERS=123456789=alice,987654321=bob
PATH=$build/services/cli:$PATH
for s in consensus approval token executor auditor telegram; do PATH=$build/services/$s:$PATH; done
export PATH

cat >"$T/prelude.sh" <<'EOF'
set -euo pipefail
# wingman_start/stop/restart SERVICE...: how this stack starts a service
# (compose: docker-compose start/stop/restart SERVICE), each with its own
# database role, the Redis URL for the executor alone.
wingman_start() {
	local s v
	for s in "$@"; do
		v=WINGMAN_PG_CONNINFO_${s^^}
		if [ "$s" = executor ]; then
			WINGMAN_PG_CONNINFO=${!v} setsid "wingman-$s" </dev/null >>"$RUNBOOK_LOGS/$s.log" 2>&1 9>&- &
		else
			WINGMAN_PG_CONNINFO=${!v} setsid env -u WINGMAN_REDIS_URL "wingman-$s" \
				</dev/null >>"$RUNBOOK_LOGS/$s.log" 2>&1 9>&- &
		fi
		echo $! >"$RUNBOOK_PIDS/$s.pid"
	done
}
wingman_stop() {
	local s p i
	for s in "$@"; do
		[ -s "$RUNBOOK_PIDS/$s.pid" ] || continue
		p=$(cat "$RUNBOOK_PIDS/$s.pid")
		kill -TERM "$p" 2>/dev/null || true
		for i in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		rm -f "$RUNBOOK_PIDS/$s.pid"
	done
}
wingman_restart() { wingman_stop "$@"; wingman_start "$@"; }
EOF

stop_runbook_daemons() {
	local f
	for f in "$RUNBOOK_PIDS"/*.pid; do
		[ -s "$f" ] && stop_pid "$(cat "$f")"
		rm -f "$f"
	done
}
trap 'stop_runbook_daemons; cleanup' EXIT

# extract FILE: the runnable blocks as one script, each announced with its line.
extract() {
	awk -v file="$(basename "$1")" '
		/^```sh runbook$/ { inblock = 1; printf "echo \"-- %s line %d\" >&2\n", file, NR; next }
		/^```$/ && inblock { inblock = 0; print ""; next }
		inblock { print }
	' "$1"
}

skipped=0
for n in "${ORDER[@]}"; do
	say "runbook $n"
	{ printf '. %q\ncd %q\n' "$T/prelude.sh" "$src"; extract "$RB/$n.md"; } >"$T/rb-$n.sh"
	if ! bash "$T/rb-$n.sh" >"$T/rb-$n.out" 2>&1; then
		tail -n 40 "$T/rb-$n.out" >&2
		fail "runbook $n failed at $(grep -- '^-- ' "$T/rb-$n.out" | tail -n 1 | cut -c4-)"
	fi
	blocks=$(grep -c '^```sh runbook$' "$RB/$n.md")
	plain=$(grep -c '^```sh$' "$RB/$n.md" || true)
	skipped=$((skipped + plain))
	ok "$n: $blocks block(s) run, $plain marked not run (compose or Telegram)"
done
say "$skipped block(s) in all are marked not run"
