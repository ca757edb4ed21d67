#!/bin/bash
# integration.cache: the layer cache shared through the registry (--cache,
# kaniko's flags). Every build runs as a new CI pod would: a fresh ROOT
# (--rootfs) and a fresh --kiln-dir, so the registry is all builds share.
# Each scenario checks what a user sees: kaniko's log lines
#   INFO "Using caching version of cmd: <instruction as written>"   (a hit)
#   INFO "No cached layer found for cmd <instruction as written>"   (a miss)
#   INFO "Cache: N hits, M misses, P entries pushed"                (the end)
#   INFO "Stage <i> is fully cached: nothing unpacked"
# the exit status, the pushed image (skopeo inspect, umoci unpack) and the
# entries in the cache repository (64-hex tags, one layer or none, created
# at push time).
#
# Scenarios (KILN_CACHE_SCENARIOS="2 6" runs a subset while debugging; the
# default is all of them, and CI runs the default; scenario 0, always run
# first, builds each selected context once without --cache):
#   1  unchanged context: all hits, same digest under --reproducible; the
#      entries (default --cache-repo <destination repo>/cache) are pushed
#      before the build exits, their layers mounted from the destination
#   2  COPY a, RUN, COPY b, RUN on top of another stage: a new b misses
#      exactly COPY b and the RUN after it
#   3  a changed --build-arg misses, an undeclared one changes nothing;
#      --no-push-cache pushes nothing
#   4  touch (mtime only) and a .dockerignored file still hit, a mode change
#      misses
#   5  a cached RUN that deleted base files still deletes them
#   6  default --cache-copy-layers=false: COPY runs every time, the RUN after
#      it still hits; COPY --from a cached stage still gets its files
#   7  two pods (separate ROOTs and kiln dirs, one --cache-repo): only hits
#   8  --cache-ttl: an entry older than the TTL is not used
#   9  a cache repository that refuses pushes: warnings, exit 0, right image
#   10 `executor warm` then the registry stopped: the base comes from
#      --cache-dir
#   11 a fully cached stage unpacks nothing; --cache-run-layers=false
#   12 --cache-repo oci:DIR: two builders fill one OCI layout at once, a
#      third gets only hits; skopeo and umoci read the layout
# A failing scenario does not stop the others: the test reports every
# failed scenario and exits 1.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_root
kiln_require_cmd docker-registry skopeo umoci jq curl
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
# Refused pushes (scenario 9) come from a second registry in read-only mode:
# it answers lookups (nothing there) and refuses every upload with 405.
kiln_registry_start --readonly || kiln_die "could not start the read-only registry fixture"
ro_reg=$KILN_REGISTRY
kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY reg_log=$KILN_REGISTRY_LOG
kiln_fixture_push busybox "$reg" busybox:latest

# ------------------------------------------------------------- helpers

scenario_name=setup
fail() { kiln_die "scenario $scenario_name: $*"; }

# build NAME CTX FLAGS...: one build with CTX/Dockerfile in fresh
# directories ($work/builds/NAME: root/, kiln/, log). Sets $log and
# $build_rc; never fails itself.
build() {
	local name=$1 ctx=$2 d=$work/builds/$1
	shift 2
	[[ ! -e $d ]] || fail "test bug: build name '$name' used twice"
	mkdir -p "$d"
	log=$d/log
	build_rc=0
	"$exe" --context="dir://$ctx" --dockerfile="$ctx/Dockerfile" --rootfs="$d/root" \
		--kiln-dir="$d/kiln" --log-format=text "$@" >"$log" 2>&1 || build_rc=$?
	kiln_log "build $name: exit $build_rc"
}

# build_ok NAME CTX FLAGS...: build, and fail unless it exits 0.
build_ok() {
	build "$@"
	((build_rc == 0)) || fail "build $1 exited with $build_rc; its log ends with:
$(tail -n 20 "$log")"
}

# msg_count LEVEL TEXT: lines of $log at LEVEL (INFO, WARN) whose message is
# exactly TEXT (after an optional "component: " prefix).
msg_count() {
	awk -v lv="$1[" -v t="$2" '
		index($0, lv) == 1 {
			m = substr($0, index($0, "] ") + 2)
			n = length(m) - length(t)
			if (m == t || (n > 2 && substr(m, n + 1) == t && substr(m, n - 1, 2) == ": "))
				c++
		}
		END { print c + 0 }' "$log"
}

