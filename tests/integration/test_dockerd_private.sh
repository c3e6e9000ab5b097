#!/usr/bin/env bash
# scripts/dockerd.sh: the dockerd of a stack's own (scripts/stack,
# WINGMAN_STACK_DOCKERD=private) and of the fault harness's dockerd-restart.
# It starts beside the machine's engine, runs a container that engine does
# not see, comes back after a kill -9 that leaves its containerd running,
# and its removal leaves no process, mount or directory behind.
. "$WINGMAN_SOURCE_DIR/tests/integration/lib.sh"
. "$src/scripts/dockerd.sh"

D=$T/pd
# Short, as containerd's socket lives under it; named after this test run.
X=/run/wingman-pdtest-$$
C=wingman-test-pdtest-$$
pd() { docker -H "unix://$D/docker.sock" "$@"; }
trap 'private_dockerd_remove "$D" "$X" "$T/dockerd.log" "${PRIVATE_DOCKERD_PID:-}"; cleanup' EXIT

say "start"
private_dockerd_start "$D" "$X" "$T/dockerd.log" || fail "the private dockerd did not come up"
first=$PRIVATE_DOCKERD_PID
[ "$(curl -s --unix-socket "$D/docker.sock" http://localhost/_ping)" = OK ] || fail "no answer on $D/docker.sock"
ok "a private dockerd answers on its own socket"

docker -H "unix://$DOCKER_SOCKET" save wingman/busybox:local | pd load >/dev/null ||
	fail "cannot load the test image into the private dockerd"
pd run -d --name "$C" --network none wingman/busybox:local \
	/bin/sh -c 'trap "exit 0" TERM; while :; do sleep 1; done' >/dev/null ||
	fail "cannot run a container in the private dockerd"
[ "$(pd inspect -f '{{.State.Running}}' "$C")" = true ] || fail "$C is not running"
! docker -H "unix://$DOCKER_SOCKET" inspect "$C" >/dev/null 2>&1 ||
	fail "the stack's engine sees the private engine's container"
ok "its container runs there and only there"

say "kill -9, start again"
containerd=$(cat "$X/containerd/containerd.pid" 2>/dev/null || true)
kill -KILL "$first"
wait "$first" 2>/dev/null || true
PRIVATE_DOCKERD_PID=
private_dockerd_start "$D" "$X" "$T/dockerd.log" || fail "the private dockerd did not come back"
[ "$PRIVATE_DOCKERD_PID" != "$first" ] || fail "the same pid answered after kill -9"
pd inspect "$C" >/dev/null || fail "$C is gone after the engine came back"
# Shown, not asserted: whether the first start met the old containerd.
retried=$(grep -c "stopping the stale containerd" "$T/dockerd.log" || true)
ok "after kill -9 (containerd ${containerd:-?} left running) it comes back with its container (stale containerd stopped: $retried)"

say "remove"
p=$PRIVATE_DOCKERD_PID
private_dockerd_remove "$D" "$X" "$T/dockerd.log" "$p"
PRIVATE_DOCKERD_PID=
! kill -0 "$p" 2>/dev/null || fail "dockerd $p still runs"
left=$(pgrep -f -- "$X/|$D/" || true)
[ -z "$left" ] || fail "processes of the private engine left: $left"
! findmnt -rn -o TARGET | grep -qE "^($D|$X)(/|$)" || fail "mounts left under $D or $X"
[ ! -e "$D" ] && [ ! -e "$X" ] || fail "$D or $X left behind"
ok "removed: no process, mount or directory left"
