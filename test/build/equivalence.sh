#!/bin/bash
# equivalence.sh NAME: build the acceptance case NAME with kiln and with
# buildah (run-case.sh, which also runs the case's checks on each), then
# compare the two unpacked trees entry by entry (test/build/tree.py: type,
# mode, owner, content, link targets, hardlink groups; not timestamps).
# Deliberate differences are listed in test/build/equivalence-exceptions.
# Cases that must fail (`exit N` in expect) have no tree: both builds must
# fail as the expect file says. Cases with a no-equivalence file are not
# registered (buildah cannot build them).
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
name=${1:?usage: equivalence.sh NAME}
here=$KILN_SOURCE_DIR/test/build
case_dir=${KILN_CASES_DIR:-$here/cases}/$name
[[ ! -f $case_dir/no-equivalence ]] ||
	kiln_die "$name has a no-equivalence file: $(head -1 "$case_dir/no-equivalence")"
kiln_require_root
kiln_require_cmd buildah python3
kiln_make_tmpdir "equiv-$name"
w=$KILN_TMPDIR

for b in kiln buildah; do
	KILN_CASE_BUILDER=$b KILN_CASE_OUT=$w/$b bash "$here/run-case.sh" "$name" ||
		kiln_die "$name: the $b build or its checks failed"
done
if grep -q '^[[:space:]]*\(kiln:[[:space:]]*\)\{0,1\}exit[[:space:]]' "$case_dir/expect"; then
	kiln_log "$name: both builds failed as expected (kiln $(cat "$w/kiln/rc"), buildah $(cat "$w/buildah/rc"))"
	exit 0
fi
python3 "$here/tree.py" --exceptions "$here/equivalence-exceptions" --case "$name" \
	"$w/kiln/bundle/rootfs" "$w/buildah/bundle/rootfs" ||
	kiln_die "$name: kiln's tree differs from buildah's"
