# shellcheck shell=bash disable=SC2034
# Shared helpers for scripts/stack, scripts/test, scripts/demo.
# Source it; it only defines variables and functions.

# Repository root: this file lives in <repo>/scripts. (SC2034 is off: the
# variables here are used by the scripts that source this file.)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${WINGMAN_BUILD_DIR:-$REPO/build}"
STATE="${WINGMAN_STATE_DIR:-/var/tmp/wingman}"
CACHE="${WINGMAN_CACHE_DIR:-/var/cache/wingman}"

# Kafka is pinned: the jar cache directory carries the version, so a bump
# fetches a fresh set (scripts/kafka/pom.xml has the same number).
KAFKA_VERSION=4.1.1
KAFKA_JARS="$CACHE/kafka-$KAFKA_VERSION"

# Debian packages the project needs to build, test and run its local stack.
WINGMAN_PACKAGES=(
  build-essential cmake pkg-config
  librdkafka-dev libhiredis-dev libjansson-dev libssl-dev libpq-dev
  libcurl4-openssl-dev libcmocka-dev libmicrohttpd-dev
  redis-server postgresql docker.io busybox-static
  maven openjdk-17-jre-headless
  python3 python3-jsonschema python3-yaml python3-venv
  curl clang clang-format libclang-rt-14-dev jq python3-jwcrypto
  prometheus # promtool, for tests/integration/test_metrics.sh
  docker-compose debootstrap
  openssl # the throw-away CA of tests/integration/test_tls.sh
)

say()  { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# wait_for SECONDS WHAT CMD...: run CMD every half second until it succeeds.
# Returns 1 (without exiting) after SECONDS so the caller can show its log.
wait_for() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      printf 'ERROR: %s did not come up within %ss\n' "$what" "$timeout" >&2
      return 1
    fi
    sleep 0.5
  done
}

# wait_daemon PIDFILE SECONDS WHAT CMD...: like wait_for, but gives up at
# once when the daemon in PIDFILE has exited (no point waiting the timeout).
wait_daemon() {
  local pidfile="$1" timeout="$2" what="$3"; shift 3
  local deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pidfile"; then
      printf 'ERROR: %s exited while starting\n' "$what" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      printf 'ERROR: %s did not come up within %ss\n' "$what" "$timeout" >&2
      return 1
    fi
    sleep 0.5
  done
}

# show_log FILE [LINES]: the tail of a log, for failure messages.
show_log() {
  local file="$1" lines="${2:-40}"
  if [[ -s "$file" ]]; then
    printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '---- end of %s ----\n' "$file" >&2
  else
    printf '(no log at %s)\n' "$file" >&2
  fi
}

# pid_alive FILE: the process whose id is in FILE is still running.
pid_alive() {
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(cat "$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# stop_pid FILE NAME [SECONDS]: SIGTERM the process in FILE, wait, then SIGKILL.
stop_pid() {
  local file="$1" name="$2" timeout="${3:-30}" pid
  if ! pid_alive "$file"; then
    rm -f "$file"
    return 0
  fi
  pid="$(cat "$file")"
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "$name (pid $pid) ignored SIGTERM for ${timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$file"
}

# start_bg PIDFILE LOGFILE CMD...: start a daemon in its own session with
# every standard stream away from the caller, so a CI runner that reads our
# output is not kept waiting by a daemon holding its pipe open. fd 9 is
# closed too: it is scripts/stack's lock, which a daemon must not inherit.
start_bg() {
  local pidfile="$1" logfile="$2"; shift 2
  setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  echo $! >"$pidfile"
}

# stop_build_daemons DIR: end the programs of DIR/services still running,
# daemons a killed (timed-out) test left behind; they would keep consuming
# in the tests' consumer groups. Found by executable path, ended by pid.
stop_build_daemons() {
  local dir p exe pids=()
  dir="$(cd "$1" 2>/dev/null && pwd -P)" || return 0
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null)" || continue
    [[ "$exe" == "$dir"/services/* ]] && pids+=("${p#/proc/}")
  done
  ((${#pids[@]} == 0)) && return 0
  say "stopping ${#pids[@]} leftover process(es) of $dir/services: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for p in $(seq 20); do
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# missing_packages: print the Debian packages of WINGMAN_PACKAGES not installed.
missing_packages() {
  local p status
  for p in "${WINGMAN_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [[ "$status" == installed ]] || printf '%s\n' "$p"
  done
}

# ensure_packages: install what is missing (apt-get update first, only then).
ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) && return 0
  say "installing Debian packages: ${missing[*]}"
  [[ $(id -u) -eq 0 ]] || die "packages missing (${missing[*]}) and not root to install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || die "apt-get update failed"
  apt-get install -y -q "${missing[@]}" || die "apt-get install failed for: ${missing[*]}"
}

# build: configure and compile into $BUILD (sanitizers per WINGMAN_SANITIZE,
# failpoints per WINGMAN_FAILPOINTS).
build() {
  say "building into $BUILD (WINGMAN_SANITIZE=${WINGMAN_SANITIZE:-OFF}, WINGMAN_FAILPOINTS=${WINGMAN_FAILPOINTS:-OFF})"
  cmake -S "$REPO" -B "$BUILD" -DWINGMAN_SANITIZE="${WINGMAN_SANITIZE:-OFF}" \
    -DWINGMAN_FAILPOINTS="${WINGMAN_FAILPOINTS:-OFF}" &&
    cmake --build "$BUILD" -j2
}
