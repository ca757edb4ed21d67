#!/bin/bash
# The `executor debug expand` contract (issue 3): stdout, stderr and exit
# code compared exactly, one table row per case. Expected values are
# BuildKit's (frontend/dockerfile/shell) for the same word and environment.
#
#   expand NAME RC STDOUT STDERR -- ARGS...
# STDOUT/STDERR are the whole expected output; "*" for STDERR accepts any
# single line (usage errors, whose wording is kiln's own).
set -euo pipefail
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 total=0

expand() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4 rc=0 out err
	shift 5
	total=$((total + 1))
	"$exe" debug expand "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	out=$(cat "$tmp/out"; echo .)
	err=$(cat "$tmp/err"; echo .)
	out=${out%.} err=${err%.}
	if [[ $want_err == "*" && $(wc -l <"$tmp/err") == 1 ]]; then
		want_err=$err
	fi
	if [[ $rc != "$want_rc" || $out != "$want_out" || $err != "$want_err" ]]; then
		echo "FAIL $name: rc=$rc (want $want_rc)"
		printf '  stdout: %q\n    want: %q\n' "$out" "$want_out"
		printf '  stderr: %q\n    want: %q\n' "$err" "$want_err"
		fails=$((fails + 1))
	fi
}

nl=$'\n'

# --- plain expansion, as an ENV value: quotes removed, one line
expand plain 0 "hello${nl}" "" -- hello
expand var 0 "he/home${nl}" "" -- --env PWD=/home 'he$PWD'
expand braces 0 "/home_x${nl}" "" -- --env PWD=/home '${PWD}_x'
expand unset-is-empty 0 "he${nl}" "" -- 'he$NOPE'
expand later-env-wins 0 "2${nl}" "" -- --env A=1 --env A=2 '$A'
expand env-equals-form 0 "v${nl}" "" -- --env=A=v '$A'
expand value-with-equals 0 "a=b${nl}" "" -- --env 'A=a=b' '$A'
expand spaces-kept 0 "  a  b ${nl}" "" -- '  a  b '
expand empty-word 0 "${nl}" "" -- ''
expand dollar-alone 0 "\$${nl}" "" -- '$'
expand dollar-non-name 0 "\$.x${nl}" "" -- '$.x'
expand special-params 0 "[]${nl}" "" -- '[$1$#$@$*$?$$$!$0]'
expand positional-digits 0 "hex${nl}" "" -- 'he$12x'
expand unicode-name 0 "latte${nl}" "" -- --env 'café=latte' '$café'
expand unicode-text 0 "안녕한국어${nl}" "" -- --env 'K=한국어' '안녕$K'

# --- quotes and escapes
expand single-quotes 0 "\$PWD \\n${nl}" "" -- --env PWD=/x "'\$PWD \\n'"
expand double-quotes 0 "/x 'q'${nl}" "" -- --env PWD=/x "\"\$PWD 'q'\""
expand dq-escapes 0 "\"\$\\ \\a${nl}" "" -- '"\"\$\\ \a"'
expand escape-outside 0 "a\$b c${nl}" "" -- 'a\$b\ c'
expand escape-at-end 0 "abc${nl}" "" -- 'abc\'
expand backtick-escape 0 "C:\\dir\$x${nl}" "" -- --escape='`' 'C:\dir`$x'
expand backtick-separate 0 "x\"y${nl}" "" -- --escape '`' '"x`"y"'

