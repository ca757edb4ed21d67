# shellcheck shell=bash
# test/tools/servers.sh: start the suite's small python3 test servers
# (token service, fault-injecting proxy, plain file server) and stop them at
# exit. Source it after test/tools/lib.sh.
#
# Typical use:
#   kiln_token_server_start "$work/token" --user alice:secret --anonymous-pull
#   kiln_registry_start --token-realm "$KILN_TOKEN_REALM" --token-cert "$KILN_TOKEN_CERT"
#   grep -c . "$KILN_TOKEN_LOG"             # token requests so far
#   kiln_fault_proxy_start "$work/proxy" "$KILN_REGISTRY" --seed 7 --rate 500=0.1
#   executor debug pull "$KILN_PROXY/repo:tag" ...
#
# kiln_py_server_start DIR SCRIPT ARGS...
#   Runs `python3 SCRIPT ARGS...` (its first argument is usually DIR, where
#   it writes DIR/port once listening), waits at most 15 s for DIR/port,
#   sets KILN_SERVER_PID and KILN_SERVER_PORT, and stops it at exit.
# kiln_token_server_start DIR [token-server.py OPTIONS...]
#   Makes an RSA key and a self-signed certificate with openssl, starts
#   test/tools/token-server.py, and sets KILN_TOKEN_REALM (its URL),
#   KILN_TOKEN_CERT (for kiln_registry_start --token-cert), KILN_TOKEN_LOG.
# kiln_fault_proxy_start DIR UPSTREAM [fault-proxy.py OPTIONS...]
#   Starts test/tools/fault-proxy.py in front of UPSTREAM (host:port) and
#   sets KILN_PROXY (127.0.0.1:port) and KILN_PROXY_LOG.
# kiln_server_stop PID: stop one of them now.

_KILN_SERVER_PIDS=()

kiln_server_stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

_kiln_servers_stop_all() {
	local pid
	for pid in "${_KILN_SERVER_PIDS[@]}"; do
		kiln_server_stop "$pid"
	done
	_KILN_SERVER_PIDS=()
}

kiln_py_server_start() {
	local dir=$1 script=$2 i launcher=()
	shift 2
	mkdir -p "$dir"
	rm -f "$dir/port"
	command -v setpriv >/dev/null 2>&1 && launcher=(setpriv --pdeathsig KILL --)
	((${#_KILN_SERVER_PIDS[@]})) || kiln_on_exit _kiln_servers_stop_all
	# Not holding the test's stdout/stderr: ctest waits for those to close.
	"${launcher[@]}" python3 "$script" "$@" </dev/null >>"$dir/server.out" 2>&1 &
	KILN_SERVER_PID=$!
	_KILN_SERVER_PIDS+=("$KILN_SERVER_PID")
	for ((i = 0; i < 150; i++)); do
		[[ -s $dir/port ]] && break
		kill -0 "$KILN_SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	[[ -s $dir/port ]] || kiln_die "${script##*/} did not start: $(cat "$dir/server.out")"
	read -r KILN_SERVER_PORT <"$dir/port"
}

kiln_token_server_start() {
	local dir=$1
	shift
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
		-days 2 -subj "/CN=kiln test token signer" >"$dir/openssl.log" 2>&1 ||
		kiln_die "openssl could not make the token signing key: $(cat "$dir/openssl.log")"
	: >"$dir/token.log"
	kiln_py_server_start "$dir" "$KILN_SOURCE_DIR/test/tools/token-server.py" "$dir" \
		"$dir/key.pem" "$dir/cert.pem" kiln-test-issuer kiln-test-registry "$@"
	# shellcheck disable=SC2034 # read by the caller
	KILN_TOKEN_REALM=http://127.0.0.1:$KILN_SERVER_PORT/token
	# shellcheck disable=SC2034 # read by the caller
	KILN_TOKEN_CERT=$dir/cert.pem KILN_TOKEN_LOG=$dir/token.log
}

kiln_fault_proxy_start() {
	local dir=$1 upstream=$2
	shift 2
	mkdir -p "$dir"
	: >"$dir/proxy.log"
	kiln_py_server_start "$dir" "$KILN_SOURCE_DIR/test/tools/fault-proxy.py" "$dir" "$upstream" "$@"
	# shellcheck disable=SC2034 # read by the caller
	KILN_PROXY=127.0.0.1:$KILN_SERVER_PORT KILN_PROXY_LOG=$dir/proxy.log
}
