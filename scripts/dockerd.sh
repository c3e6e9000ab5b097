# shellcheck shell=bash
# A dockerd of its own beside the machine's, for scripts/stack with
# WINGMAN_STACK_DOCKERD=private and for the fault harness's dockerd-restart:
# its own socket, data root, exec root, pid file and managed containerd; no
# bridge, no iptables. Everything in it is its owner's, so two stacks never
# see each other's containers, events or restart counts.
#
# DIR holds the socket (DIR/docker.sock), the data root, the pid file and
# daemon.json. EXEC is the exec root: short, because containerd's socket
# lives under it and a unix socket path is at most 107 bytes.
#
# Source it; it only defines functions. The pid of the running engine is in
# PRIVATE_DOCKERD_PID after private_dockerd_start.

private_dockerd_ping() { # SOCK
	[ "$(curl -s --max-time 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}

# private_dockerd_start DIR EXEC LOG: start the engine, as a child of this
# shell, and wait until it answers; 1 if it does not.
private_dockerd_start() {
	local dir=$1 exec_root=$2 log=$3 try i pid
	mkdir -p "$dir"
	[ -f "$dir/daemon.json" ] || echo '{}' >"$dir/daemon.json"
	for try in 1 2; do
		setsid dockerd -H "unix://$dir/docker.sock" --data-root "$dir/data" \
		    --exec-root "$exec_root" --pidfile "$dir/dockerd.pid" \
		    --config-file "$dir/daemon.json" --bridge=none --iptables=false \
		    --ip-forward=false --ip-masq=false --userland-proxy=false \
		    </dev/null >>"$log" 2>&1 9>&- &
		pid=$!
		for i in $(seq 1 120); do
			if private_dockerd_ping "$dir/docker.sock"; then
				PRIVATE_DOCKERD_PID=$pid
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		# Seen once: the managed containerd of an engine killed before
		# still runs and the new engine cannot reach it ("timeout waiting
		# for containerd to start"). Stop that containerd (the containers'
		# shims outlive it) and start the engine once more.
		private_dockerd_stop_pid "$pid"
		private_dockerd_kill_containerd "$exec_root" "$log"
	done
	PRIVATE_DOCKERD_PID=
	return 1
}

# private_dockerd_stop_pid PID: SIGTERM, up to 60 s (dockerd stops its
# containers first), then SIGKILL.
private_dockerd_stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 600); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# private_dockerd_kill_containerd EXEC LOG: the managed containerd of the
# engine with this exec root, if one runs, and only that one.
private_dockerd_kill_containerd() {
	local f=$1/containerd/containerd.pid p
	[ -s "$f" ] || return 0
	p=$(cat "$f")
	tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$1/" || return 0
	echo "stopping the stale containerd $p of $1" >>"$2"
	kill -KILL "$p" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}

# private_dockerd_remove DIR EXEC LOG [PID]: stop the engine (PID, or the
# one DIR/dockerd.pid names if it is still this socket's dockerd), unmount
# and remove everything it left. An engine killed earlier is started once
# more first, so that it stops its containers' shims itself.
private_dockerd_remove() {
	local dir=$1 exec_root=$2 log=$3 pid=${4:-} m
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
		pid=
	fi
	if [ -z "$pid" ] && [ -s "$dir/dockerd.pid" ]; then
		m=$(cat "$dir/dockerd.pid")
		if tr '\0' ' ' 2>/dev/null <"/proc/$m/cmdline" |
		    grep -qF -- "-H unix://$dir/docker.sock "; then
			pid=$m
		fi
	fi
	if [ -z "$pid" ] && [ -n "$(ls -A "$dir/data/containers" 2>/dev/null)" ] &&
	    private_dockerd_start "$dir" "$exec_root" "$log"; then
		pid=$PRIVATE_DOCKERD_PID
	fi
	[ -z "$pid" ] || private_dockerd_stop_pid "$pid"
	PRIVATE_DOCKERD_PID=
	# (set -e and pipefail safe: none is an answer too.)
	findmnt -rn -o TARGET | { grep -E "^($dir|$exec_root)/" || true; } | sort -r | while read -r m; do
		umount -l "$m" || true
	done
	if mountpoint -q "$dir/data" 2>/dev/null; then umount -l "$dir/data"; fi
	if mountpoint -q "$exec_root" 2>/dev/null; then umount -l "$exec_root"; fi
	rm -rf "$dir" "$exec_root"
}
