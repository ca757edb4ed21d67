#!/bin/bash
# run-case.sh NAME: build the acceptance case test/build/cases/NAME and check
# the pushed image against the case's `expect` file (test/build/check.py).
#
# Steps: start the registry fixture, push the busybox fixture as
# $KILN_REGISTRY/busybox:latest, copy the case directory to a temp context
# (without the case's own files: expect, args, env, setup.sh, base/,
# no-equivalence), run setup.sh there if the case has one, build base/ first
# if the case has one (pushed as $KILN_REGISTRY/base:latest), build the case
# into $KILN_REGISTRY/case:latest, copy that to an OCI layout (skopeo),
# unpack it (umoci) and run check.py on the rootfs and the config (as
# pushed: skopeo inspect --config docker://...). A case
# whose expect holds `exit N` must fail with N and push nothing.
#
# Every build gets --build-arg REGISTRY=<host:port> and
# --build-arg BUSYBOX_DIGEST=<sha256:...> (Dockerfiles start with
# `ARG REGISTRY` then `FROM ${REGISTRY}/busybox`), then the lines of the
# case's `args` file (one flag a line, e.g. `--target=build`). The `env` file
# (NAME=VALUE lines) is added to the builder's environment. setup.sh runs
# with the context as its working directory and CASE_WORK (a scratch dir
# outside the context) in its environment; it may append flags to
# $CASE_WORK/args and process ids to $CASE_WORK/pids (killed at exit).
#
# Environment:
#   KILN_CASE_BUILDER  kiln (default: $KILN_EXECUTOR) or buildah (buildah bud,
#                      vfs storage, chroot isolation, docker format: checks
#                      the cases against Docker semantics without kiln)
#   KILN_CASE_OUT      when set, keep the result there: rootfs/ (the unpacked
#                      image), config.json, rc, stderr
#   KILN_CASES_DIR     where the cases are (default test/build/cases)
# plus those of test/tools/lib.sh (KILN_KEEP_TMP=1 keeps the temp dir).
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

name=${1:?usage: run-case.sh NAME}
builder=${KILN_CASE_BUILDER:-kiln}
cases=${KILN_CASES_DIR:-$KILN_SOURCE_DIR/test/build/cases}
case_dir=$cases/$name
[[ -f $case_dir/Dockerfile && -f $case_dir/expect ]] ||
	kiln_die "no case '$name' ($case_dir needs a Dockerfile and an expect file)"

kiln_require_root
kiln_require_cmd docker-registry skopeo umoci python3
case $builder in
kiln)
	exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
	[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
	;;
buildah)
	kiln_require_cmd buildah
	if [[ -f $case_dir/no-equivalence ]]; then
		kiln_skip "$name: buildah cannot build it: $(head -1 "$case_dir/no-equivalence")"
	fi
	;;
*) kiln_die "KILN_CASE_BUILDER must be kiln or buildah, not '$builder'" ;;
esac

kiln_make_tmpdir "build-$name"
w=$KILN_TMPDIR
mkdir -p "$w/work"
export CASE_WORK=$w/work
: >"$CASE_WORK/args"
: >"$CASE_WORK/pids"

kill_case_pids() {
	local p
	while read -r p; do
		[[ -n $p ]] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done <"$CASE_WORK/pids"
	return 0
}
kiln_on_exit kill_case_pids

kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" busybox:latest
bb_digest=$(kiln_skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/busybox:latest")

# case_flags DIR: the flags of DIR/args, one per line on stdout.
case_flags() {
	[[ -f $1/args ]] || return 0
	grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1/args" || true
}

# buildah_flags FLAG...: the kiln flags buildah knows, in its spelling; the
# rest (output options such as --reproducible) do not change the image
# tree or the config checks and are dropped.
buildah_flags() {
	local f
	for f in "$@"; do
		case $f in
		--build-arg=* | --target=* | --label=*) printf '%s\n' "$f" ;;
		*) ;;
		esac
	done
}

