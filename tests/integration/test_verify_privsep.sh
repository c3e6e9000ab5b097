#!/usr/bin/env bash
# scripts/verify-privsep accepts the shipped docker-compose.yml and rejects
# every way of breaking the privilege split: the Docker socket or the token
# private key in the wrong service (short, long, secret and ${VAR} forms),
# and a wingman service without read_only / cap_drop ALL / no-new-privileges.
# Each bad case must exit 1 and name the service and the rule.
set -euo pipefail

src=${WINGMAN_SOURCE_DIR:?WINGMAN_SOURCE_DIR must point at the repository}
V=$src/scripts/verify-privsep
T=$(mktemp -d "${TMPDIR:-/tmp}/wingman-privsep.XXXXXX")
trap 'rm -rf "$T"' EXIT
checks=0

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ok() { checks=$((checks + 1)); printf 'ok %d - %s\n' "$checks" "$*"; }

# expect_ok FILE
expect_ok() {
	local out rc=0
	out=$("$V" "$1" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "$1: expected exit 0, got $rc: $out"
	grep -qF "privsep OK: $1" <<<"$out" || fail "$1: no 'privsep OK' line: $out"
	ok "accepted $(basename "$1")"
}

# expect_fail FILE SERVICE RULE: exit 1 and a line naming both.
expect_fail() {
	local file=$1 service=$2 rule=$3 out rc=0
	out=$("$V" "$file" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "$file: expected exit 1, got $rc: $out"
	grep -q "privsep FAIL: .*service $service: rule $rule:" <<<"$out" ||
		fail "$file: no failure naming service $service and rule $rule: $out"
	if grep -q 'privsep OK' <<<"$out"; then fail "$file: printed OK despite failing: $out"; fi
	ok "rejected $(basename "$file"): $service / $rule"
}

# variant NAME PYTHON: docker-compose.yml loaded as `d`, changed by PYTHON,
# written to $T/NAME.yml.
variant() {
	python3 - "$src/docker-compose.yml" "$T/$1.yml" "$2" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
s = d["services"]
exec(sys.argv[3])
yaml.safe_dump(d, open(sys.argv[2], "w"), sort_keys=False)
EOF
}

# The shipped file passes, and so does the same file after a YAML round trip
# (so the variants below differ from it only by their one change).
expect_ok "$src/docker-compose.yml"
variant same 'pass'
expect_ok "$T/same.yml"

# The checked-in bad copy: socket into wingman-approval.
expect_fail "$src/tests/fixtures/compose-socket-leak.yml" wingman-approval docker-socket

# Socket: long syntax, another path, through a variable, through /var/run.
variant sock-long 's["wingman-consensus"]["volumes"].append({"type": "bind", "source": "/run/docker.sock", "target": "/x.sock"})'
expect_fail "$T/sock-long.yml" wingman-consensus docker-socket
variant sock-var 's["wingman-token"]["volumes"].append("${SOCK:-/var/run/docker.sock}:/var/run/docker.sock")'
expect_fail "$T/sock-var.yml" wingman-token docker-socket
variant sock-dir 's["redis"]["volumes"].append("/var/run:/host-run:ro")'
expect_fail "$T/sock-dir.yml" redis docker-socket

# Token private key: a file, the whole keys directory, a compose secret.
variant key-file 's["wingman-executor"]["volumes"].append("./keys/token.key:/run/wingman/keys/token.key:ro")'
expect_fail "$T/key-file.yml" wingman-executor token-key
variant key-dir 's["wingman-approval"]["volumes"].append({"type": "bind", "source": "./keys", "target": "/run/wingman/keys", "read_only": True})'
expect_fail "$T/key-dir.yml" wingman-approval token-key
variant key-secret 'd["secrets"]["tk"] = {"file": "./keys/token.key"}; s["wingman-consensus"]["secrets"] = ["pgpass", "tk"]'
expect_fail "$T/key-secret.yml" wingman-consensus token-key
# The keys-token volume (wingman-init makes token.key there): in another
# service, or in the init job's place under another name.
variant key-volume 's["wingman-consensus"]["volumes"].append("keys-token:/run/wingman/token:ro")'
expect_fail "$T/key-volume.yml" wingman-consensus token-key
variant key-volume-long 's["kafka"]["volumes"].append({"type": "volume", "source": "keys-token", "target": "/k"})'
expect_fail "$T/key-volume-long.yml" kafka token-key
variant key-init-renamed 's["wingman-keys"] = s.pop("wingman-init")'
expect_fail "$T/key-init-renamed.yml" wingman-keys token-key
# A directory on disk that holds a token.key, whatever its name.
mkdir -p "$T/deploy/k" && : >"$T/deploy/k/token.key"
variant key-parent 's["wingman-executor"]["volumes"].append("./deploy:/deploy:ro")'
expect_fail "$T/key-parent.yml" wingman-executor token-key

# Hardening of every wingman service.
variant no-ro 's["wingman-token"]["read_only"] = False'
expect_fail "$T/no-ro.yml" wingman-token read-only
variant no-capdrop 'del s["wingman-executor"]["cap_drop"]'
expect_fail "$T/no-capdrop.yml" wingman-executor cap-drop
variant no-nnp 's["wingman-approval"]["security_opt"] = []'
expect_fail "$T/no-nnp.yml" wingman-approval no-new-privileges
variant privileged 's["wingman-executor"]["privileged"] = True'
expect_fail "$T/privileged.yml" wingman-executor privileged

# An unreadable file is an error (2), not a pass.
rc=0
"$V" "$T/does-not-exist.yml" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "missing file: expected exit 2, got $rc"
ok "missing file is an error"

printf '%d passed, 0 failed\n' "$checks"