# step WANT INSTRUCTION: what the cache did for one instruction as written:
# hit (one "Using caching version"), miss (one "No cached layer found") or
# run (neither line: a step the cache does not cover, executed).
step() {
	local want=$1 in=$2 h m ok=0
	h=$(msg_count INFO "Using caching version of cmd: $in")
	m=$(msg_count INFO "No cached layer found for cmd $in")
	case $want in
	hit) ((h == 1 && m == 0)) && ok=1 ;;
	miss) ((h == 0 && m == 1)) && ok=1 ;;
	run) ((h == 0 && m == 0)) && ok=1 ;;
	*) fail "test bug: step $want" ;;
	esac
	((ok)) || fail "'$in' should be a $want in $log" \
		"(\"Using caching version\" lines: $h, \"No cached layer found\" lines: $m);" \
		"the cache lines were:
$(grep -E 'Using caching version|No cached layer found|Cache: ' "$log" || echo '(none)')"
}

# summary HITS MISSES PUSHED: the one "Cache: ..." line at the end of $log,
# and it agrees with the hit and miss lines.
summary() {
	local re='^INFO\[[^]]*\] ([a-z-]+: )?Cache: ([0-9]+) hits?, ([0-9]+) miss(es)?, ([0-9]+) entr(y|ies) pushed$'
	local lines got h m
	lines=$(grep -E "$re" "$log" || true)
	[[ -n $lines && $lines != *$'\n'* ]] ||
		fail "want one 'Cache: N hits, M misses, P entries pushed' line in $log, got:
${lines:-(none)}"
	[[ $lines =~ $re ]]
	got="${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[5]}"
	kiln_assert_eq "$1 $2 $3" "$got" "scenario $scenario_name: hits, misses, entries pushed in $log"
	h=$(grep -c 'Using caching version of cmd: ' "$log" || true)
	m=$(grep -c 'No cached layer found for cmd ' "$log" || true)
	kiln_assert_eq "$1 $2" "$h $m" \
		"scenario $scenario_name: \"Using caching version\" and \"No cached layer found\" lines in $log"
}

# no_cache_lines: a build without the cache said nothing about it.
no_cache_lines() {
	! grep -E 'Using caching version|No cached layer found|Cache: ' "$log" ||
		fail "cache lines in $log from a build without --cache"
}

# digest REF / layers REF: the pushed image's manifest digest / layer digests.
digest() { kiln_skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$1"; }
layers() { kiln_skopeo inspect --tls-verify=false "docker://$1" | jq -c .Layers; }

# unpack REF DIR: the pushed image's tree in DIR/rootfs (skopeo + umoci).
unpack() {
	kiln_skopeo copy --quiet --src-tls-verify=false "docker://$1" "oci:$2.oci:x" >&2 ||
		fail "skopeo copy docker://$1 failed"
	umoci unpack --image "$2.oci:x" "$2" >/dev/null 2>"$2.umoci.log" ||
		fail "umoci unpack of $1 failed: $(cat "$2.umoci.log")"
}

# file_is ROOTFS PATH CONTENT: a regular file with that content.
file_is() {
	[[ -f $1$2 && ! -L $1$2 ]] || fail "$2 is not a regular file in the image ($1)"
	kiln_assert_eq "$3" "$(cat "$1$2")" "scenario $scenario_name: content of $2"
}

# absent ROOTFS PATH: nothing at PATH, not even a dangling symlink.
absent() {
	[[ ! -e $1$2 && ! -L $1$2 ]] || fail "$2 should not exist in the image ($1)"
}

# tags REPO_PATH: the tags of $reg/REPO_PATH, sorted (none if no such repo).
tags() {
	curl -sf "http://$reg/v2/$1/tags/list" | jq -r '.tags // [] | .[]' | sort || true
}

# entries REPO_PATH COUNT: COUNT cache entries, each tagged with a 64-hex key.
entries() {
	local t n
	t=$(tags "$1")
	n=$(printf '%s' "$t" | grep -c . || true)
	kiln_assert_eq "$2" "$n" "scenario $scenario_name: entries in $reg/$1 (tags: ${t:-none})"
	[[ -z $t ]] || ! grep -vxE '[0-9a-f]{64}' <<<"$t" ||
		fail "cache tags in $reg/$1 that are not 64-hex keys: $t"
}

# dockerfile DIR: create the context DIR with the Dockerfile from stdin.
dockerfile() {
	mkdir -p "$1"
	cat >"$1/Dockerfile"
}

# ------------------------------------------------------------- contexts
# ctx_N DIR: scenario N's context as its first build sees it.

ctx_1() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
COPY a.txt /a.txt
RUN cat /a.txt > /a.copy
RUN true
ENV GREETING=hi
RUN echo "\$GREETING" > /greeting
EOF
	echo alpha >"$1/a.txt"
}

