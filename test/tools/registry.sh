# shellcheck shell=bash
# test/tools/registry.sh: a throw-away docker-registry (Debian's distribution
# registry, /usr/bin/docker-registry) on 127.0.0.1, for integration tests.
# Source it after test/tools/lib.sh.
#
# Typical use:
#   kiln_on_exit kiln_registry_stop        # or: trap kiln_registry_stop EXIT
#   kiln_registry_start                    # plain HTTP, anonymous
#   skopeo copy --dest-tls-verify=false ... "docker://$KILN_REGISTRY/repo:tag"
#
#   kiln_registry_start --tls --htpasswd alice:secret
#   curl --cacert "$KILN_REGISTRY_CA" -u alice:secret "$KILN_REGISTRY_URL/v2/"
#   skopeo copy --dest-cert-dir "$KILN_REGISTRY_CERT_DIR" --dest-creds alice:secret ...
#
# kiln_registry_start [--tls] [--htpasswd USER:PASS] [--token-realm URL --token-cert PEM]
#                     [--readonly]
#   Starts a registry on a free port and waits (at most
#   KILN_REGISTRY_START_TIMEOUT seconds, default 15) until GET /v2/ answers
#   (200; 401 with --htpasswd or --token-realm). --token-realm: bearer token
#   auth (the realm of a token service such as test/tools/token-server.py,
#   whose signing certificate is --token-cert), service "kiln-test-registry",
#   issuer "kiln-test-issuer". --readonly: the registry's read-only
#   maintenance mode (pulls answer, every push is refused with 405
#   UNSUPPORTED), e.g. a cache repository that refuses entries. Exports, for the registry just started:
#     KILN_REGISTRY           host:port, e.g. 127.0.0.1:41234
#     KILN_REGISTRY_URL       http://host:port or https://host:port
#     KILN_REGISTRY_PID       the docker-registry process
#     KILN_REGISTRY_DIR       its private temp dir (storage/, config.yml, registry.log)
#     KILN_REGISTRY_CONFIG    $KILN_REGISTRY_DIR/config.yml
#     KILN_REGISTRY_LOG       $KILN_REGISTRY_DIR/registry.log (stdout+stderr)
#     KILN_REGISTRY_CA        --tls only: the CA certificate (PEM) that signed
#                             the server certificate (SAN IP:127.0.0.1, DNS:localhost)
#     KILN_REGISTRY_CERT_DIR  --tls only: a directory holding only ca.crt, for
#                             skopeo --*-cert-dir or a docker certs.d entry
#     KILN_REGISTRY_USER, KILN_REGISTRY_PASSWORD   --htpasswd only
#   Calling it again starts another registry (save the variables first);
#   kiln_registry_stop stops them all. On failure it prints the tail of the
#   registry log, cleans up and returns non-zero. The first call also
#   registers kiln_registry_stop with kiln_on_exit, so a test that forgets
#   its trap still leaves nothing running.
#
# kiln_registry_stop
#   Stops every registry this shell started: SIGTERM, SIGKILL after
#   KILN_REGISTRY_STOP_TIMEOUT seconds (default 10), reaps it, checks the
#   process is gone, removes its temp dir (kept with KILN_KEEP_TMP=1) and
#   unsets the variables above. Safe to call any number of times.
#
# The registry is started under `setpriv --pdeathsig KILL` (when setpriv
# exists) so it also dies when the test's shell is killed without running
# its EXIT trap. kiln_registry_start must therefore run in the test's own
# shell, never inside $(...) or a pipeline.

if [[ -z ${_KILN_REGISTRY_LOADED:-} ]]; then
	_KILN_REGISTRY_LOADED=1
	_KILN_REGISTRY_PIDS=()
	_KILN_REGISTRY_DIRS=()
	_KILN_REGISTRY_ON_EXIT=0
fi