# build SRC_DIR CTX DEST: build CTX (prepared from SRC_DIR) into the registry
# as DEST; status in $build_rc, stderr in $w/stderr.
build() {
	local src=$1 ctx=$2 dest=$3 flags=() envs=() line
	flags=(--build-arg="REGISTRY=$reg" --build-arg="BUSYBOX_DIGEST=$bb_digest")
	while IFS= read -r line; do flags+=("$line"); done < <(case_flags "$src"; cat "$CASE_WORK/args")
	if [[ -f $src/env ]]; then
		while IFS= read -r line; do
			[[ -z $line || $line == \#* ]] || envs+=("$line")
		done <"$src/env"
	fi
	build_rc=0
	if [[ $builder == kiln ]]; then
		local root kd
		root=$(mktemp -d "$w/root.XXXXXX") kd=$(mktemp -d "$w/kd.XXXXXX")
		env "${envs[@]}" "$exe" --context="dir://$ctx" --dockerfile="$ctx/Dockerfile" \
			--destination="$reg/$dest" --rootfs="$root" --kiln-dir="$kd" "${flags[@]}" \
			>"$w/stdout" 2>"$w/stderr" || build_rc=$?
	else
		local b=(buildah --root "$w/buildah/root" --runroot "$w/buildah/runroot" --storage-driver vfs)
		local bf=()
		while IFS= read -r line; do bf+=("$line"); done < <(buildah_flags "${flags[@]}")
		env "${envs[@]}" "${b[@]}" bud --isolation chroot --tls-verify=false --layers=false \
			--format docker "${bf[@]}" -f "$ctx/Dockerfile" -t "$reg/$dest" "$ctx" \
			>"$w/stdout" 2>"$w/stderr" || build_rc=$?
		if ((build_rc == 0)); then
			"${b[@]}" push --quiet --format v2s2 --tls-verify=false "$reg/$dest" "docker://$reg/$dest" \
				>>"$w/stdout" 2>>"$w/stderr" || kiln_die "buildah push failed: $(tail -3 "$w/stderr")"
		fi
	fi
}

# prepare SRC_DIR CTX: copy a case directory to a context, run its setup.sh.
prepare() {
	local src=$1 ctx=$2
	cp -a -- "$src" "$ctx"
	rm -rf -- "$ctx"/{expect,args,env,setup.sh,base,no-equivalence}
	# COPY --from takes no variables (as in Docker): a literal placeholder.
	sed -i "s|@REGISTRY@|$reg|g" "$ctx/Dockerfile"
	if [[ -f $src/setup.sh ]]; then
		(cd "$ctx" && REGISTRY=$reg bash "$src/setup.sh") ||
			kiln_die "$name: setup.sh failed"
	fi
}

if [[ -d $case_dir/base ]]; then
	prepare "$case_dir/base" "$w/base-ctx"
	build "$case_dir/base" "$w/base-ctx" base:latest
	((build_rc == 0)) || kiln_die "$name: building base/ failed ($build_rc): $(tail -5 "$w/stderr")"
	: >"$CASE_WORK/args"
fi
prepare "$case_dir" "$w/ctx"
build "$case_dir" "$w/ctx" case:latest
kiln_log "$name: $builder exited with $build_rc"

want_rc=$(awk '$1 == "exit" { print $2 }' "$case_dir/expect")
out=${KILN_CASE_OUT:-$w/out}
mkdir -p "$out"
echo "$build_rc" >"$out/rc"
cp "$w/stderr" "$out/stderr"
check=(python3 "$KILN_SOURCE_DIR/test/build/check.py" --expect "$case_dir/expect"
	--builder "$builder" --rc "$build_rc" --stderr "$w/stderr")
if [[ -n $want_rc ]]; then
	if kiln_skopeo inspect --tls-verify=false --raw "docker://$reg/case:latest" >/dev/null 2>&1; then
		kiln_die "$name: the build failed but case:latest was pushed"
	fi
	"${check[@]}" || {
		tail -20 "$w/stderr" >&2
		kiln_die "$name: checks failed"
	}
	exit 0
fi
if ((build_rc != 0)); then
	tail -30 "$w/stderr" >&2
	kiln_die "$name: the build failed with status $build_rc"
fi

kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/case:latest" "oci:$w/layout:case" >&2 ||
	kiln_die "$name: skopeo copy of the pushed image failed"
# The config as pushed (raw: skopeo would otherwise convert it to an OCI config, dropping
# Docker-only fields such as Healthcheck, Shell and OnBuild).
kiln_skopeo inspect --raw --config --tls-verify=false "docker://$reg/case:latest" >"$out/config.json" ||
	kiln_die "$name: skopeo inspect --config failed"
rm -rf -- "$out/bundle"
umoci unpack --image "$w/layout:case" "$out/bundle" >/dev/null ||
	kiln_die "$name: umoci unpack failed"
"${check[@]}" --rootfs "$out/bundle/rootfs" --config "$out/config.json" ||
	kiln_die "$name: checks failed (config: $out/config.json)"
