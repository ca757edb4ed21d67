# shellcheck shell=bash
# test/tools/lib.sh: helpers shared by kiln's shell integration tests and
# fixture scripts. Source it from a script that has already done
# `set -euo pipefail`; it sets no shell options itself.
#
# Typical use (a test):
#   set -euo pipefail
#   . "${KILN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/test/tools/lib.sh"
#   . "$KILN_SOURCE_DIR/test/tools/registry.sh"
#   kiln_require_root
#   kiln_require_cmd skopeo umoci
#   kiln_make_tmpdir; work=$KILN_TMPDIR  # removed at exit
#   kiln_on_exit kiln_registry_stop      # (kiln_registry_start does it too)
#   kiln_registry_start
#   kiln_fixture_push busybox "$KILN_REGISTRY" test/busybox:1
#
# Exit codes: 0 pass, 1 fail, 77 skip. kiln_skip turns a skip into a failure
# when CI=true, because CI must have every prerequisite.
#
# Environment read here:
#   KILN_SOURCE_DIR      source tree (default: derived from this file's path)
#   KILN_TEST_TMP        parent of every temp dir (default /tmp)
#   KILN_KEEP_TMP=1      keep temp dirs for a post-mortem instead of removing them
#   KILN_FIXTURE_CACHE   fixture cache (default /var/cache/kiln-test for root,
#                        ~/.cache/kiln-test otherwise; see test/fixtures/common.sh)
#   CI=true              skips become failures

if [[ -z ${KILN_SOURCE_DIR:-} ]]; then
	KILN_SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fi
export KILN_SOURCE_DIR

# ---------------------------------------------------------------- messages

# The name shown in front of every message: the test or fixture script.
_kiln_prog() {
	local p=${BASH_SOURCE[-1]:-$0}
	printf '%s' "${p##*/}"
}

# kiln_log MSG...: one line on stderr (stdout is kept for results).
kiln_log() {
	printf '%s: %s\n' "$(_kiln_prog)" "$*" >&2
}

# kiln_die MSG...: report a failure and exit 1.
kiln_die() {
	printf '%s: FAIL: %s\n' "$(_kiln_prog)" "$*" >&2
	exit 1
}

# kiln_skip REASON: exit 77 (skipped); in CI (CI=true) a missing
# prerequisite is a failure instead, so CI cannot pass by skipping.
kiln_skip() {
	if [[ ${CI:-} == true ]]; then
		printf '%s: FAIL: missing prerequisite in CI: %s\n' "$(_kiln_prog)" "$*" >&2
		exit 1
	fi
	printf '%s: SKIP: %s\n' "$(_kiln_prog)" "$*" >&2
	exit 77
}

# ------------------------------------------------------------ prerequisites

