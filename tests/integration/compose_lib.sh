# Shared by test_compose.sh and test_compose_ha.sh (sourced, not a test):
# set P (project), T (a fresh temporary directory), TARGET (the target
# container) and COMPOSE_FILES (the -f files) first.
# Needs root, dockerd, docker-compose and debootstrap (scripts/lib.sh).
src=${WINGMAN_SOURCE_DIR:?}
build=${WINGMAN_BUILD_DIR:?}
W=$build/services/cli/wingman
checks=0
t0=$SECONDS

say() { printf '== [%3ds] %s\n' $((SECONDS - t0)) "$*"; }
ok() { checks=$((checks + 1)); printf 'ok %d - %s\n' "$checks" "$*"; }
# compose_on_fail, when a test defines it, runs first (stops its helpers).
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	! declare -F compose_on_fail >/dev/null || compose_on_fail
	dc ps >&2 || true
	dc logs --no-color --tail 15 >&2 2>/dev/null || true
	exit 1
}

# Compose runs on the machine's engine even beside a stack with a dockerd of
# its own (scripts/stack, WINGMAN_STACK_DOCKERD=private): the images are
# built there, and the networks it checks need a bridge and iptables.
export DOCKER_HOST=unix:///var/run/docker.sock
mkdir -p "$T/trusted" "$T/export" "$T/operator"
export WINGMAN_TRUSTED_DIR=$T/trusted WINGMAN_EXPORT_DIR=$T/export WINGMAN_OPERATOR_DIR=$T/operator
export DOCKER_GID
DOCKER_GID=$(stat -c %g /var/run/docker.sock)
# The telegram profile is off; its secret file need not exist (compose v1
# warns about it all the same).
export WINGMAN_TELEGRAM_BOT_TOKEN_FILE=$T/no-bot-token

# docker-compose on the test's files, quiet about the telegram secret, time-bounded.
dc() {
	local f args=()
	for f in "${COMPOSE_FILES[@]}"; do args+=(-f "$f"); done
	timeout 300 docker-compose -p "$P" "${args[@]}" "$@" 2> >(grep -v 'telegram_bot_token\|no-bot-token' >&2)
}
# `down [ARGS]` of the project (-v: the volumes too). The engine can keep a
# stale endpoint on a network after the endpoint's container is gone
# (moby/moby#43286, seen here once in CI on an internal network); compose
# v1 then stops at that network, before the volumes, and every later
# `down` stops there too. An endpoint whose container no longer exists is
# disconnected by force and `down` runs again; one whose container exists
# is a real leftover, and so is every other error: the log goes to stderr.
compose_down() { # [ARGS...]
	local try net name
	for try in 1 2 3; do
		dc down --remove-orphans "$@" >"$T/down.log" 2>&1 && return 0
		grep -q 'has active endpoints' "$T/down.log" || break
		net=$(sed -n 's/.*error while removing network: network \([^ ]*\) .*/\1/p' "$T/down.log" | head -n 1)
		[ -n "$net" ] || break
		for name in $(grep -o 'name:"[^"]*"' "$T/down.log" | sed 's/^name:"\(.*\)"$/\1/'); do
			if docker container inspect "$name" >/dev/null 2>&1; then
				echo "down: container $name is still on network $net" >&2
				break 2
			fi
			say "the engine kept the endpoint $name on $net after its container was removed: disconnect -f ($try)"
			docker network disconnect -f "$net" "$name" >&2 || true
		done
	done
	cat "$T/down.log" >&2
	return 1
}
# The agent: the CLI on the host, the agent principal, through BROKERS.
agent_at() { # BROKERS ARGS...
	local b=$1
	shift
	WINGMAN_KAFKA_BROKERS=$b WINGMAN_KAFKA_CONFIG=$T/export/kafka-agent.properties \
		WINGMAN_KEYS_DIR=$T/export WINGMAN_PG_CONNINFO= timeout 180 "$W" "$@"
}
# The operator: the CLI in the wingman-admin container.
operator() { dc run --rm -T wingman-admin "$@"; }

# One compose test at a time on this machine: the project names, the ports
# and the target containers are fixed, and the two share dockerd, the image
# builds and the cores. Taken before the test's cleanup trap is set, so a
# run that gives up never takes down the stack of the one that runs.
compose_lock() { # SECONDS
	exec 8>/var/tmp/wingman-compose-test.lock
	flock -w "$1" 8 || { rm -rf "$T"; echo "FAIL: another compose test still runs" >&2; exit 1; }
	(((SECONDS - t0) < 2)) || say "waited $((SECONDS - t0)) s for another compose test to finish"
	t0=$SECONDS
}

# The tools, the build, no leftovers of a killed run, the ports free.
compose_preflight() { # PORT_VARIABLE PORT...
	local var=$1 tool p
	shift
	for tool in docker-compose debootstrap jq; do
		command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/lib.sh WINGMAN_PACKAGES)"
	done
	[ -x "$W" ] || fail "$W is not built"
	compose_down -v 2>/dev/null || true
	docker rm -f "$TARGET" >/dev/null 2>&1 || true
	for p in "$@"; do
		! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null ||
			fail "127.0.0.1:$p is taken: set $var to a free port"
	done
}

# The images (deploy/build-images, cached by content hash), and the keys
# the operator brings: the approvers of config/policy.json and the signing
# agent; only their public halves are trusted by the stack.
compose_images_and_keys() {
	local s0=$SECONDS n
	say "building the images (cached when built before)"
	"$src/deploy/build-images" >"$T/build.log" 2>&1 || { tail -n 40 "$T/build.log" >&2; fail "deploy/build-images"; }
	ok "images ready ($((SECONDS - s0)) s)"
	for n in approver-alice approver-bob approver-demo worker-agent-7; do
		"$W" keygen --out "$T/operator" --name "$n" >/dev/null
		cp "$T/operator/$n.pub" "$T/trusted/"
	done
	# The admin container's user reads the approver key.
	chown -R 10001:10001 "$T/operator"
}

# Health (or state, for what has no health check) of CONTAINER (e.g. kafka_1).
state() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "${P}_$1" 2>/dev/null || echo missing; }
wait_healthy_containers() { # SECONDS CONTAINER...
	local deadline=$((SECONDS + $1)) c bad
	shift
	while :; do
		bad=""
		for c in "$@"; do
			[ "$(state "$c")" = healthy ] || bad="$bad $c:$(state "$c")"
		done
		[ -z "$bad" ] && return 0
		((SECONDS < deadline)) || fail "not healthy:$bad"
		sleep 2
	done
}

# The target container commands are run on: no network, stops at once.
start_target() {
	docker run -d --name "$TARGET" --network none --label wingman.test=1 wingman/debian:bookworm \
		sh -c 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done' >/dev/null
}
