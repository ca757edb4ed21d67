#!/bin/bash
# integration.client_token_auth: the bearer-token flow against docker-registry
# configured for token auth (auth.token) with the suite's own token service
# (test/tools/token-server.py: JWT signed RS256, x5c header). Users: alice
# (pull+push), bob (pull only); anonymous requests may pull.
#  - alice pulls and pushes (two tags): skopeo sees the pushed image; one
#    token request per scope, however many registry requests use it;
#  - no credentials: an anonymous pull token works; an anonymous push fails
#    with "unauthorized";
#  - a wrong password fails with a message naming the token service, the
#    registry and "unauthorized", and no secret appears in any output;
#  - the push-permission check (debug push --check-only) passes for alice,
#    leaving no upload session, and fails for bob and anonymous;
#  - a token the registry refuses (expired) is dropped and a fresh one
#    fetched after the 401: the pull still succeeds.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
# shellcheck source=test/tools/servers.sh
. "$KILN_SOURCE_DIR/test/tools/servers.sh"

kiln_require_cmd docker-registry skopeo curl jq openssl python3 base64
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
pass='al1ce-Token-Secret' wrong='wr0ng-Token-Secret'
export HOME=$work/home # no stray ~/.docker/config.json
mkdir -p "$HOME"

kiln_token_server_start "$work/token" --user "alice:$pass" --reader bob:b0b-pass --anonymous-pull
kiln_registry_start --token-realm "$KILN_TOKEN_REALM" --token-cert "$KILN_TOKEN_CERT" ||
	kiln_die "could not start the token-auth registry"
reg=$KILN_REGISTRY tlog=$KILN_TOKEN_LOG rlog=$KILN_REGISTRY_LOG
kiln_fixture_push busybox "$reg" t/busybox:1 --dest-tls-verify=false --dest-creds "alice:$pass"
want=$(jq -r '.manifests[0].digest' "$KILN_FIXTURE_DIR/index.json")

b64() { printf '%s' "$1" | base64 -w0; }
config() {
	mkdir -p "$1"
	printf '%s\n' "$2" >"$1/config.json"
}
config "$work/alice" "{\"auths\":{\"$reg\":{\"auth\":\"$(b64 "alice:$pass")\"}}}"
config "$work/wrong" "{\"auths\":{\"$reg\":{\"auth\":\"$(b64 "alice:$wrong")\"}}}"
config "$work/anon" '{}'

# kiln NAME CONFIG ARGS...: run the executor with DOCKER_CONFIG=$work/CONFIG,
# output in $work/NAME.{out,err}; no secret may appear in either.
kiln() {
	local name=$1 cfg=$2 rc=0 secret
	shift 2
	DOCKER_CONFIG=$work/$cfg "$exe" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
	for secret in "$pass" "$wrong" "$(b64 "alice:$pass")" "$(b64 "alice:$wrong")" \
		$(cat "$work/token/issued-tokens" 2>/dev/null); do
		if grep -qF -- "$secret" "$work/$name.out" "$work/$name.err"; then
			kiln_die "$name: a secret appears in the output"
		fi
	done
	return $rc
}
# since MARK: token requests logged after line MARK of the token log.
since() { tail -n +$(($1 + 1)) "$tlog"; }
lines() { wc -l <"$1"; }
# rlog_has MARK PATTERN: the registry logged a line matching PATTERN after
# line MARK. It writes its access log after answering, so a line may land
# a moment after the client is done: look again for up to 5 s.
rlog_has() {
	local i
	for ((i = 0; i < 50; i++)); do
		tail -n +$(($1 + 1)) "$rlog" | grep -q "$2" && return 0
		sleep 0.1
	done
	return 1
}

# Pull as alice: one token for repository:t/busybox:pull serves the
# manifest, config and layer requests.
mark=$(lines "$tlog") rmark=$(lines "$rlog")
kiln pull alice debug pull "$reg/t/busybox:1" --output "$work/pulled" ||
	kiln_die "pull as alice failed: $(cat "$work/pull.err")"
kiln_assert_eq "$want" "$(cat "$work/pull.out")" "pulled digest"
kiln_assert_eq "GET user=alice scope=repository:t/busybox:pull -> 200" "$(since "$mark")" \
	"token requests of a pull"
for ((i = 0; i < 50; i++)); do
	authorized=$(tail -n +$((rmark + 1)) "$rlog" | grep -c 'msg="authorized request".*kiln/' || true)
	((authorized >= 3)) && break
	sleep 0.1
