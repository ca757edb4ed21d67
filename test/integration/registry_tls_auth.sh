#!/bin/bash
# integration.registry_tls_auth: the registry fixture with TLS (a throw-away
# CA) and htpasswd basic auth. Anonymous requests get 401, the right
# credentials 200; skopeo pushes with the right credentials and the CA, and
# fails with wrong credentials or without the CA. Nothing is left running.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo umoci curl jq openssl htpasswd
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR

user=kiln-user pass='s3cret pass:with colon'
kiln_fixture busybox
src=$KILN_FIXTURE_REF
kiln_registry_start --tls --htpasswd "$user:$pass" || kiln_die "could not start the TLS registry fixture"
reg=$KILN_REGISTRY pid=$KILN_REGISTRY_PID config=$KILN_REGISTRY_CONFIG dir=$KILN_REGISTRY_DIR
kiln_log "registry $KILN_REGISTRY_URL (pid $pid)"
[[ $KILN_REGISTRY_URL == "https://$reg" ]] || kiln_die "KILN_REGISTRY_URL is '$KILN_REGISTRY_URL', want https://$reg"
[[ -f $KILN_REGISTRY_CA && -f $KILN_REGISTRY_CERT_DIR/ca.crt ]] ||
	kiln_die "KILN_REGISTRY_CA / KILN_REGISTRY_CERT_DIR/ca.crt missing"
kiln_assert_eq "$user" "$KILN_REGISTRY_USER" KILN_REGISTRY_USER
kiln_assert_eq "$pass" "$KILN_REGISTRY_PASSWORD" KILN_REGISTRY_PASSWORD

# The server certificate verifies against the CA for both names in its SAN.
openssl verify -CAfile "$KILN_REGISTRY_CA" "$dir/tls/server.crt" >&2
port=${reg##*:}
code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true
}
kiln_assert_eq 401 "$(code --cacert "$KILN_REGISTRY_CA" "https://$reg/v2/")" "anonymous GET /v2/"
kiln_assert_eq 200 "$(code --cacert "$KILN_REGISTRY_CA" -u "$user:$pass" "https://$reg/v2/")" \
	"GET /v2/ with the right credentials"
kiln_assert_eq 200 "$(code --cacert "$KILN_REGISTRY_CA" -u "$user:$pass" "https://localhost:$port/v2/")" \
	"GET https://localhost:$port/v2/ (DNS SAN)"
kiln_assert_eq 401 "$(code --cacert "$KILN_REGISTRY_CA" -u "$user:wrong" "https://$reg/v2/")" \
	"GET /v2/ with a wrong password"
# Without the CA, curl must refuse the certificate (000: no HTTP answer).
kiln_assert_eq 000 "$(code "https://$reg/v2/")" "GET /v2/ without the CA"
# Plain HTTP to the TLS port gets no registry answer.
[[ $(code "http://$reg/v2/") != 200 ]] || kiln_die "plain HTTP answered 200 on the TLS port"

# skopeo: right credentials and the CA dir.
kiln_skopeo copy --quiet --dest-cert-dir "$KILN_REGISTRY_CERT_DIR" --dest-creds "$user:$pass" \
	"$src" "docker://$reg/kiln-test/busybox:tls" >&2 ||
	kiln_die "skopeo copy with the right credentials failed"
digest=$(kiln_skopeo inspect --cert-dir "$KILN_REGISTRY_CERT_DIR" --creds "$user:$pass" \
	"docker://$reg/kiln-test/busybox:tls" | jq -r .Digest)
[[ $digest == sha256:* ]] || kiln_die "skopeo inspect gave no digest: '$digest'"

# Wrong credentials: refused.
if kiln_skopeo copy --quiet --dest-cert-dir "$KILN_REGISTRY_CERT_DIR" --dest-creds "$user:wrong" \
	"$src" "docker://$reg/kiln-test/busybox:wrong" 2>"$work/wrong.log"; then
	kiln_die "skopeo copy with a wrong password succeeded"
fi
grep -qi 'unauthorized\|authentication required\|401' "$work/wrong.log" ||
	kiln_die "skopeo copy with a wrong password failed for another reason: $(cat "$work/wrong.log")"
# No credentials: refused.
if kiln_skopeo copy --quiet --dest-cert-dir "$KILN_REGISTRY_CERT_DIR" \
	"$src" "docker://$reg/kiln-test/busybox:anon" 2>"$work/anon.log"; then
	kiln_die "anonymous skopeo copy succeeded"
fi
grep -qi 'unauthorized\|authentication required\|401' "$work/anon.log" ||
	kiln_die "anonymous skopeo copy failed for another reason: $(cat "$work/anon.log")"
# Right credentials, but the CA not trusted: refused.
if kiln_skopeo copy --quiet --dest-tls-verify=true --dest-creds "$user:$pass" \
	"$src" "docker://$reg/kiln-test/busybox:noca" 2>"$work/noca.log"; then
	kiln_die "skopeo copy without the CA succeeded"
fi
grep -qi 'certificate\|x509' "$work/noca.log" ||
	kiln_die "skopeo copy without the CA failed for another reason: $(cat "$work/noca.log")"

# Only the good push landed.
tags=$(curl -fsS --cacert "$KILN_REGISTRY_CA" -u "$user:$pass" \
	"https://$reg/v2/kiln-test/busybox/tags/list" | jq -c .tags)
kiln_assert_eq '["tls"]' "$tags" "tags after the pushes"

kiln_registry_stop
kiln_registry_stop
kiln_assert_process_gone "$pid" "docker-registry serve $config"
[[ ! -e $dir ]] || kiln_die "registry dir $dir still exists after kiln_registry_stop"
kiln_log "PASS"