# kiln_require_cmd CMD...: skip unless every command is on PATH.
kiln_require_cmd() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	if ((${#missing[@]})); then
		kiln_skip "command not found: ${missing[*]} (see test/tools/packages.txt)"
	fi
}

# kiln_require_root: skip unless running as uid 0.
kiln_require_root() {
	[[ $(id -u) == 0 ]] || kiln_skip "must run as root (label needs-root)"
}

# ------------------------------------------------------------------ cleanup

_KILN_ON_EXIT=()

_kiln_run_on_exit() {
	local rc=$? i
	set +e
	for ((i = ${#_KILN_ON_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${_KILN_ON_EXIT[i]}"
	done
	_KILN_ON_EXIT=()
	return "$rc"
}

# kiln_on_exit CMD [ARGS...]: run CMD at exit (normal, failure, INT or TERM),
# last registered first. Installs the EXIT trap: a later `trap ... EXIT` of
# the test's own replaces it (and so drops the temp dir cleanup), so use
# kiln_on_exit for everything.
kiln_on_exit() {
	local q
	printf -v q '%q ' "$@"
	_KILN_ON_EXIT+=("$q")
	trap _kiln_run_on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# kiln_rm_tree DIR: remove a temp tree, never crossing into a mount point
# (a bind-mounted /dev or /proc left inside a rootfs must not be emptied).
kiln_rm_tree() {
	local dir=$1
	[[ -n $dir && $dir != / && -e $dir ]] || return 0
	kiln_umount_under "$dir"
	rm -rf --one-file-system -- "$dir"
}

# kiln_umount_under DIR: lazily unmount everything mounted at or below DIR,
# deepest first.
kiln_umount_under() {
	local dir mp
	dir=$(realpath -m -- "$1")
	[[ -r /proc/self/mountinfo ]] || return 0
	# Field 5 of mountinfo is the mount point (octal escapes for blanks,
	# which our temp paths never contain).
	while read -r mp; do
		umount -l -- "$mp" 2>/dev/null || kiln_log "could not unmount '$mp'"
	done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r)
}

# kiln_make_tmpdir [NAME]: create a fresh directory
# ${KILN_TEST_TMP:-/tmp}/kiln-NAME.XXXXXX (NAME defaults to the script's),
# set KILN_TMPDIR to it, remove it at exit (unless KILN_KEEP_TMP=1). Must run
# in the test's own shell, not in $(...).
# shellcheck disable=SC2120 # NAME is optional
kiln_make_tmpdir() {
	local name=${1:-$(_kiln_prog)} base=${KILN_TEST_TMP:-/tmp} d
	mkdir -p -- "$base"
	d=$(mktemp -d "$base/kiln-${name%.sh}.XXXXXX") ||
		kiln_die "cannot create a temp dir under '$base'"
	# shellcheck disable=SC2034 # read by the caller
	KILN_TMPDIR=$d
	if [[ ${KILN_KEEP_TMP:-} == 1 ]]; then
		kiln_log "keeping temp dir $d (KILN_KEEP_TMP=1)"
	else
		kiln_on_exit kiln_rm_tree "$d"
	fi
}

# ---------------------------------------------------------------- assertions

# kiln_assert_eq EXPECTED ACTUAL WHAT: fail unless the strings are equal.
kiln_assert_eq() {
	[[ $1 == "$2" ]] || kiln_die "$3: expected '$1', got '$2'"
}

# kiln_assert_process_gone PID [PATTERN]: fail if PID still exists, or if any
# process has PATTERN (an extended regex, e.g. a config file path) in its
# command line.
kiln_assert_process_gone() {
	local pid=$1 pattern=${2:-} left
	if kill -0 "$pid" 2>/dev/null; then
		kiln_die "process $pid is still running: $(ps -o pid=,stat=,args= -p "$pid" 2>/dev/null)"
	fi
	if [[ -n $pattern ]] && left=$(pgrep -a -f -- "$pattern"); then
		kiln_die "processes matching '$pattern' are left behind: $left"
	fi
}

# ----------------------------------------------------------------- platform

# kiln_oci_arch: the host's architecture as OCI names it (amd64, arm64, ...).
kiln_oci_arch() {
	local m
	m=$(uname -m)
	case $m in
	x86_64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	armv7* | armv6* | armhf) echo arm ;;
	i?86) echo 386 ;;
	ppc64le) echo ppc64le ;;
	s390x) echo s390x ;;
	riscv64) echo riscv64 ;;
	*) kiln_die "unknown machine '$m': add it to kiln_oci_arch in test/tools/lib.sh" ;;
	esac
}

# kiln_kernel_at_least MAJOR MINOR: true if the running kernel is at least
# MAJOR.MINOR (from uname -r, e.g. "6.1.0-18-amd64").
kiln_kernel_at_least() {
	local rel maj min
	rel=$(uname -r)
	[[ $rel =~ ^([0-9]+)\.([0-9]+) ]] || return 1
	maj=${BASH_REMATCH[1]} min=${BASH_REMATCH[2]}
	((maj > $1 || (maj == $1 && min >= $2)))
}

# _kiln_le BYTES_ARRAY_NAME OFFSET SIZE: set _KILN_LE to the unsigned
# little-endian integer at OFFSET in an array of decimal byte values (no
# subshell: forks are slow on small CI machines).
_kiln_le() {
	local -n _b=$1
	local i
	_KILN_LE=0
	for ((i = $2 + $3 - 1; i >= $2; i--)); do
		_KILN_LE=$((_KILN_LE * 256 + ${_b[i]:-0}))
	done
}

