#!/usr/bin/env bash
# `wingman token mint` and `wingman token verify` (the contract in the
# README): a minted token verifies; every forgery, mismatch and malformed
# input ends with exit 1 and "CODE: words" on standard error, whatever its
# size; never a crash. No services needed: keys are made here.
set -euo pipefail

build=${WINGMAN_BUILD_DIR:?}
W=$build/services/cli/wingman
JT=$build/tests/jws_tool
T=$(mktemp -d "${TMPDIR:-/tmp}/wingman-token-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
checks=0

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ok() { checks=$((checks + 1)); printf 'ok %d - %s\n' "$checks" "$*"; }

mkdir -m 700 "$T/keys" "$T/evil"
"$W" keygen --out "$T/keys" --name token >/dev/null
"$W" keygen --out "$T/evil" --name token >/dev/null
K=$T/keys
CMD="docker restart wingman-test-api"
RID=7d0c9f5e-3b1a-4c51-9b7e-2f4a9d0c1e22

mint() { "$W" token mint --key "$K/token.key" --kid token --sub agent-7 --env test \
    --request-id "$RID" --cmd "$CMD" --ttl 120 "$@"; }
verify() { "$W" token verify --pub "$K/token.pub" --kid token --env test --cmd "$CMD" "$@"; }

# expect_verdict WHAT CODE ARGS...: verify must exit 1 with "CODE: " first on stderr.
expect_verdict() {
	local what=$1 code=$2 rc
	shift 2
	set +e
	verify "$@" >"$T/out" 2>"$T/err"
	rc=$?
	set -e
	[ $rc -eq 1 ] || fail "$what: exit $rc (want 1): $(head -c 300 "$T/err")"
	[ ! -s "$T/out" ] || fail "$what: printed claims for a refused token"
	grep -q "^$code: " "$T/err" || fail "$what: want $code, got: $(head -c 300 "$T/err")"
	ok "$what: $code"
}

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

say() { printf '== %s\n' "$*"; }

say "mint and verify"
tok=$(mint --approved-by alice --approved-by bob)
claims=$(verify "$tok") || fail "a fresh token does not verify"
jq -e --arg cmd "$CMD" --arg rid "$RID" '.iss == "wingman-token" and .aud == "wingman-executor"
    and .sub == "agent-7" and .env == "test" and .request_id == $rid and .cmd == $cmd
    and .approved_by == ["alice", "bob"] and (.jti | test("^[A-Za-z0-9_-]{22,}$"))
    and .exp - .iat == 120 and .nbf == .iat' <<<"$claims" >/dev/null ||
    fail "claims: $claims"
hdr=$(cut -d. -f1 <<<"$tok")
[ "$hdr" = "$(printf '{"alg":"EdDSA","kid":"token","typ":"JWT"}' | b64url)" ] ||
    fail "header is not {alg:EdDSA,kid,typ:JWT}: $hdr"
ok "minted token verifies; header and claims as specified"
[ "$(verify --request-id "$RID" - <<<"$tok")" = "$claims" ] || fail "stdin verify differs"
ok "verify reads the token from standard input with -"
[ "$(jq -c .approved_by <<<"$(verify "$(mint)")")" = '["cli"]' ] || fail "default approved_by"
ok "approved_by defaults to [\"cli\"]"
j1=$(verify "$(mint)" | jq -r .jti)
j2=$(verify "$(mint)" | jq -r .jti)
[ "$j1" != "$j2" ] || fail "two mints share a jti"
ok "each mint has its own jti"

say "mismatches"
expect_verdict "other command" TOKEN_CMD_MISMATCH --cmd "docker restart wingman-test-demo" "$tok"
expect_verdict "command with a trailing blank" TOKEN_CMD_MISMATCH --cmd "$CMD " "$tok"
expect_verdict "other environment" TOKEN_WRONG_ENV --env prd "$tok"
expect_verdict "other request" TOKEN_REQUEST_MISMATCH --request-id other-request "$tok"
set +e; "$W" token verify --pub "$K/token.pub" --kid other --env test --cmd "$CMD" "$tok" 2>"$T/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q '^TOKEN_UNKNOWN_KID: ' "$T/err" || fail "other kid: $rc $(cat "$T/err")"
ok "kid not the trusted one: TOKEN_UNKNOWN_KID"

say "forgeries"
evil=$("$W" token mint --key "$T/evil/token.key" --kid token --sub agent-7 --env test \
    --request-id "$RID" --cmd "$CMD" --ttl 120)
expect_verdict "signed by another key under our kid" TOKEN_BAD_SIGNATURE "$evil"
payload=$(cut -d. -f2 <<<"$tok" | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
altered=$(base64 -d <<<"$payload" | jq -c '.cmd = "docker exec wingman-test-api sh"' | b64url)
expect_verdict "claims altered, signature kept" TOKEN_BAD_SIGNATURE \
    --cmd "docker exec wingman-test-api sh" "$hdr.$altered.$(cut -d. -f3 <<<"$tok")"
for alg in none HS256 RS256 ES256 EdDSA. eddsa ED25519; do
	h=$(jq -cn --arg a "$alg" '{alg: $a, kid: "token", typ: "JWT"}' | b64url)
	expect_verdict "alg $alg" TOKEN_BAD_ALG "$h.$(cut -d. -f2,3 <<<"$tok")"
done
h=$(printf '{"alg":"none","kid":"token"}' | b64url)
expect_verdict "alg none, empty signature" TOKEN_MALFORMED "$h.$(cut -d. -f2 <<<"$tok")."
h=$(printf '{"alg":"EdDSA","kid":"token","crit":["exp"]}' | b64url)
expect_verdict "crit header" TOKEN_BAD_HEADER "$h.$(cut -d. -f2,3 <<<"$tok")"
h=$(printf '{"alg":"EdDSA","alg":"none","kid":"token"}' | b64url)
expect_verdict "duplicate alg" TOKEN_BAD_HEADER "$h.$(cut -d. -f2,3 <<<"$tok")"

say "time"
now=$(date +%s)
claims_at() { # IAT NBF EXP
	jq -cn --arg rid "$RID" --arg cmd "$CMD" --argjson iat "$1" --argjson nbf "$2" --argjson exp "$3" \
	    '{sub: "agent-7", env: "test", request_id: $rid, cmd: $cmd, approved_by: ["alice"],
	      jti: "AAAAAAAAAAAAAAAAAAAAAA", iat: $iat, nbf: $nbf, exp: $exp}' |
	    "$JT" mint "$K/token.key" token
}
expect_verdict "expired a minute ago" TOKEN_EXPIRED "$(claims_at $((now - 180)) $((now - 180)) $((now - 60)))"
expect_verdict "valid only in ten minutes" TOKEN_NOT_YET_VALID \
    "$(claims_at $((now + 600)) $((now + 600)) $((now + 700)))"
verify "$(claims_at $((now - 120)) $((now - 120)) $((now - 10)))" >/dev/null ||
    fail "expired 10 s ago is within the 30 s leeway"
ok "expired within the leeway still verifies"

say "hostile sizes and bytes: exit 1, never a crash"
expect_verdict "empty token" TOKEN_MALFORMED ""
expect_verdict "empty stdin" TOKEN_MALFORMED - </dev/null
expect_verdict "token of 8193 bytes" TOKEN_MALFORMED "$(head -c 8193 /dev/zero | tr '\0' A)"
expect_verdict "120 KB argument" TOKEN_MALFORMED "$(head -c 120000 /dev/zero | tr '\0' .)"
head -c 10000000 /dev/urandom >"$T/big"
expect_verdict "10 MB of random bytes on stdin" TOKEN_MALFORMED - <"$T/big"
printf '%s\0%s' "$tok" "$tok" >"$T/nul"
expect_verdict "token, NUL, token on stdin" TOKEN_MALFORMED - <"$T/nul"
printf '%s\n\n' "$tok" >"$T/twolines"
expect_verdict "token followed by two newlines" TOKEN_MALFORMED - <"$T/twolines"
# base64url may begin with '-': such a token is a token, not an option.
expect_verdict "token starting with -" TOKEN_MALFORMED "-$tok"
expect_verdict "token starting with --" TOKEN_MALFORMED "--x$tok"
expect_verdict "token that looks like an option" TOKEN_MALFORMED "-n"
[ "$(verify -- "$tok")" = "$claims" ] || fail "-- before the token"
ok "-- ends the options"
set +e
"$W" token verify --pub "$K/token.pub" --kid token --env test "$tok" >/dev/null 2>&1; rc1=$?
verify "$tok" "$tok" >/dev/null 2>&1; rc2=$?
verify >/dev/null 2>&1; rc3=$?
set -e
[ "$rc1$rc2$rc3" = 222 ] || fail "usage errors exit $rc1 $rc2 $rc3, want 2"
ok "no --cmd, two tokens, no token: usage error (exit 2)"
# An endless stream: verify reads at most one byte past the limit and answers.
set +e +o pipefail
timeout 20 bash -c "yes | '$W' token verify --pub '$K/token.pub' --kid token --env test --cmd '$CMD' -" \
    >/dev/null 2>"$T/err"
rc=${PIPESTATUS[0]}
set -e -o pipefail
grep -q '^TOKEN_MALFORMED: ' "$T/err" || fail "endless stdin: rc $rc, $(head -c 200 "$T/err")"
ok "endless standard input: TOKEN_MALFORMED without reading it all"
for i in $(seq 1 60); do
	head -c $((RANDOM % 9000 + 1)) /dev/urandom >"$T/rand"
	set +e
	verify - <"$T/rand" >/dev/null 2>"$T/err"
	rc=$?
	set -e
	[ $rc -eq 1 ] || fail "random input $i: exit $rc ($(base64 -w0 "$T/rand" | head -c 200))"
	grep -q '^TOKEN_[A-Z_]*: ' "$T/err" || fail "random input $i: $(head -c 200 "$T/err")"
done
ok "60 random inputs: exit 1 with a TOKEN_ code each"
for i in $(seq 1 40); do
	# Well-formed segments of random bytes reach the header and signature checks.
	t="$(head -c $((RANDOM % 200 + 1)) /dev/urandom | b64url).$(head -c 300 /dev/urandom | b64url).$(head -c 64 /dev/urandom | b64url)"
	set +e
	verify "$t" >/dev/null 2>"$T/err"
	rc=$?
	set -e
	[ $rc -eq 1 ] || fail "random segments $i: exit $rc"
done
ok "40 random three-segment tokens: exit 1 each"

say "keys of the wrong kind or type"
set +e; "$W" token verify --pub "$K/token.key" --kid token --env test --cmd "$CMD" "$tok" 2>"$T/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q '^KEY_WRONG_KIND: ' "$T/err" || fail "private key as --pub: $rc $(cat "$T/err")"
ok "verify --pub with a private key: KEY_WRONG_KIND"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
openssl pkey -in "$T/rsa.key" -pubout -out "$T/rsa.pub"
set +e; "$W" token verify --pub "$T/rsa.pub" --kid token --env test --cmd "$CMD" "$tok" 2>"$T/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q '^KEY_WRONG_TYPE: ' "$T/err" || fail "RSA --pub: $rc $(cat "$T/err")"
ok "verify --pub with an RSA key: KEY_WRONG_TYPE"
mint_rc() { # prints the exit status of a mint with the given extra arguments
	local rc=0
	"$W" token mint --kid token --sub agent-7 --env test --request-id "$RID" --cmd "$CMD" \
	    --ttl 60 "$@" >/dev/null 2>"$T/err" || rc=$?
	echo "$rc"
}
[ "$(mint_rc --key "$K/token.pub")" = 1 ] && grep -q '^KEY_WRONG_KIND: ' "$T/err" ||
    fail "mint with a public key: $(cat "$T/err")"
[ "$(mint_rc --key "$T/rsa.key")" = 1 ] && grep -q '^KEY_WRONG_TYPE: ' "$T/err" ||
    fail "mint with an RSA key: $(cat "$T/err")"
ok "mint --key with a public key: KEY_WRONG_KIND; with an RSA key: KEY_WRONG_TYPE"

say "mint refuses what the executor would refuse"
set +e
"$W" token mint --key "$K/token.key" --kid token --sub agent-7 --env test --request-id "$RID" \
    --cmd "docker run --privileged busybox" --ttl 60 >/dev/null 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q '^CMD_VERB: ' "$T/err" || fail "mint of docker run: $rc $(cat "$T/err")"
ok "mint of a command outside the grammar: CMD_VERB"
for ttl in 0 3601 -5 1e3 abc; do
	set +e; mint --ttl "$ttl" >/dev/null 2>&1; rc=$?; set -e
	[ $rc -eq 2 ] || fail "--ttl $ttl: exit $rc, want 2"
done
ok "--ttl outside 1..3600: usage error"
set +e; mint --approved-by 'alice;bob' >/dev/null 2>"$T/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -q '^MINT_BAD_CLAIMS: ' "$T/err" || fail "bad approver name: $rc"
ok "approver name outside the name rules: MINT_BAD_CLAIMS"

echo "$checks passed, 0 failed"