done
((authorized >= 3)) || kiln_die "expected >= 3 authorized registry requests, got $authorized"
kiln_log "pull: $authorized authorized registry requests, 1 token request"

# Push as alice to two tags, four uploads at once: one token per scope.
mark=$(lines "$tlog")
kiln push alice debug push "$work/pulled" "$reg/copy/busybox:1" "$reg/copy/busybox:2" ||
	kiln_die "push as alice failed: $(cat "$work/push.err")"
kiln_assert_eq "$want" "$(cat "$work/push.out")" "pushed digest"
kiln_assert_eq "GET user=alice scope=repository:copy/busybox:pull,push -> 200" "$(since "$mark")" \
	"token requests of a push to two tags"
for t in 1 2; do
	got=$(kiln_skopeo inspect --tls-verify=false --creds "alice:$pass" \
		"docker://$reg/copy/busybox:$t" | jq -r .Digest)
	kiln_assert_eq "$want" "$got" "skopeo inspect copy/busybox:$t"
done

# Anonymous: pull allowed, push refused.
mark=$(lines "$tlog")
kiln anon-pull anon debug pull "$reg/t/busybox:1" --output "$work/anon" ||
	kiln_die "anonymous pull failed: $(cat "$work/anon-pull.err")"
kiln_assert_eq "GET user=anonymous scope=repository:t/busybox:pull -> 200" "$(since "$mark")" \
	"token requests of an anonymous pull"
if kiln anon-push anon debug push "$work/pulled" "$reg/anon/busybox:1"; then
	kiln_die "anonymous push succeeded"
fi
grep -q "registry '$reg'.*unauthorized" "$work/anon-push.err" ||
	kiln_die "anonymous push: unexpected error: $(cat "$work/anon-push.err")"

# A wrong password: the token service refuses it; said clearly, at once.
for what in pull push; do
	if [[ $what == pull ]]; then
		args=(debug pull "$reg/t/busybox:1" --output "$work/w")
	else
		args=(debug push "$work/pulled" "$reg/copy/busybox:w")
	fi
	if kiln "wrong-$what" wrong "${args[@]}"; then
		kiln_die "$what with a wrong password succeeded"
	fi
	grep -q "token service '$KILN_TOKEN_REALM' of registry '$reg' answered HTTP 401 unauthorized" \
		"$work/wrong-$what.err" || kiln_die "wrong password: unexpected error: $(cat "$work/wrong-$what.err")"
done
kiln_log "wrong password: $(head -1 "$work/wrong-pull.err")"

# The push-permission check: an upload session started and cancelled.
config "$work/bob" "{\"auths\":{\"$reg\":{\"username\":\"bob\",\"password\":\"b0b-pass\"}}}"
rmark=$(lines "$rlog")
kiln check-alice alice debug push --check-only "$reg/check/busybox:1" ||
	kiln_die "push check as alice failed: $(cat "$work/check-alice.err")"
kiln_assert_eq "push allowed: $reg/check/busybox:1" "$(cat "$work/check-alice.out")" "push check as alice"
rlog_has "$rmark" '"DELETE /v2/check/busybox/blobs/uploads/[^ ]* HTTP/1.1" 204' ||
	kiln_die "the check did not cancel its upload session"
for who in bob anon; do
	if kiln "check-$who" "$who" debug push --check-only "$reg/check/busybox:1"; then
		kiln_die "push check as $who succeeded"
	fi
	grep -q "checking the push permission for '$reg/check/busybox': registry '$reg' answered POST /v2/check/busybox/blobs/uploads/ with HTTP 401 unauthorized" \
		"$work/check-$who.err" || kiln_die "push check as $who: unexpected error: $(cat "$work/check-$who.err")"
done
kiln_log "push check, read-only user: $(head -1 "$work/check-bob.err")"

# A stale token: the registry says 401, kiln drops it and asks again.
: >"$work/token/stale-once"
mark=$(lines "$tlog") rmark=$(lines "$rlog")
kiln stale alice debug pull "$reg/t/busybox:1" --output "$work/stale" ||
	kiln_die "pull after a stale token failed: $(cat "$work/stale.err")"
kiln_assert_eq $'GET user=alice scope=repository:t/busybox:pull -> 200 (expired)\nGET user=alice scope=repository:t/busybox:pull -> 200' \
	"$(since "$mark")" "token requests around a refused token"
rlog_has "$rmark" '"GET /v2/t/busybox/manifests/1 HTTP/1.1" 401' ||
	kiln_die "the registry did not refuse the stale token"
kiln_log "PASS"