_kiln_registry_vars=(KILN_REGISTRY KILN_REGISTRY_URL KILN_REGISTRY_PID
	KILN_REGISTRY_DIR KILN_REGISTRY_CONFIG KILN_REGISTRY_LOG KILN_REGISTRY_CA
	KILN_REGISTRY_CERT_DIR KILN_REGISTRY_USER KILN_REGISTRY_PASSWORD)

# _kiln_registry_port_free PORT: true if nothing listens on 127.0.0.1:PORT.
_kiln_registry_port_free() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		[[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
		return
	fi
	# No ss: a refused connection means nobody listens.
	! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# _kiln_registry_pick_port: print a random port that is free right now,
# outside the kernel's ephemeral range (where outgoing connections take
# their local ports). Another process may still take it before the registry
# binds; kiln_registry_start retries when that happens.
_kiln_registry_pick_port() {
	local lo=32768 hi=60999 from=10000 to port i
	if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
		read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	fi
	if ((lo - 1 - from >= 2000)); then
		to=$((lo - 1))
	elif ((65535 - hi >= 2000)); then
		from=$((hi + 1)) to=65535
	else
		to=65000
	fi
	for ((i = 0; i < 200; i++)); do
		port=$((from + ((RANDOM << 15) | RANDOM) % (to - from + 1)))
		if _kiln_registry_port_free "$port"; then
			echo "$port"
			return 0
		fi
	done
	kiln_log "no free TCP port found in $from-$to after 200 tries"
	return 1
}

# _kiln_registry_tls DIR: a throw-away CA and a server certificate for
# 127.0.0.1/localhost, valid for two days.
_kiln_registry_tls() {
	local d=$1/tls
	mkdir -p "$d" "$1/certs"
	{
		openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj "/CN=kiln test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
				-keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" &&
			printf '%s\n' "basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature,keyEncipherment" \
				"extendedKeyUsage=serverAuth" \
				"subjectAltName=IP:127.0.0.1,DNS:localhost" >"$d/server.ext" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/server.crt"
	} >"$d/openssl.log" 2>&1 || {
		cat "$d/openssl.log" >&2
		kiln_log "creating the test CA and server certificate with openssl failed"
		return 1
	}
	cp "$d/ca.crt" "$1/certs/ca.crt"
}

# _kiln_registry_config DIR PORT TLS HTPASSWD READONLY [REALM CERT]: write DIR/config.yml.
_kiln_registry_config() {
	local dir=$1 port=$2 tls=$3 htpasswd=$4 readonly=$5 realm=${6:-} tcert=${7:-} secret
	secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	{
		cat <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: $readonly
http:
  addr: 127.0.0.1:$port
  secret: $secret
EOF
		if ((tls)); then
			cat <<EOF
  tls:
    certificate: $dir/tls/server.crt
    key: $dir/tls/server.key
EOF
		fi
		if [[ -n $htpasswd ]]; then
			cat <<EOF
auth:
  htpasswd:
    realm: kiln-test
    path: $htpasswd
EOF
		fi
		if [[ -n $realm ]]; then
			cat <<EOF
auth:
  token:
    realm: $realm
    service: kiln-test-registry
    issuer: kiln-test-issuer
    rootcertbundle: $tcert
EOF
		fi
	} >"$dir/config.yml"
}

# _kiln_registry_wait PID PORT URL WANT LOG: 0 ready, 1 died because the port was
# taken (retry on another), 2 any other failure.
_kiln_registry_wait() {
	local pid=$1 port=$2 url=$3 want=$4 log=$5 code curl_tls=()
	local deadline=$((SECONDS + ${KILN_REGISTRY_START_TIMEOUT:-15}))
	[[ -z ${KILN_REGISTRY_CA:-} || $url != https:* ]] || curl_tls=(--cacert "$KILN_REGISTRY_CA")
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null || [[ $(_kiln_proc_state "$pid") == Z ]]; then
			if grep -q 'address already in use' "$log" 2>/dev/null; then
				return 1
			fi
			kiln_log "docker-registry (pid $pid) exited during startup"
			return 2
		fi
		# "listening on" is logged only after our own process has bound the
		# port: an answer from some other server on a racing port is not ours.
		if grep -q "listening on 127.0.0.1:$port" "$log" 2>/dev/null; then
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
				"${curl_tls[@]}" "$url/v2/" 2>/dev/null) || code=000
			if [[ $code == "$want" ]]; then
				return 0
			fi
		fi
		sleep 0.1
	done
	kiln_log "docker-registry (pid $pid) did not answer GET $url/v2/ with $want" \
		"within ${KILN_REGISTRY_START_TIMEOUT:-15} s (last answer: ${code:-none})"
	return 2
}

# _kiln_proc_state PID: the one-letter state from /proc/PID/stat (Z: zombie).
_kiln_proc_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	printf '%s' "${stat%% *}"
}

