#!/bin/bash
# integration.client_redirect_auth: credentials never follow a redirect to
# another origin. A test registry (test/tools/redirect-registry.py) wants
# basic auth and answers every blob GET with 307 to a second port (a "blob
# storage host"), which records whether an Authorization header arrived.
# kiln pulls the image: the blobs are fetched through the redirect, verified,
# and the storage host never saw credentials.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"

kiln_require_cmd python3 base64
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
user=redirect-user pass='redirect-Secret-1'

launcher=()
command -v setpriv >/dev/null 2>&1 && launcher=(setpriv --pdeathsig KILL --)
"${launcher[@]}" python3 "$KILN_SOURCE_DIR/test/tools/redirect-registry.py" "$user" "$pass" "$work" \
	</dev/null >"$work/server.log" 2>&1 &
server=$!
stop_server() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
kiln_on_exit stop_server
for ((i = 0; i < 100; i++)); do
	[[ -f $work/ports ]] && break
	sleep 0.1
done
[[ -f $work/ports ]] || kiln_die "the redirect registry did not start: $(cat "$work/server.log")"
read -r port _ <"$work/ports"

mkdir -p "$work/docker"
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' "$port" \
	"$(printf '%s' "$user:$pass" | base64 -w0)" >"$work/docker/config.json"
DOCKER_CONFIG=$work/docker "$exe" debug pull "127.0.0.1:$port/r/img:1" --output "$work/out" \
	>"$work/pull.out" 2>"$work/pull.err" || kiln_die "pull failed: $(cat "$work/pull.err")"
kiln_assert_eq 2 "$(wc -l <"$work/storage.log")" "blob requests the storage host got"
if grep -v 'auth=absent$' "$work/storage.log"; then
	kiln_die "the storage host received an Authorization header"
fi
for f in "$work/out/blobs/sha256/"*; do
	kiln_assert_eq "$(basename "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)" "sha256 of $f"
done
! grep -qF "$pass" "$work/pull.out" "$work/pull.err" || kiln_die "the password was printed"
kiln_log "PASS"
