#!/usr/bin/env bash
# A daemon's memory holds its private key: every daemon turns core dumps
# off as it starts (service_init: RLIMIT_CORE 0, soft and hard, and
# PR_SET_DUMPABLE 0). Checked on the running processes through
# /proc/PID/limits; the hard limit is the one only our code sets (ASan
# builds lower the soft one by themselves).
. "$(dirname "$0")/lib.sh"

start_daemons
names=(consensus approval token executor)
for i in "${!DAEMON_PIDS[@]}"; do
	pid=${DAEMON_PIDS[$i]}
	# Until the daemon has reached service_init (it is up within seconds).
	for _ in $(seq 1 100); do
		line=$(grep '^Max core file size' "/proc/$pid/limits") || fail "${names[$i]}: no limits"
		read -r -a f <<<"${line#Max core file size}"
		[ "${f[0]} ${f[1]}" = "0 0" ] && break
		sleep 0.1
	done
	[ "${f[0]} ${f[1]}" = "0 0" ] || fail "wingman-${names[$i]}: $line"
	ok "wingman-${names[$i]}: core file size 0 (soft and hard)"
done
daemons_alive
echo "$checks passed, 0 failed"
