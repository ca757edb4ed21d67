#!/bin/bash
# integration.parse-contract: `executor debug parse` output, byte for byte,
# for the Dockerfiles in test/cli/parse/. For NAME.Dockerfile:
#   NAME.expected        stdout of `debug parse NAME.Dockerfile` (exit 0, stderr empty)
#   NAME.json.expected   stdout of `debug parse --format=json NAME.Dockerfile`
#   NAME.err.expected    stderr of `debug parse NAME.Dockerfile` (exit 1, stdout empty)
#   NAME.check.expected  stderr of `debug parse --check NAME.Dockerfile` (exit 1)
# The text form is BuildKit's node dump; the expected files were checked
# against BuildKit's parser rules (see issue 3), not just recorded.
# Usage errors exit 2. Regenerate nothing automatically: a changed output
# is a changed contract.
set -euo pipefail
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-parse.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0

fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

# run NAME WANT_RC ARGS...: run from parse/ so messages name the file as given.
run() {
	local name=$1 want_rc=$2 rc=0
	shift 2
	(cd "$here/parse" && "$exe" debug parse "$@") >"$tmp/out" 2>"$tmp/err" || rc=$?
	checks=$((checks + 1))
	if [[ $rc != "$want_rc" ]]; then
		fail "$name: exit $rc, want $want_rc; stderr: $(head -c 300 "$tmp/err")"
		return 1
	fi
}

same() { # same NAME EXPECTED_FILE ACTUAL_FILE
	if ! cmp -s "$2" "$3"; then
		fail "$1: output differs from ${2#"$here"/}"
		diff -u "$2" "$3" | head -20 || true
		return 1
	fi
}

empty() { # empty NAME FILE WHAT
	if [[ -s $2 ]]; then
		fail "$1: $3 not empty: $(head -c 300 "$2")"
		return 1
	fi
}

for df in "$here"/parse/*.Dockerfile; do
	name=$(basename "$df" .Dockerfile)
	base=$here/parse/$name
	found=0
	if [[ -f $base.expected ]]; then
		found=1
		if run "$name" 0 "$name.Dockerfile"; then
			same "$name" "$base.expected" "$tmp/out" && empty "$name" "$tmp/err" stderr
		fi
	fi
	if [[ -f $base.json.expected ]]; then
		found=1
		if run "$name.json" 0 --format=json "$name.Dockerfile"; then
			same "$name.json" "$base.json.expected" "$tmp/out" && empty "$name.json" "$tmp/err" stderr
			if [[ $(wc -l <"$tmp/out") != 1 ]]; then
				fail "$name.json: the JSON is not one line"
			fi
			if command -v python3 >/dev/null && ! python3 -m json.tool "$tmp/out" >/dev/null; then
				fail "$name.json: not valid JSON"
			fi
		fi
	fi
	if [[ -f $base.err.expected ]]; then
		found=1
		if run "$name.err" 1 "$name.Dockerfile"; then
			same "$name.err" "$base.err.expected" "$tmp/err" && empty "$name.err" "$tmp/out" stdout
		fi
		if run "$name.err-json" 1 --format=json "$name.Dockerfile"; then
			same "$name.err-json" "$base.err.expected" "$tmp/err"
		fi
	fi
	if [[ -f $base.check.expected ]]; then
		found=1
		if run "$name.check" 1 --check "$name.Dockerfile"; then
			same "$name.check" "$base.check.expected" "$tmp/err" && empty "$name.check" "$tmp/out" stdout
		fi
	fi
	[[ $found == 1 ]] || fail "$name: no expected file"
done

# A valid Dockerfile passes --check with the same output as without it.
if run check-ok 0 --check basic.Dockerfile; then
	same check-ok "$here/parse/basic.expected" "$tmp/out"
fi
# stdin
rc=0
"$exe" debug parse - <"$here/parse/basic.Dockerfile" >"$tmp/out" 2>"$tmp/err" || rc=$?
checks=$((checks + 1))
[[ $rc == 0 ]] && same stdin "$here/parse/basic.expected" "$tmp/out" || fail "stdin: exit $rc"

# Usage errors: exit 2, one line on stderr, nothing on stdout.
usage() {
	local name=$1 rc=0
	shift
	(cd "$here/parse" && "$exe" debug parse "$@") >"$tmp/out" 2>"$tmp/err" || rc=$?
	checks=$((checks + 1))
	if [[ $rc != 2 || -s $tmp/out || $(wc -l <"$tmp/err") != 1 ]]; then
		fail "usage $name: exit $rc, stdout $(wc -c <"$tmp/out") bytes, stderr $(wc -l <"$tmp/err") lines"
	fi
}
usage no-file
usage two-files basic.Dockerfile json.Dockerfile
usage bad-option --frobnicate basic.Dockerfile
usage bad-format --format=yaml basic.Dockerfile

# A missing file is an error (exit 1), not a parse result.
run missing 1 no-such.Dockerfile && empty missing "$tmp/out" stdout

echo "$checks checks, $fails failed"
[[ $fails == 0 ]]