ctx_12() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
COPY a.txt /a.txt
RUN cat /a.txt > /a.copy
ARG WHO=nobody
RUN echo "\$WHO" > /who
EOF
	echo alpha >"$1/a.txt"
}

ctx_2() {
	dockerfile "$1" <<EOF
FROM $reg/busybox AS other
RUN echo other > /other
FROM other
COPY a.txt /a.txt
RUN cat /a.txt > /a.copy
COPY b.txt /b.txt
RUN cat /a.txt /b.txt > /ab.txt
EOF
	echo alpha >"$1/a.txt"
	echo beta >"$1/b.txt"
}

ctx_3() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
ARG FLAVOR=plain
RUN echo "\$FLAVOR" > /flavor
RUN echo after > /after
EOF
}

ctx_4() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
COPY . /ctx/
RUN ls -l /ctx > /listing
EOF
	echo alpha >"$1/a.txt"
	echo one >"$1/ignored.txt"
	chmod 0644 "$1/a.txt"
	printf '%s\n' ignored.txt >"$1/.dockerignore"
}

ctx_5() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
RUN rm -rf /bin/vi /etc/group /usr/sbin && mkdir /made && echo x > /made/x
EOF
}

ctx_6() {
	dockerfile "$1" <<EOF
FROM $reg/busybox AS gen
RUN mkdir /out && echo generated > /out/g
FROM $reg/busybox
COPY --from=gen /out /out
COPY app.txt /app.txt
RUN cat /out/g /app.txt > /both
EOF
	echo app >"$1/app.txt"
}

ctx_7() {
	dockerfile "$1" <<EOF
FROM $reg/busybox AS gen
RUN mkdir /out && echo pod > /out/p
FROM $reg/busybox
COPY --from=gen /out /out
RUN cat /out/p > /p.copy
EOF
}

ctx_8() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
RUN echo ttl > /ttl
EOF
}

ctx_9() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
RUN echo refused > /r
COPY a.txt /a.txt
EOF
	echo alpha >"$1/a.txt"
}

ctx_10() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
RUN cat /etc/passwd > /warm
EOF
}

ctx_11() {
	dockerfile "$1" <<EOF
FROM $reg/busybox
RUN echo one > /one
RUN echo two > /two
EOF
}

# ------------------------------------------------------------- scenarios

s1_unchanged() {
	local ctx=$work/s1/ctx
	ctx_1 "$ctx"
	local f=(--cache --cache-copy-layers=true --reproducible) t0 t1 t c created d1 n
	t0=$(date +%s)
	build_ok s1-cold "$ctx" "${f[@]}" --destination="$reg/s1/app:1"
	t1=$(date +%s)
	step miss "COPY a.txt /a.txt"
	step miss "RUN cat /a.txt > /a.copy"
	step miss "RUN true"
	step miss "RUN echo \"\$GREETING\" > /greeting"
	summary 0 4 4
	# Pushed before the build exited, to the default repository, one entry
	# per step: one layer each, none for the RUN that changed nothing.
	entries s1/app/cache 4
	c=$(for t in $(tags s1/app/cache); do
		kiln_skopeo inspect --tls-verify=false "docker://$reg/s1/app/cache:$t" | jq '.Layers | length'
	done | sort | tr '\n' ' ')
	kiln_assert_eq "0 1 1 1 " "$c" "scenario 1: layers per cache entry"
	# The same registry: the entries' layers are mounted from the image's
	# repository, where they were uploaded as they were written, not sent
	# a second time.
	kiln_assert_eq 3 "$(grep -c '"POST /v2/s1/app/cache/blobs/uploads/?mount=sha256:[0-9a-f]*&from=s1/app ' "$reg_log")" \
		"scenario 1: cache layers mounted from s1/app (registry log)"
	kiln_assert_eq 0 "$(grep -c '"PATCH /v2/s1/app/cache/' "$reg_log")" \
		"scenario 1: layer bytes sent to the cache repository (registry log)"
	# An entry's created is its push time, --reproducible or not (--cache-ttl uses it).
	for t in $(tags s1/app/cache); do
		created=$(kiln_skopeo inspect --config --tls-verify=false \
			"docker://$reg/s1/app/cache:$t" | jq -r .created)
		n=$(date -d "$created" +%s 2>/dev/null) || fail "entry $t: created '$created' is not a time"
		((n >= t0 - 5 && n <= t1 + 5)) ||
			fail "entry $t: created $created is not the push time (build ran $t0..$t1 epoch s)"
	done
	d1=$(digest "$reg/s1/app:1")

	build_ok s1-warm "$ctx" "${f[@]}" --destination="$reg/s1/app:2"
	step hit "COPY a.txt /a.txt"
	step hit "RUN cat /a.txt > /a.copy"
	step hit "RUN true"
	step hit "RUN echo \"\$GREETING\" > /greeting"
	summary 4 0 0
	entries s1/app/cache 4
	kiln_assert_eq "$d1" "$(digest "$reg/s1/app:2")" "scenario 1: digest of the cached --reproducible rebuild"
}

