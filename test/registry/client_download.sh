#!/bin/bash
# integration.client_download: registry_download(), the one verified generic
# HTTP(S) download (ADD https://..., https contexts, -f https://...), through
# `executor debug download`, against `python3 -m http.server` on 127.0.0.1:
#  - a download arrives whole, its digest, size, Last-Modified and final URL
#    printed, the file's mtime set to Last-Modified;
#  - the right --sha256 passes; a wrong one, --max-size exceeded and a 404
#    each fail with one clear line and leave no output file (nor a temp file);
#  - through test/tools/fault-proxy.py truncating bodies the download still
#    completes (resumed, every byte checked); with --retries 0 it fails cleanly.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
# shellcheck source=test/tools/servers.sh
. "$KILN_SOURCE_DIR/test/tools/servers.sh"

kiln_require_cmd python3 curl sha256sum
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
mkdir -p "$work/srv" "$work/out"
head -c 3000000 /dev/urandom >"$work/srv/big.bin"
touch -d '2021-03-04 05:06:07 UTC' "$work/srv/big.bin"
mtime=$(stat -c %Y "$work/srv/big.bin")
sum=sha256:$(sha256sum <"$work/srv/big.bin" | cut -d' ' -f1)

# A file server on a free port (another process may take the port first:
# try again then).
start_http() {
	local i j port
	for ((i = 0; i < 5; i++)); do
		port=$(_kiln_registry_pick_port) || kiln_die "no free port"
		((${#_KILN_SERVER_PIDS[@]})) || kiln_on_exit _kiln_servers_stop_all
		python3 -m http.server --bind 127.0.0.1 --directory "$work/srv" "$port" \
			</dev/null >>"$work/http.log" 2>&1 &
		_KILN_SERVER_PIDS+=("$!")
		for ((j = 0; j < 100; j++)); do
			if curl -fsS -o /dev/null "http://127.0.0.1:$port/big.bin" 2>/dev/null; then
				http=127.0.0.1:$port
				return 0
			fi
			kill -0 "$!" 2>/dev/null || break
			sleep 0.1
		done
	done
	kiln_die "python3 -m http.server did not start: $(cat "$work/http.log")"
}
start_http

# ok NAME ARGS...: the download succeeds into $work/out/NAME, whole.
ok() {
	local name=$1
	shift
	"$exe" debug download "$@" --output "$work/out/$name" >"$work/$name.out" 2>"$work/$name.err" ||
		kiln_die "$name: download failed: $(cat "$work/$name.err")"
	cmp "$work/srv/big.bin" "$work/out/$name" || kiln_die "$name: content differs"
	kiln_assert_eq "digest: $sum" "$(grep '^digest:' "$work/$name.out")" "$name: digest printed"
	kiln_assert_eq "size: 3000000" "$(grep '^size:' "$work/$name.out")" "$name: size printed"
	kiln_assert_eq "last-modified: $mtime" "$(grep '^last-modified:' "$work/$name.out")" \
		"$name: Last-Modified printed"
	kiln_assert_eq "$mtime" "$(stat -c %Y "$work/out/$name")" "$name: mtime of the file"
}

# fail NAME PATTERN ARGS...: the download fails with one error line matching
# PATTERN, prints nothing on stdout, and leaves no file in $work/out.
fail() {
	local name=$1 pattern=$2
	shift 2
	if "$exe" debug download "$@" --output "$work/out/$name" >"$work/$name.out" 2>"$work/$name.err"; then
		kiln_die "$name: succeeded"
	fi
	[[ ! -s $work/$name.out ]] || kiln_die "$name: printed a result: $(cat "$work/$name.out")"
	grep -qE -- "$pattern" "$work/$name.err" || kiln_die "$name: unexpected error: $(cat "$work/$name.err")"
	[[ ! -e $work/out/$name ]] || kiln_die "$name: a failed download left its output file"
	[[ -z $(find "$work/out" -name "*$name*") ]] || kiln_die "$name: left a temp file: $(ls -a "$work/out")"
	kiln_log "$name: $(grep -m1 . "$work/$name.err")"
}

url=http://$http/big.bin
ok plain "$url"
kiln_assert_eq "url: $url" "$(grep '^url:' "$work/plain.out")" "final URL printed"
ok checksum --sha256 "$sum" "$url"
fail bad-checksum "^error: GET '$url': checksum mismatch: want sha256:0{64}, got $sum" \
	--sha256 "sha256:$(printf '%064d' 0)" "$url"
kiln_assert_eq 1 "$(wc -l <"$work/bad-checksum.err")" "lines in the checksum error"
fail too-big "GET '$url': larger than the limit of 1000000 bytes" --max-size 1000000 "$url"
fail not-found "GET 'http://$http/missing': HTTP 404 not found" "http://$http/missing"

# Truncated bodies: with the seed, the first answer is cut in half, the
# next one is whole; the download resumes where it stopped.
kiln_fault_proxy_start "$work/p1" "$http" --seed 1 --rate truncate=0.5
ok through-proxy --retries 4 "http://$KILN_PROXY/big.bin"
grep -q -- '-> truncate' "$KILN_PROXY_LOG" || kiln_die "no answer was truncated: the test proves nothing"
grep -q 'resuming at byte' "$work/through-proxy.err" || kiln_die "no resumed download reported"
kiln_log "through the proxy: $(grep -c . "$KILN_PROXY_LOG") requests, $(grep -c -- '-> truncate' "$KILN_PROXY_LOG") truncated"
kiln_server_stop "$KILN_SERVER_PID"

kiln_fault_proxy_start "$work/p2" "$http" --rate truncate=1
fail no-retry "GET 'http://$KILN_PROXY/big.bin'.*(transfer closed|Partial|partial)" \
	--retries 0 "http://$KILN_PROXY/big.bin"
kiln_assert_eq 1 "$(grep -c -- '-> truncate' "$KILN_PROXY_LOG")" "attempts with --retries 0"
kiln_log "PASS"
