#!/bin/bash
# integration.client_tls_auth: kiln's registry client against a TLS registry
# (throw-away CA) with htpasswd basic auth, credentials from config.json.
#  - the CA given with --registry-certificate: pull and push work, with the
#    credentials from an `auths` entry (base64 `auth`; key with scheme and
#    path, as `docker login` may write it) or username/password;
#  - without the CA: refused, with a hint;
#  - a wrong password or none: fails naming the registry and "unauthorized";
#  - a credential helper (docker-credential-test on PATH) through credHelpers
#    and through credsStore: gets the host on stdin, its answer is used;
#  - the password never appears on stdout or stderr, in any of these runs.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo curl jq openssl htpasswd base64
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR

user=kiln-user pass='s3cret-Pass:with colon'
wrong='wr0ng-Passw0rd'
kiln_registry_start --tls --htpasswd "$user:$pass" || kiln_die "could not start the TLS registry"
reg=$KILN_REGISTRY ca=$KILN_REGISTRY_CA
kiln_fixture_push busybox "$reg" kiln-test/busybox:1 --dest-cert-dir "$KILN_REGISTRY_CERT_DIR" \
	--dest-creds "$user:$pass"
want=$(jq -r '.manifests[0].digest' "$KILN_FIXTURE_DIR/index.json")
export HOME=$work/home # no stray ~/.docker/config.json
mkdir -p "$HOME"

# config DIR JSON: a DOCKER_CONFIG directory holding JSON as config.json.
config() {
	mkdir -p "$1"
	printf '%s\n' "$2" >"$1/config.json"
}
b64() { printf '%s' "$1" | base64 -w0; }

# kiln NAME ARGS...: run the executor, output in $work/NAME.{out,err};
# fails the test if the password shows up in either.
kiln() {
	local name=$1 rc=0
	shift
	"$exe" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
	for secret in "$pass" "$wrong" "$(b64 "$user:$pass")" "$(b64 "$user:$wrong")"; do
		if grep -qF -- "$secret" "$work/$name.out" "$work/$name.err"; then
			kiln_die "$name: a secret appears in the output: $(cat "$work/$name.err")"
		fi
	done
	return $rc
}

# An auths entry with scheme and path in its key, base64 "auth".
config "$work/good" "{\"auths\":{\"https://$reg/v2/\":{\"auth\":\"$(b64 "$user:$pass")\"}}}"
DOCKER_CONFIG=$work/good kiln pull-good debug pull --registry-certificate "$reg=$ca" \
	"$reg/kiln-test/busybox:1" --output "$work/pulled" ||
	kiln_die "pull with good credentials failed: $(cat "$work/pull-good.err")"
kiln_assert_eq "$want" "$(cat "$work/pull-good.out")" "pulled digest"
DOCKER_CONFIG=$work/good kiln push-good debug push --registry-certificate "$reg=$ca" \
	"$work/pulled" "$reg/copy/busybox:1" ||
	kiln_die "push with good credentials failed: $(cat "$work/push-good.err")"
got=$(kiln_skopeo inspect --cert-dir "$KILN_REGISTRY_CERT_DIR" --creds "$user:$pass" \
	"docker://$reg/copy/busybox:1" | jq -r .Digest)
kiln_assert_eq "$want" "$got" "digest of the pushed copy"

# username/password fields, bare host key.
config "$work/fields" "{\"auths\":{\"$reg\":{\"username\":\"$user\",\"password\":\"$pass\"}}}"
DOCKER_CONFIG=$work/fields kiln pull-fields debug pull --registry-certificate "$reg=$ca" \
	"$reg/kiln-test/busybox:1" --output "$work/pulled2" ||
	kiln_die "pull with username/password failed: $(cat "$work/pull-fields.err")"

# Without the CA: the certificate is refused (no fallback to plain HTTP either).
if DOCKER_CONFIG=$work/good kiln no-ca debug pull "$reg/kiln-test/busybox:1" --output "$work/x"; then
	kiln_die "pull without the CA succeeded"
fi
grep -qi 'certificate' "$work/no-ca.err" || kiln_die "no-ca: unexpected error: $(cat "$work/no-ca.err")"

# Wrong password: names the registry and says unauthorized.
config "$work/bad" "{\"auths\":{\"$reg\":{\"auth\":\"$(b64 "$user:$wrong")\"}}}"
for what in pull push; do
	if [[ $what == pull ]]; then
		args=(debug pull --registry-certificate "$reg=$ca" "$reg/kiln-test/busybox:1" --output "$work/y")
	else
		args=(debug push --registry-certificate "$reg=$ca" "$work/pulled" "$reg/copy/busybox:bad")
	fi
	if DOCKER_CONFIG=$work/bad kiln "bad-$what" "${args[@]}"; then
		kiln_die "$what with a wrong password succeeded"
	fi
	if ! grep -q "registry '$reg'" "$work/bad-$what.err" || ! grep -q unauthorized "$work/bad-$what.err"; then
		kiln_die "$what with a wrong password: unexpected error: $(cat "$work/bad-$what.err")"
	fi
done
# No credentials at all.
config "$work/none" '{}'
if DOCKER_CONFIG=$work/none kiln anon debug pull --registry-certificate "$reg=$ca" \
	"$reg/kiln-test/busybox:1" --output "$work/z"; then
	kiln_die "anonymous pull succeeded"
fi
grep -q unauthorized "$work/anon.err" || kiln_die "anonymous: unexpected error: $(cat "$work/anon.err")"

# Credential helpers: a script on PATH, asked with the host on stdin.
mkdir -p "$work/bin"
cat >"$work/bin/docker-credential-test" <<HELPER
#!/bin/sh
[ "\$1" = get ] || exit 2
read -r host
echo "\$host" >>"$work/helper.log"
if [ "\$host" = "$reg" ]; then
	printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$host" "$user" "$pass"
else
	echo "credentials not found in native keychain"
	exit 1
fi
HELPER
chmod +x "$work/bin/docker-credential-test"
config "$work/helpers" "{\"credHelpers\":{\"$reg\":\"test\"}}"
PATH=$work/bin:$PATH DOCKER_CONFIG=$work/helpers kiln helper debug pull \
	--registry-certificate "$reg=$ca" "$reg/kiln-test/busybox:1" --output "$work/h1" ||
	kiln_die "pull with credHelpers failed: $(cat "$work/helper.err")"
kiln_assert_eq "$reg" "$(head -1 "$work/helper.log")" "what the helper got on stdin"
config "$work/store" '{"credsStore":"test","auths":{}}'
: >"$work/helper.log"
PATH=$work/bin:$PATH DOCKER_CONFIG=$work/store kiln store debug push \
	--registry-certificate "$reg=$ca" "$work/pulled" "$reg/copy/busybox:store" ||
	kiln_die "push with credsStore failed: $(cat "$work/store.err")"
grep -qx "$reg" "$work/helper.log" || kiln_die "credsStore helper not asked"
# A helper named in config.json but missing: a clear error.
config "$work/missing" "{\"credHelpers\":{\"$reg\":\"absent\"}}"
if DOCKER_CONFIG=$work/missing kiln missing debug pull --registry-certificate "$reg=$ca" \
	"$reg/kiln-test/busybox:1" --output "$work/m"; then
	kiln_die "pull with a missing helper succeeded"
fi
grep -q "docker-credential-absent" "$work/missing.err" ||
	kiln_die "missing helper: unexpected error: $(cat "$work/missing.err")"
kiln_log "PASS"