s2_one_copy_changed() {
	local ctx=$work/s2/ctx
	ctx_2 "$ctx"
	local f=(--cache --cache-copy-layers=true)
	build_ok s2-cold "$ctx" "${f[@]}" --destination="$reg/s2/app:1"
	summary 0 5 5
	echo beta-2 >"$ctx/b.txt"
	build_ok s2-new-b "$ctx" "${f[@]}" --destination="$reg/s2/app:2"
	step hit "RUN echo other > /other"
	step hit "COPY a.txt /a.txt"
	step hit "RUN cat /a.txt > /a.copy"
	step miss "COPY b.txt /b.txt"
	step miss "RUN cat /a.txt /b.txt > /ab.txt"
	summary 3 2 2
	entries s2/app/cache 7
	unpack "$reg/s2/app:2" "$work/s2/img"
	local r=$work/s2/img/rootfs
	file_is "$r" /b.txt beta-2
	file_is "$r" /ab.txt "alpha
beta-2"
	file_is "$r" /a.copy alpha
	file_is "$r" /other other
}

s3_build_args() {
	local ctx=$work/s3/ctx
	ctx_3 "$ctx"
	local f=(--cache --reproducible) d1 r=$work/s3/img/rootfs
	build_ok s3-one "$ctx" "${f[@]}" --build-arg=FLAVOR=one --destination="$reg/s3/app:1"
	summary 0 2 2
	d1=$(digest "$reg/s3/app:1")
	# A --build-arg the Dockerfile does not declare reaches no step.
	build_ok s3-unrelated "$ctx" "${f[@]}" --build-arg=FLAVOR=one --build-arg=UNRELATED=x \
		--destination="$reg/s3/app:2"
	step hit "RUN echo \"\$FLAVOR\" > /flavor"
	step hit "RUN echo after > /after"
	summary 2 0 0
	kiln_assert_eq "$d1" "$(digest "$reg/s3/app:2")" "scenario 3: digest with an undeclared --build-arg"
	# A changed one misses where it is seen, and every later step of the stage.
	build_ok s3-two "$ctx" "${f[@]}" --build-arg=FLAVOR=two --destination="$reg/s3/app:3"
	step miss "RUN echo \"\$FLAVOR\" > /flavor"
	step miss "RUN echo after > /after"
	summary 0 2 2
	unpack "$reg/s3/app:3" "$work/s3/img"
	file_is "$r" /flavor two
	entries s3/app/cache 4
	# --no-push-cache: looked up, never pushed.
	build_ok s3-nopush "$ctx" "${f[@]}" --no-push-cache --build-arg=FLAVOR=three \
		--destination="$reg/s3/app:4"
	summary 0 2 0
	entries s3/app/cache 4
}