# kiln_elf_is_static FILE: true if FILE is a 64-bit little-endian ELF with no
# PT_INTERP program header, i.e. it runs without a dynamic loader (what a
# chroot holding nothing but that file needs).
kiln_elf_is_static() {
	local f=$1 hdr=() ph=() phoff phentsize phnum i
	[[ -f $f && -r $f ]] || return 1
	read -r -a hdr < <(od -An -v -tu1 -N64 -- "$f" | tr '\n' ' ')
	((${#hdr[@]} == 64)) || return 1
	# \x7fELF, ELFCLASS64 (2), ELFDATA2LSB (1)
	[[ "${hdr[*]:0:6}" == "127 69 76 70 2 1" ]] || return 1
	_kiln_le hdr 32 8 && phoff=$_KILN_LE
	_kiln_le hdr 54 2 && phentsize=$_KILN_LE
	_kiln_le hdr 56 2 && phnum=$_KILN_LE
	((phnum > 0 && phnum < 1024 && phentsize >= 4)) || return 1
	read -r -a ph < <(od -An -v -tu1 -j "$phoff" -N $((phnum * phentsize)) -- "$f" | tr '\n' ' ')
	((${#ph[@]} == phnum * phentsize)) || return 1
	for ((i = 0; i < phnum; i++)); do
		# p_type is the first 4 bytes of each entry; 3 is PT_INTERP.
		_kiln_le ph $((i * phentsize)) 4
		((_KILN_LE != 3)) || return 1
	done
	return 0
}

# ------------------------------------------------------------------ skopeo

# kiln_skopeo ARGS...: skopeo without depending on the host's
# /etc/containers/policy.json (tests only talk to their own registry).
kiln_skopeo() {
	skopeo --insecure-policy "$@"
}

# ---------------------------------------------------------------- fixtures

declare -gA _KILN_FIXTURE_DIRS=()

# kiln_fixture NAME: build (or reuse from the cache) the fixture image NAME
# (test/fixtures/NAME.sh) and set, in the calling shell:
#   KILN_FIXTURE_DIR  its OCI layout directory (one tag, NAME)
#   KILN_FIXTURE_REF  oci:DIR:NAME, for skopeo and umoci
# The result is remembered, so a second call in the same test is free and
# gives the same layout. Call it as a plain command, not in $(...).
kiln_fixture() {
	local name=$1 script="$KILN_SOURCE_DIR/test/fixtures/$1.sh" dir
	dir=${_KILN_FIXTURE_DIRS[$name]:-}
	if [[ -z $dir ]]; then
		[[ -f $script ]] || kiln_die "no fixture '$name': $script does not exist"
		dir=$(bash "$script") || kiln_die "building fixture '$name' failed (test/fixtures/$name.sh)"
		[[ -f $dir/index.json ]] || kiln_die "fixture '$name': '$dir' is not an OCI layout"
		_KILN_FIXTURE_DIRS[$name]=$dir
	fi
	# shellcheck disable=SC2034 # read by the caller
	KILN_FIXTURE_DIR=$dir
	KILN_FIXTURE_REF=oci:$dir:$name
}

# kiln_fixture_push NAME REGISTRY REPO:TAG [SKOPEO_COPY_ARGS...]: ensure the
# fixture exists (kiln_fixture: sets KILN_FIXTURE_DIR/REF) and copy it to docker://REGISTRY/REPO:TAG. Without extra
# arguments the destination is plain HTTP (--dest-tls-verify=false); extra
# arguments (e.g. --dest-creds U:P --dest-cert-dir D) replace that default.
kiln_fixture_push() {
	(($# >= 3)) || kiln_die "usage: kiln_fixture_push NAME REGISTRY REPO:TAG [SKOPEO_COPY_ARGS...]"
	local name=$1 registry=$2 ref=$3
	shift 3
	(($#)) || set -- --dest-tls-verify=false
	kiln_fixture "$name"
	kiln_skopeo copy --quiet "$@" "$KILN_FIXTURE_REF" "docker://$registry/$ref" >&2 ||
		kiln_die "skopeo copy $KILN_FIXTURE_REF docker://$registry/$ref failed"
}
