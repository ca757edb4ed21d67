#!/bin/bash
# integration.warm: `executor warm` (kaniko's warmer) against a real
# registry. Each entry of the cache directory must be an OCI layout that
# skopeo and umoci read, holding the registry's manifest byte for byte;
# a second warm keeps it, --force and an expired --cache-ttl replace it,
# warmers racing on one directory leave one valid entry and no temporary
# directory, --dockerfile warms the external FROM images only (meta ARGs
# and --build-arg expanded), and each failure is one error line, exit 1,
# with nothing left in the cache directory.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo umoci jq sha256sum
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" library/busybox:latest
kiln_fixture_push busybox "$reg" other/busybox:2
platform=linux/$(kiln_oci_arch)
umoci_flags=()
[[ $(id -u) == 0 ]] || umoci_flags=(--rootless)

# warm OUT FLAGS...: run the warmer, stdout+stderr to $work/OUT.log; its
# exit code is returned.
warm() {
	local out=$1
	shift
	"$KILN_EXECUTOR" warm --log-format=text "$@" >"$work/$out.log" 2>&1
}

# entry_dir CACHE REF: the entry's directory, named as base-cache.h says.
entry_dir() {
	local hex
	hex=$(printf '%s\n%s' "$2" "$platform" | sha256sum | cut -d' ' -f1)
	printf '%s/%s' "$1" "$hex"
}

# check_entry DIR REF: skopeo and umoci read it, and it holds the
# registry's manifest for REF.
check_entry() {
	local dir=$1 ref=$2 want got name
	[[ -f $dir/oci-layout && -f $dir/index.json ]] || kiln_die "'$dir' is not an OCI layout"
	# a build may run as another user than the warmer
	kiln_assert_eq 755 "$(stat -c %a "$dir")" "mode of the entry directory"
	[[ -z $(find "$dir" ! -perm -o+r) ]] || kiln_die "unreadable in '$dir': $(find "$dir" ! -perm -o+r)"
	want=$(kiln_skopeo inspect --tls-verify=false "docker://$ref" | jq -r .Digest)
	got=$(kiln_skopeo inspect "oci:$dir" | jq -r .Digest)
	kiln_assert_eq "$want" "$got" "manifest digest in the entry for $ref"
	kiln_assert_eq "$want" "sha256:$(sha256sum <"$dir/blobs/sha256/${got#sha256:}" | cut -d' ' -f1)" \
		"sha256 of the stored manifest bytes"
	name=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$dir/index.json")
	kiln_assert_eq "$ref" "$name" "ref.name annotation"
	jq -e '.manifests | length == 1' "$dir/index.json" >/dev/null || kiln_die "index.json of '$dir' lists more than one image"
	jq -r '.manifests[0].annotations["org.opencontainers.image.created"]' "$dir/index.json" |
		grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
		kiln_die "no created annotation in '$dir/index.json'"
	rm -rf "$work/bundle"
	umoci unpack "${umoci_flags[@]}" --image "$dir:$name" "$work/bundle" >"$work/umoci.log" 2>&1 ||
		kiln_die "umoci unpack of '$dir' failed: $(cat "$work/umoci.log")"
	[[ -x $work/bundle/rootfs/bin/busybox ]] || kiln_die "no bin/busybox in the unpacked entry"
}

# only_entries CACHE N: N entries and no temporary directory in CACHE.
only_entries() {
	local n
	n=$(find "$1" -mindepth 1 -maxdepth 1 | wc -l)
	if [[ $n != "$2" ]] || compgen -G "$1/.warm-*" >/dev/null; then
		kiln_die "'$1' should hold $2 entries and nothing else, it has: $(find "$1" -mindepth 1 -maxdepth 1 -printf '%f ')"
	fi
}

# one_error LOG WHAT: the run printed exactly one error line, containing WHAT.
one_error() {
	local n
	n=$(grep -c '^error: ' "$1" || true)
	[[ $n == 1 ]] || kiln_die "expected one error line, got $n: $(cat "$1")"
	grep -q "^error: .*$2" "$1" || kiln_die "the error does not mention '$2': $(cat "$1")"
}

ref=$reg/library/busybox:latest
cache=$work/cache
dir=$(entry_dir "$cache" "$ref")

# --help lists the warmer's flags.
"$KILN_EXECUTOR" warm --help >"$work/help" || kiln_die "warm --help failed"
for flag in '-i, --image' '-d, --dockerfile' '-c, --cache-dir' '-f, --force' '--cache-ttl' \
	'--build-arg' '--custom-platform' '--insecure-registry' '--registry-mirror' '--verbosity'; do
	grep -q -- "$flag" "$work/help" || kiln_die "warm --help does not list '$flag'"
done

# A first warm stores the image (the short reference is normalised).
warm first -c "$cache" -i "$reg/library/busybox" || kiln_die "warm failed: $(cat "$work/first.log")"
grep -q "INFO.*Stored $ref ($platform) in '$dir': sha256:[0-9a-f]\{64\}, 1 layers" "$work/first.log" ||
	kiln_die "no 'Stored' line: $(cat "$work/first.log")"
only_entries "$cache" 1
check_entry "$dir" "$ref"

# A second one keeps it: the same directory, index.json untouched.
before=$(stat -c '%i %Y' "$dir" "$dir/index.json")
sleep 1
warm again --cache-dir="$cache" --image="$ref" || kiln_die "second warm failed: $(cat "$work/again.log")"
grep -q "INFO.*$ref ($platform) is already cached: sha256:" "$work/again.log" ||
	kiln_die "no 'already cached' line: $(cat "$work/again.log")"
grep -q Stored "$work/again.log" && kiln_die "the second warm stored again: $(cat "$work/again.log")"
kiln_assert_eq "$before" "$(stat -c '%i %Y' "$dir" "$dir/index.json")" "inode and mtime after a second warm"

# --force pulls again and replaces the entry in one rename.
warm force -f -c "$cache" -i "$ref" || kiln_die "warm --force failed: $(cat "$work/force.log")"
grep -q "Stored $ref" "$work/force.log" || kiln_die "--force did not store: $(cat "$work/force.log")"
[[ $(stat -c %i "$dir") != "${before%% *}" ]] || kiln_die "--force left the old entry in place"
only_entries "$cache" 1
check_entry "$dir" "$ref"

# An entry older than --cache-ttl is pulled again.
before=$(stat -c %i "$dir")
sleep 2
warm ttl --cache-ttl=1s -c "$cache" -i "$ref" || kiln_die "warm --cache-ttl failed: $(cat "$work/ttl.log")"
grep -q "Stored $ref" "$work/ttl.log" || kiln_die "an expired entry was kept: $(cat "$work/ttl.log")"
[[ $(stat -c %i "$dir") != "$before" ]] || kiln_die "the expired entry is still in place"
only_entries "$cache" 1
check_entry "$dir" "$ref"

# Warmers racing on one directory: all succeed, one entry, no leftovers.
# Without --force exactly one stores (the others find its entry, before or
# after their own pull); with --force each replaces the entry in turn.
# race NAME FLAGS...: four warmers at once, logs NAME1..NAME4.
race() {
	local name=$1 i pids=()
	shift
	for i in 1 2 3 4; do
		warm "$name$i" -c "$work/race" -i "$ref" "$@" &
		pids+=($!)
	done
	for i in 1 2 3 4; do
		wait "${pids[i - 1]}" || kiln_die "warmer $i of a race failed: $(cat "$work/$name$i.log")"
	done
	only_entries "$work/race" 1
	check_entry "$(entry_dir "$work/race" "$ref")" "$ref"
}
race race
kiln_assert_eq "1 3" "$(cat "$work"/race?.log | grep -c "Stored $ref") $(cat "$work"/race?.log |
	grep -c "$ref ($platform) is already cached")" "warmers that stored / kept the entry"