s4_touch_ignore_mode() {
	local ctx=$work/s4/ctx
	ctx_4 "$ctx"
	local f=(--cache --cache-copy-layers=true)
	build_ok s4-cold "$ctx" "${f[@]}" --destination="$reg/s4/app:1"
	summary 0 2 2
	touch -d '2001-02-03 04:05:06' "$ctx/a.txt"
	build_ok s4-touched "$ctx" "${f[@]}" --destination="$reg/s4/app:2"
	step hit "COPY . /ctx/"
	step hit "RUN ls -l /ctx > /listing"
	summary 2 0 0
	echo two >"$ctx/ignored.txt"
	build_ok s4-ignored "$ctx" "${f[@]}" --destination="$reg/s4/app:3"
	summary 2 0 0
	chmod 0600 "$ctx/a.txt"
	build_ok s4-mode "$ctx" "${f[@]}" --destination="$reg/s4/app:4"
	step miss "COPY . /ctx/"
	step miss "RUN ls -l /ctx > /listing"
	summary 0 2 2
	unpack "$reg/s4/app:4" "$work/s4/img"
	kiln_assert_eq 600 "$(stat -c %a "$work/s4/img/rootfs/ctx/a.txt")" "scenario 4: mode of /ctx/a.txt"
	absent "$work/s4/img/rootfs" /ctx/ignored.txt
}

s5_whiteouts() {
	local ctx=$work/s5/ctx
	ctx_5 "$ctx"
	build_ok s5-cold "$ctx" --cache --destination="$reg/s5/app:1"
	build_ok s5-warm "$ctx" --cache --destination="$reg/s5/app:2"
	step hit "RUN rm -rf /bin/vi /etc/group /usr/sbin && mkdir /made && echo x > /made/x"
	unpack "$reg/s5/app:1" "$work/s5/img1"
	unpack "$reg/s5/app:2" "$work/s5/img2"
	local r=$work/s5/img2/rootfs p
	for p in /bin/vi /etc/group /usr/sbin; do
		absent "$r" "$p"
	done
	file_is "$r" /made/x x
	[[ -e $r/bin/sh ]] || fail "/bin/sh is missing from the cached image"
	diff <(cd "$work/s5/img1/rootfs" && find . | sort) <(cd "$r" && find . | sort) >&2 ||
		fail "the trees of the built and the cached image differ (above)"
}

s6_lookups_continue() {
	local ctx=$work/s6/ctx
	ctx_6 "$ctx"
	local r=$work/s6/img/rootfs
	build_ok s6-cold "$ctx" --cache --destination="$reg/s6/app:1"
	step miss "RUN mkdir /out && echo generated > /out/g"
	step miss "RUN cat /out/g /app.txt > /both"
	step run "COPY --from=gen /out /out"
	step run "COPY app.txt /app.txt"
	summary 0 2 2
	build_ok s6-warm "$ctx" --cache --destination="$reg/s6/app:2"
	step hit "RUN mkdir /out && echo generated > /out/g"
	step run "COPY --from=gen /out /out"
	step run "COPY app.txt /app.txt"
	step hit "RUN cat /out/g /app.txt > /both"
	summary 2 0 0
	unpack "$reg/s6/app:2" "$work/s6/img"
	file_is "$r" /out/g generated
	file_is "$r" /app.txt app
	file_is "$r" /both "generated
app"
	# The executed COPY's key still follows its content.
	echo app-2 >"$ctx/app.txt"
	build_ok s6-new-app "$ctx" --cache --destination="$reg/s6/app:3"
	step hit "RUN mkdir /out && echo generated > /out/g"
	step miss "RUN cat /out/g /app.txt > /both"
	summary 1 1 1
}

s7_two_pods() {
	local ctx=$work/s7/ctx
	ctx_7 "$ctx"
	local f=(--cache --cache-copy-layers=true --cache-repo="$reg/s7/shared-cache")
	build_ok s7-pod-a "$ctx" "${f[@]}" --destination="$reg/s7/pod-a:1"
	summary 0 3 3
	entries s7/shared-cache 3
	entries s7/pod-a/cache 0
	build_ok s7-pod-b "$ctx" "${f[@]}" --destination="$reg/s7/pod-b:1"
	step hit "RUN mkdir /out && echo pod > /out/p"
	step hit "COPY --from=gen /out /out"
	step hit "RUN cat /out/p > /p.copy"
	summary 3 0 0
	unpack "$reg/s7/pod-b:1" "$work/s7/img"
	file_is "$work/s7/img/rootfs" /p.copy pod
	file_is "$work/s7/img/rootfs" /out/p pod
	kiln_assert_eq "$(layers "$reg/s7/pod-a:1")" "$(layers "$reg/s7/pod-b:1")" \
		"scenario 7: layers of the two pods' images"
}