# _kiln_registry_kill PID: TERM, bounded wait, KILL; reap; 1 if still there.
_kiln_registry_kill() {
	local pid=$1 i limit
	limit=$((${KILN_REGISTRY_STOP_TIMEOUT:-10} * 10))
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < limit; i++)); do
		if ! kill -0 "$pid" 2>/dev/null || [[ $(_kiln_proc_state "$pid") == Z ]]; then
			break
		fi
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null && [[ $(_kiln_proc_state "$pid") != Z ]]; then
		kiln_log "docker-registry (pid $pid) ignored SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Reap it when it is our child (wait returns at once otherwise).
	wait "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kiln_log "docker-registry (pid $pid) is still there after SIGKILL"
	return 1
}

# shellcheck disable=SC2120 # every argument is optional
kiln_registry_start() {
	local tls=0 readonly=false creds='' user='' pass='' dir port pid scheme want attempt rc=2
	local base=${KILN_TEST_TMP:-/tmp} htpasswd='' launcher=() realm='' tcert=''
	while (($#)); do
		case $1 in
		--tls) tls=1 ;;
		--readonly) readonly=true ;;
		--htpasswd)
			(($# >= 2)) || { kiln_log "kiln_registry_start: --htpasswd needs USER:PASS"; return 2; }
			creds=$2
			shift
			;;
		--htpasswd=*) creds=${1#*=} ;;
		--token-realm | --token-cert)
			(($# >= 2)) || { kiln_log "kiln_registry_start: $1 needs a value"; return 2; }
			if [[ $1 == --token-realm ]]; then realm=$2; else tcert=$2; fi
			shift
			;;
		*)
			kiln_log "kiln_registry_start: unknown argument '$1' (use --tls, --htpasswd USER:PASS," \
				"--token-realm URL --token-cert PEM, --readonly)"
			return 2
			;;
		esac
		shift
	done
	if [[ -n $creds ]]; then
		user=${creds%%:*} pass=${creds#*:}
		if [[ $creds != *:* || -z $user || -z $pass ]]; then
			kiln_log "kiln_registry_start: --htpasswd wants USER:PASS, got '$creds'"
			return 2
		fi
	fi
	if [[ -n $realm$tcert && (-z $realm || ! -f $tcert) ]]; then
		kiln_log "kiln_registry_start: --token-realm and --token-cert (an existing PEM) go together"
		return 2
	fi
	local c need=(docker-registry curl)
	[[ -z $creds ]] || need+=(htpasswd)
	((tls == 0)) || need+=(openssl)
	for c in "${need[@]}"; do
		command -v "$c" >/dev/null 2>&1 || {
			kiln_log "kiln_registry_start: '$c' not found (see test/tools/packages.txt)"
			return 2
		}
	done
	command -v setpriv >/dev/null 2>&1 && launcher=(setpriv --pdeathsig KILL --)
	if ((!_KILN_REGISTRY_ON_EXIT)); then
		kiln_on_exit kiln_registry_stop
		_KILN_REGISTRY_ON_EXIT=1
	fi

	mkdir -p -- "$base"
	dir=$(mktemp -d "$base/kiln-registry.XXXXXX") || {
		kiln_log "kiln_registry_start: cannot create a temp dir under '$base'"
		return 2
	}
	mkdir "$dir/storage"
	# Unset what an earlier registry exported, then register this one so
	# kiln_registry_stop cleans it up whatever happens next.
	unset "${_kiln_registry_vars[@]}"
	_KILN_REGISTRY_DIRS+=("$dir")
	_KILN_REGISTRY_PIDS+=("")

	scheme=http want=200
	[[ -z $realm ]] || want=401
	if ((tls)); then
		_kiln_registry_tls "$dir" || { _kiln_registry_drop_last; return 2; }
		scheme=https
		export KILN_REGISTRY_CA=$dir/tls/ca.crt KILN_REGISTRY_CERT_DIR=$dir/certs
	fi
	if [[ -n $creds ]]; then
		htpasswd="$dir/htpasswd"
		htpasswd -Bbn "$user" "$pass" >"$htpasswd" 2>"$dir/htpasswd.log" || {
			cat "$dir/htpasswd.log" >&2
			kiln_log "kiln_registry_start: htpasswd -Bbn failed"
			_kiln_registry_drop_last
			return 2
		}
		want=401
		export KILN_REGISTRY_USER=$user KILN_REGISTRY_PASSWORD=$pass
	fi

	for ((attempt = 1; attempt <= 8; attempt++)); do
		port=$(_kiln_registry_pick_port) || break
		_kiln_registry_config "$dir" "$port" "$tls" "$htpasswd" "$readonly" "$realm" "$tcert"
		: >"$dir/registry.log"
		# The registry must not hold the test's stdout/stderr open: ctest
		# waits for those pipes to close.
		"${launcher[@]}" docker-registry serve "$dir/config.yml" \
			</dev/null >>"$dir/registry.log" 2>&1 &
		pid=$!
		_KILN_REGISTRY_PIDS[${#_KILN_REGISTRY_PIDS[@]} - 1]=$pid
		rc=0
		_kiln_registry_wait "$pid" "$port" "$scheme://127.0.0.1:$port" "$want" \
			"$dir/registry.log" || rc=$?
		((rc == 1)) || break
		kiln_log "port $port was taken before docker-registry bound it; retrying"
		_kiln_registry_kill "$pid" || true
	done
	if ((rc != 0)); then
		kiln_log "kiln_registry_start: docker-registry failed to start; last lines of $dir/registry.log:"
		tail -n 30 "$dir/registry.log" >&2 2>/dev/null || true
		_kiln_registry_drop_last
		return 1
	fi
	export KILN_REGISTRY=127.0.0.1:$port KILN_REGISTRY_URL=$scheme://127.0.0.1:$port \
		KILN_REGISTRY_PID=$pid KILN_REGISTRY_DIR=$dir \
		KILN_REGISTRY_CONFIG=$dir/config.yml KILN_REGISTRY_LOG=$dir/registry.log
	return 0
}

# _kiln_registry_drop_last: stop the most recently started registry only
# (a failed start must not take down the ones started before it).
_kiln_registry_drop_last() {
	local n=${#_KILN_REGISTRY_DIRS[@]} pid dir ret=0
	((n > 0)) || return 0
	pid=${_KILN_REGISTRY_PIDS[n - 1]} dir=${_KILN_REGISTRY_DIRS[n - 1]}
	unset "_KILN_REGISTRY_PIDS[n - 1]" "_KILN_REGISTRY_DIRS[n - 1]"
	if [[ -n $pid ]]; then
		_kiln_registry_kill "$pid" || ret=1
	fi
	if [[ ${KILN_KEEP_TMP:-} == 1 ]]; then
		kiln_log "keeping registry dir $dir (KILN_KEEP_TMP=1)"
	elif [[ $dir == */kiln-registry.* ]]; then
		rm -rf -- "$dir" || ret=1
	fi
	unset "${_kiln_registry_vars[@]}"
	return "$ret"
}

kiln_registry_stop() {
	local ret=0
	while ((${#_KILN_REGISTRY_DIRS[@]})); do
		_kiln_registry_drop_last || ret=1
	done
	return "$ret"
}