race forced --force
kiln_assert_eq 4 "$(cat "$work"/forced?.log | grep -c "Stored $ref")" "forced warmers that stored"

# --dockerfile: external FROM images only, after ARG and --build-arg
# expansion; a stage and scratch are skipped.
cat >"$work/Dockerfile" <<'EOF'
ARG BASE=wrong.invalid/never:pulled
FROM $BASE AS first
RUN true
FROM first
RUN true
FROM scratch
COPY --from=first /bin/busybox /busybox
EOF
other=$reg/other/busybox:2
warm df -d "$work/Dockerfile" --build-arg "BASE=$other" -c "$work/df" ||
	kiln_die "warm --dockerfile failed: $(cat "$work/df.log")"
kiln_assert_eq 1 "$(grep -c Stored "$work/df.log")" "images stored for the Dockerfile"
only_entries "$work/df" 1
check_entry "$(entry_dir "$work/df" "$other")" "$other"

# A Dockerfile of scratch and stages only: nothing to do, success.
printf 'FROM scratch AS a\nFROM a\n' >"$work/Dockerfile.scratch"
warm scratch -d "$work/Dockerfile.scratch" -c "$work/scratch" ||
	kiln_die "warm of a scratch Dockerfile failed: $(cat "$work/scratch.log")"
grep -q "Nothing to warm" "$work/scratch.log" || kiln_die "$(cat "$work/scratch.log")"

# Failures: one error line, exit 1, nothing in the cache directory.
fail() {
	local name=$1 what=$2
	shift 2
	if warm "$name" "$@"; then
		kiln_die "warm $* succeeded: $(cat "$work/$name.log")"
	fi
	one_error "$work/$name.log" "$what"
}
fail none 'nothing to warm' -c "$work/none"
fail bad-ref "invalid reference 'Not::A/ref'" -c "$work/bad" -i "$ref" -i 'Not::A/ref'
[[ ! -e $work/bad ]] || only_entries "$work/bad" 0
fail missing 'not found\|unknown' -c "$work/missing" -i "$reg/no/such:image"
only_entries "$work/missing" 0
touch "$work/file"
fail unwritable "$work/file" -c "$work/file/cache" -i "$ref"
fail bad-ttl '--cache-ttl' --cache-ttl=soon -c "$work/none" -i "$ref"
kiln_registry_stop
fail stopped "$reg" --image-download-retry=1 -c "$work/stopped" -i "$ref"
only_entries "$work/stopped" 0
kiln_log "ok"