s8_ttl() {
	local ctx=$work/s8/ctx
	ctx_8 "$ctx"
	build_ok s8-cold "$ctx" --cache --destination="$reg/s8/app:1"
	summary 0 1 1
	build_ok s8-fresh "$ctx" --cache --destination="$reg/s8/app:2"
	step hit "RUN echo ttl > /ttl"
	summary 1 0 0
	sleep 2
	build_ok s8-expired "$ctx" --cache --cache-ttl=1s --destination="$reg/s8/app:3"
	step miss "RUN echo ttl > /ttl"
	summary 0 1 1
}

s9_refused() {
	local ctx=$work/s9/ctx
	ctx_9 "$ctx"
	build "s9-refused" "$ctx" --cache --cache-copy-layers=true --cache-repo="$ro_reg/cache" \
		--destination="$reg/s9/app:1"
	((build_rc == 0)) || fail "a cache that refuses pushes failed the build ($build_rc):
$(tail -n 20 "$log")"
	grep -qiE '^WARN\[.*cache' "$log" ||
		fail "no WARN line about the cache in $log though every cache push was refused"
	step miss "RUN echo refused > /r"
	step miss "COPY a.txt /a.txt"
	summary 0 2 0
	unpack "$reg/s9/app:1" "$work/s9/img"
	file_is "$work/s9/img/rootfs" /r refused
	file_is "$work/s9/img/rootfs" /a.txt alpha
	kiln_assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$ro_reg/v2/cache/tags/list")" \
		"scenario 9: the read-only registry holds no cache repository"
}

s10_warm() {
	local ctx=$work/s10/ctx
	ctx_10 "$ctx"
	mkdir -p "$work/s10/cache-dir"
	"$exe" warm --image "$reg/busybox" --cache-dir "$work/s10/cache-dir" \
		>"$work/s10/warm.log" 2>&1 || fail "executor warm failed: $(tail -n 10 "$work/s10/warm.log")"
	[[ -n $(ls -A "$work/s10/cache-dir") ]] || fail "executor warm wrote nothing into --cache-dir"
}

s10_offline() {
	local r=$work/s10/img ctx=$work/s10/ctx
	(exec 3<>"/dev/tcp/${reg%:*}/${reg##*:}") 2>/dev/null && fail "the registry still answers"
	build_ok s10-offline "$ctx" --cache --cache-dir "$work/s10/cache-dir" --no-push \
		--tar-path "$work/s10/out.tar"
	kiln_skopeo inspect "docker-archive:$work/s10/out.tar" >/dev/null ||
		fail "skopeo cannot read the --tar-path tarball"
	kiln_skopeo copy --quiet "docker-archive:$work/s10/out.tar" "oci:$r.oci:x" >&2 ||
		fail "skopeo copy of the tarball failed"
	umoci unpack --image "$r.oci:x" "$r" >/dev/null 2>&1 || fail "umoci unpack of the tarball failed"
	# the busybox fixture's /etc/passwd: the RUN ran on the warmed base
	file_is "$r/rootfs" /warm "root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false"
}

s11_fully_cached() {
	local ctx=$work/s11/ctx
	ctx_11 "$ctx"
	build_ok s11-cold "$ctx" --cache --destination="$reg/s11/app:1"
	grep -q 'Unpacked .* into' "$log" || fail "the cold build unpacked no base (no 'Unpacked' line)"
	build_ok s11-warm "$ctx" --cache --destination="$reg/s11/app:2"
	summary 2 0 0
	kiln_assert_eq 1 "$(msg_count INFO "Stage 0 is fully cached: nothing unpacked")" \
		"scenario 11: 'Stage 0 is fully cached: nothing unpacked' lines in $log"
	! grep -n 'Unpacked .* into' "$log" >&2 || fail "a fully cached stage unpacked its base (above)"
	kiln_assert_eq "$(layers "$reg/s11/app:1")" "$(layers "$reg/s11/app:2")" \
		"scenario 11: layers of the cold and the fully cached build"
	# --cache-run-layers=false: RUN is neither looked up nor stored.
	build_ok s11-no-run-layers "$ctx" --cache --cache-run-layers=false --destination="$reg/s11/app:3"
	step run "RUN echo one > /one"
	step run "RUN echo two > /two"
	summary 0 0 0
	entries s11/app/cache 2
}