# --- modifiers
expand default-unset 0 "def${nl}" "" -- '${X:-def}'
expand default-empty-colon 0 "def${nl}" "" -- --env X= '${X:-def}'
expand default-empty-nocolon 0 "${nl}" "" -- --env X= '${X-def}'
expand alt-set 0 "alt${nl}" "" -- --env X=1 '${X:+alt}'
expand alt-empty-colon 0 "${nl}" "" -- --env X= '${X:+alt}'
expand alt-empty-nocolon 0 "alt${nl}" "" -- --env X= '${X+alt}'
expand nested-default 0 "yyy${nl}" "" -- '${A:-${B:-yyy}}'
expand quoted-default 0 "a b${nl}" "" -- '${A:-"a b"}'
expand required-set 0 "v${nl}" "" -- --env X=v '${X:?msg}'
expand required-empty-nocolon 0 "${nl}" "" -- --env X= '${X?msg}'
expand prefix-short 0 "tar.gz${nl}" "" -- --env F=foo.tar.gz '${F#*.}'
expand prefix-long 0 "gz${nl}" "" -- --env F=foo.tar.gz '${F##*.}'
expand suffix-short 0 "foo.tar${nl}" "" -- --env F=foo.tar.gz '${F%.*}'
expand suffix-long 0 "foo${nl}" "" -- --env F=foo.tar.gz '${F%%.*}'
expand replace-first 0 "a-bXc${nl}" "" -- --env A=aXbXc '${A/X/-}'
expand replace-all 0 "a-b-c${nl}" "" -- --env A=aXbXc '${A//X/-}'
expand replace-slash 0 "\\/tmp\\/f${nl}" "" -- --env A=/tmp/f '${A//\//\/}'
expand replace-whole-match 0 "[a][b]${nl}" "" -- --env A=ab "\${A//?/'[\$0]'}"
expand brackets-literal 0 "x.y${nl}" "" -- --env A=x.y '${A/[.]/-}'

# --- word splitting (--words), as EXPOSE words
expand words-basic 0 "80/tcp${nl}443${nl}" "" -- --words '80/tcp 443'
expand words-var-splits 0 "a${nl}b${nl}c d${nl}e f${nl}" "" -- --words --env 'A=a b' '$A "c d" e\ f'
expand words-leading 0 "hello${nl}ab${nl}cdef${nl}" "" -- --words --env 'L=  ab c' 'hello${L}def'
expand words-quoted-var 0 "hello  ab c${nl}def${nl}" "" -- --words --env 'L=  ab c' 'hello"${L}" def'
expand words-none 0 "" "" -- --words '  '
expand words-empty-quotes 0 "" "" -- --words '"" $U'
expand words-tabs 0 "a${nl}b${nl}" "" -- --words $'\ta \n b '

# --- expansion errors: stdout empty, one line on stderr, exit 1
expand err-bad-subst 1 "" "failed to process \"\${}\": syntax error: bad substitution${nl}" -- '${}'
expand err-colon-subst 1 "" "failed to process \"\${:}\": syntax error: bad substitution${nl}" -- '${:}'
expand err-missing-brace 1 "" "failed to process \"\${X:-a\": syntax error: missing '}'${nl}" -- '${X:-a'
expand err-unterminated-name 1 "" "failed to process \"\${X\": unsupported modifier (�) in substitution${nl}" -- '${X'
expand err-required 1 "" "failed to process \"\${X:?need X}\": X: need X${nl}" -- '${X:?need X}'
expand err-required-default 1 "" "failed to process \"\${X?}\": X: is not allowed to be unset${nl}" -- '${X?}'
expand err-required-empty 1 "" "failed to process \"\${X:?}\": X: is not allowed to be empty${nl}" -- --env X= '${X:?}'
expand err-double-quote 1 "" "failed to process \"\\\"abc\": unexpected end of statement while looking for matching double-quote${nl}" -- '"abc'
expand err-single-quote 1 "" "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote${nl}" -- "'abc"
expand err-modifier 1 "" "failed to process \"\${X=1}\": unsupported modifier (=) in substitution${nl}" -- '${X=1}'
expand err-colon-hash 1 "" "failed to process \"\${X:#a}\": unsupported modifier (:#) in substitution${nl}" -- '${X:#a}'
expand err-pattern 1 "" "failed to process \"\${X#\\\\q}\": invalid pattern (\\q) in substitution: invalid escape '\\q'${nl}" -- '${X#\q}'
expand err-words 1 "" "failed to process \"a '\": unexpected end of statement while looking for matching single-quote${nl}" -- --words "a '"

# --- usage errors: exit 2, nothing on stdout
expand usage-no-word 2 "" "*" --
expand usage-two-words 2 "" "*" -- a b
expand usage-bad-escape 2 "" "*" -- --escape=x a
expand usage-env-no-equals 2 "" "*" -- --env A a
expand usage-env-empty-name 2 "" "*" -- --env =v a
expand usage-unknown-flag 2 "" "*" -- --frob a
expand usage-env-no-value 2 "" "*" -- --env
# after "--" a word may start with '-'
expand dashdash-word 0 "--words${nl}" "" -- -- --words

echo "expand-contract: $((total - fails))/$total passed"
[[ $fails == 0 ]]
