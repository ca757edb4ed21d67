#!/bin/bash
# The executor's command line as a user meets it: help, version, unknown
# flags and commands (one error line, a hint, exit code).
set -euo pipefail
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
fails=0

# matches FILE RE: RE '^$' means the file must be empty
matches() {
	if [[ $2 == '^$' ]]; then [[ ! -s $1 ]]; else grep -Eq -- "$2" "$1"; fi
}

check() { # check NAME WANT_RC WANT_STDOUT_RE WANT_STDERR_RE -- ARGS...
	local name=$1 want_rc=$2 out_re=$3 err_re=$4 rc=0
	shift 5
	"$exe" "$@" >/tmp/kiln-cli.$$.out 2>/tmp/kiln-cli.$$.err || rc=$?
	if [[ $rc != "$want_rc" ]] || ! matches /tmp/kiln-cli.$$.out "$out_re" ||
		! matches /tmp/kiln-cli.$$.err "$err_re"; then
		echo "FAIL $name: rc=$rc (want $want_rc)"
		echo "  stdout: $(head -c 400 /tmp/kiln-cli.$$.out)"
		echo "  stderr: $(head -c 400 /tmp/kiln-cli.$$.err)"
		fails=$((fails + 1))
	else
		echo "ok   $name"
	fi
}
trap 'rm -f /tmp/kiln-cli.$$.*' EXIT

check version 0 '^kiln version [0-9]+\.[0-9]+\.[0-9]+$' '^$' -- version
check version-libs 0 'libcurl .*OpenSSL' '^$' -- version
for lib in libcurl OpenSSL zlib cJSON libarchive xxHash; do
	check "version-$lib" 0 "^  $lib" '^$' -- version
done
check help 0 '--verbosity LEVEL' '^$' -- --help
check help-commands 0 '^  version' '^$' -- --help
check help-short 0 '--log-format FORMAT' '^$' -- -h
check unknown-flag-hint 1 '^$' "^error: unknown flag '--verbosty'; did you mean '--verbosity'\?" -- --verbosty=debug
check unknown-flag-far 1 '^$' "^error: unknown flag '--frobnicate'; see 'executor --help'" -- --frobnicate
check unknown-short 1 '^$' "^error: unknown flag '-q'" -- -q
check unknown-command 1 '^$' "^error: unknown command 'bulid'" -- bulid
check bad-verbosity 1 '^$' "^error: --verbosity: unknown verbosity 'loud'" -- version --verbosity loud
check missing-value 1 '^$' "^error: flag '--log-format' needs a value" -- version --log-format
check bad-bool 1 '^$' "invalid value 'maybe' for '--log-timestamp'" -- version --log-timestamp=maybe
check version-extra-arg 1 '^$' "^error: 'version' takes no arguments" -- version extra
check debug-unknown 2 '^$' "^error: unknown debug tool 'nope'" -- debug nope
check build-needs-destination 1 '^$' "^error: no --destination given; pass --destination" --
# every error is one line
"$exe" --verbosty=x 2>/tmp/kiln-cli.$$.err >/dev/null || true
lines=$(wc -l </tmp/kiln-cli.$$.err)
if [[ $lines != 1 ]]; then echo "FAIL one-line-error: $lines lines"; fails=$((fails + 1)); else echo "ok   one-line-error"; fi

[[ $fails == 0 ]]