# --------------------------------------------------------------- driver

# Scenario 0: every scenario's context builds without --cache, and such a
# build says nothing about a cache: a later failure is the cache's.
s0_without_cache() {
	local s
	for s in "${run[@]}"; do
		"ctx_$s" "$work/s0/ctx-$s"
		build_ok "s0-$s" "$work/s0/ctx-$s" --destination="$reg/s0/s$s:1"
		no_cache_lines
	done
}

s12_oci_layout() {
	local ctx=$work/s12/ctx oci=$work/s12/cache f=(--cache --cache-copy-layers=true --reproducible)
	local pa pb t
	ctx_12 "$ctx"
	# two pods at once into one layout, each with an entry of its own:
	# neither may lose the other's
	build s12-pod-a "$ctx" "${f[@]}" --cache-repo="oci:$oci" --build-arg WHO=a \
		--destination="$reg/s12/app:a" &
	pa=$!
	build s12-pod-b "$ctx" "${f[@]}" --cache-repo="oci:$oci" --build-arg WHO=b \
		--destination="$reg/s12/app:b" &
	pb=$!
	wait "$pa" || fail "pod a failed: $(tail -n 20 "$work/builds/s12-pod-a/log")"
	wait "$pb" || fail "pod b failed: $(tail -n 20 "$work/builds/s12-pod-b/log")"
	kiln_assert_eq 4 "$(umoci ls --layout "$oci" | wc -l)" \
		"scenario 12: entries in the layout (2 shared, 1 per pod)"
	for t in $(umoci ls --layout "$oci"); do
		[[ $t =~ ^[0-9a-f]{64}$ ]] || fail "entry tag '$t' is not a key"
		kiln_skopeo inspect "oci:$oci:$t" >/dev/null || fail "skopeo cannot read entry $t"
	done
	build_ok s12-warm "$ctx" "${f[@]}" --cache-repo="oci:$oci" --build-arg WHO=b \
		--destination="$reg/s12/app:c"
	step hit "COPY a.txt /a.txt"
	step hit "RUN cat /a.txt > /a.copy"
	step hit 'RUN echo "$WHO" > /who'
	summary 3 0 0
	kiln_assert_eq "$(digest "$reg/s12/app:b")" "$(digest "$reg/s12/app:c")" \
		"scenario 12: digest of the rebuild from the layout cache"
	unpack "$reg/s12/app:c" "$work/s12/img"
	file_is "$work/s12/img/rootfs" /who b
}

failed=()
# scenario N FUNCTION: run FUNCTION in a subshell, remember a failure.
scenario() {
	local rc=0
	kiln_log "--- scenario $1 ($2)"
	set +e
	(
		set -e
		scenario_name=$1
		"$2"
	)
	rc=$?
	set -e
	((rc == 0)) || failed+=("$1")
}

read -r -a run <<<"${KILN_CACHE_SCENARIOS:-1 2 3 4 5 6 7 8 9 10 11 12}"
for s in "${run[@]}"; do
	[[ $s =~ ^([1-9]|1[012])$ ]] || kiln_die "KILN_CACHE_SCENARIOS: no scenario '$s' (1-12)"
done
scenario 0 s0_without_cache
for s in "${run[@]}"; do
	case $s in
	1) scenario 1 s1_unchanged ;;
	2) scenario 2 s2_one_copy_changed ;;
	3) scenario 3 s3_build_args ;;
	4) scenario 4 s4_touch_ignore_mode ;;
	5) scenario 5 s5_whiteouts ;;
	6) scenario 6 s6_lookups_continue ;;
	7) scenario 7 s7_two_pods ;;
	8) scenario 8 s8_ttl ;;
	9) scenario 9 s9_refused ;;
	10) ;; # last: it stops the registry
	11) scenario 11 s11_fully_cached ;;
	12) scenario 12 s12_oci_layout ;;
	esac
done
if [[ " ${run[*]} " == *" 10 "* ]]; then
	nr_failed=${#failed[@]}
	scenario 10 s10_warm
	if ((${#failed[@]} == nr_failed)); then
		kiln_registry_stop
		scenario 10 s10_offline
	fi
fi
((${#failed[@]} == 0)) || kiln_die "failed scenarios: ${failed[*]} (messages above; KILN_KEEP_TMP=1 keeps the build logs)"
kiln_log "ok: scenarios ${run[*]}"
