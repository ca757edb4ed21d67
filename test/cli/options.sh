#!/bin/bash
# The executor's build flags as kaniko users write them: each is parsed
# into the build's options (seen through `executor debug options`, which
# prints them as JSON), and the flags kiln lacks fail with one clear line.
set -euo pipefail
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
tmp=$(mktemp -d /tmp/kiln-opts.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out errf=$tmp/err
fails=0 nr_want=0

fail() {
	echo "FAIL $1"
	echo "  stdout: $(head -c 600 "$out")"
	echo "  stderr: $(head -c 400 "$errf")"
	fails=$((fails + 1))
}

# want NAME PYEXPR -- FLAGS...: parse FLAGS; PYEXPR, over the JSON as j,
# must be true. The expressions are checked together at the end (one
# python3 start instead of one per check).
want() {
	local name=$1 expr=$2 rc=0
	shift 3
	nr_want=$((nr_want + 1))
	"$exe" debug options "$@" >"$tmp/want.$nr_want.json" 2>"$errf" || rc=$?
	if [[ $rc != 0 ]]; then
		cp "$tmp/want.$nr_want.json" "$out"
		fail "$name: rc=$rc"
		return
	fi
	printf '%s\t%s\t%s\n' "$name" "$tmp/want.$nr_want.json" "$expr" >>"$tmp/wants"
}

check_wants() {
	local rc=0
	python3 - "$tmp/wants" <<-'EOF' || rc=$?
		import json, sys
		bad = 0
		for line in open(sys.argv[1]):
		    name, path, expr = line.rstrip("\n").split("\t", 2)
		    text = open(path).read()
		    try:
		        ok = bool(eval(expr, {"j": json.loads(text)}))
		    except Exception as e:
		        ok = False
		        expr += " (%r)" % e
		    if ok:
		        print("ok   " + name)
		    else:
		        bad += 1
		        print("FAIL %s: not true: %s\n  stdout: %s" % (name, expr, text[:600]))
		sys.exit(1 if bad else 0)
	EOF
	[[ $rc == 0 ]] || fails=$((fails + 1))
}

# refuse NAME STDERR_RE -- FLAGS...: exit 1, nothing on stdout, exactly
# one stderr line matching STDERR_RE; through the debug tool and through
# the build itself alike.
refuse() {
	local name=$1 re=$2 rc lines
	shift 3
	for how in "debug options" ""; do
		rc=0
		# shellcheck disable=SC2086
		"$exe" $how "$@" >"$out" 2>"$errf" || rc=$?
		lines=$(wc -l <"$errf")
		if [[ $rc != 1 || -s $out || $lines != 1 ]] || ! grep -Eq -- "$re" "$errf"; then
			fail "$name${how:+ ($how)}: rc=$rc, $lines stderr lines"
			return
		fi
	done
	echo "ok   $name"
}

# defaults
want defaults 'j["context"] is None and j["dockerfile"] == "Dockerfile" and j["ignore-var-run"] is True and j["snapshot-mode"] == "full" and j["compression-level"] == -1 and j["destination"] == [] and j["no-push"] is False and j["push"]["retries"] == j["pull"]["retries"] and j["noop-flags"] == [] and j["deprecated-flags"] == []' --

# value flags, both spellings
want context 'j["context"] == "dir:///workspace"' -- --context dir:///workspace
want context-eq 'j["context"] == "/ws"' -- --context=/ws
want context-short 'j["context"] == "/ws"' -- -c /ws
want context-sub-path 'j["context-sub-path"] == "app"' -- --context-sub-path app
want dockerfile 'j["dockerfile"] == "docker/Dockerfile.prod"' -- --dockerfile docker/Dockerfile.prod
want dockerfile-short 'j["dockerfile"] == "D1"' -- -f D1
want dockerfile-short-glued 'j["dockerfile"] == "D2"' -- -fD2
want dockerfile-short-eq 'j["dockerfile"] == "D3"' -- -f=D3
want dockerfile-empty-is-default 'j["dockerfile"] == "Dockerfile"' -- --dockerfile=
want last-wins 'j["dockerfile"] == "B"' -- -f A --dockerfile B
want value-looks-like-flag 'j["target"] == "-x"' -- --target -x
want target 'j["target"] == "build"' -- --target=build
want custom-platform 'j["custom-platform"] == "linux/arm64/v8"' -- --custom-platform linux/arm64/v8
want kiln-dir 'j["kiln-dir"] == "/tmp/k"' -- --kiln-dir /tmp/k
want rootfs 'j["rootfs"] == "/tmp/root"' -- --rootfs=/tmp/root
want snapshot-mode 'j["snapshot-mode"] == "redo"' -- --snapshot-mode redo
want snapshot-mode-time 'j["snapshot-mode"] == "time"' -- --snapshot-mode=time
want compression-level 'j["compression-level"] == 9' -- --compression-level 9
want compression-gzip 'j["compression-level"] == -1' -- --compression gzip
want image-format 'j["image-format"] == "docker"' -- --image-format docker
want tar-path 'j["tar-path"] == "/out/image.tar"' -- --tar-path /out/image.tar
want oci-layout-path 'j["oci-layout-path"] == "/out/oci"' -- --oci-layout-path=/out/oci
want digest-file 'j["digest-file"] == "/out/d"' -- --digest-file /out/d
want image-name-with-digest-file 'j["image-name-with-digest-file"] == "/out/n"' -- --image-name-with-digest-file /out/n
want image-name-tag-with-digest-file 'j["image-name-tag-with-digest-file"] == "/out/t"' -- --image-name-tag-with-digest-file=/out/t
want verbosity 'j["verbosity"] == "debug"' -- -v debug
want log-format 'j["log-format"] == "json"' -- --log-format json
want log-timestamp 'j["log-timestamp"] is True' -- --log-timestamp

# repeatable flags keep every value, in order
want destination 'j["destination"] == ["reg:5000/a:1", "reg:5000/a:latest", "reg:5000/b"]' -- \
	--destination reg:5000/a:1 -d reg:5000/a:latest --destination=reg:5000/b
want build-arg 'j["build-arg"] == ["A=1", "B", "C=x=y", "D="]' -- \
	--build-arg A=1 --build-arg B --build-arg=C=x=y --build-arg D=
want label 'j["label"] == ["a=1", "b=two words"]' -- --label a=1 --label 'b=two words'
want ignore-path 'j["ignore-path"] == ["/a", "/b"]' -- --ignore-path /a --ignore-path=/b

# registry flags: push, pull or both
want insecure-both 'j["push"]["insecure"] and j["pull"]["insecure"]' -- --insecure
want insecure-pull 'not j["push"]["insecure"] and j["pull"]["insecure"]' -- --insecure-pull
want skip-tls-verify-both 'j["push"]["skip-tls-verify"] and j["pull"]["skip-tls-verify"]' -- --skip-tls-verify
want skip-tls-verify-pull 'not j["push"]["skip-tls-verify"] and j["pull"]["skip-tls-verify"]' -- --skip-tls-verify-pull
want insecure-registry 'j["push"]["insecure-registry"] == j["pull"]["insecure-registry"] == ["r1:5000", "r2"]' -- \
	--insecure-registry r1:5000 --insecure-registry=r2
want skip-tls-verify-registry 'j["push"]["skip-tls-verify-registry"] == j["pull"]["skip-tls-verify-registry"] == ["r1"]' -- \
	--skip-tls-verify-registry r1
want registry-certificate 'j["push"]["registry-certificate"] == j["pull"]["registry-certificate"] == ["r1=/ca.pem"]' -- \
	--registry-certificate r1=/ca.pem
want registry-client-cert 'j["push"]["registry-client-cert"] == j["pull"]["registry-client-cert"] == ["r1=/c.pem,/k.pem"]' -- \
	--registry-client-cert r1=/c.pem,/k.pem
want registry-mirror-pull-only 'j["pull"]["registry-mirror"] == ["mirror.gcr.io", "m2/prefix"] and j["push"]["registry-mirror"] == []' -- \
	--registry-mirror mirror.gcr.io --registry-mirror m2/prefix
want registry-map 'j["pull"]["registry-map"] == ["index.docker.io=m1;quay.io=m2"] and j["push"]["registry-map"] == []' -- \
	--registry-map 'index.docker.io=m1;quay.io=m2'
want skip-default-registry-fallback 'j["pull"]["skip-default-registry-fallback"] and not j["push"]["skip-default-registry-fallback"]' -- \
	--skip-default-registry-fallback
want push-retry 'j["push"]["retries"] == 5 and j["pull"]["retries"] == 3' -- --push-retry 5
want image-download-retry 'j["pull"]["retries"] == 0 and j["push"]["retries"] == 3' -- --image-download-retry=0

# booleans: bare, =true, =false
for b in no-push reproducible single-snapshot skip-unused-stages cleanup force; do
	want "$b" "j['$b'] is True" -- "--$b"
	want "$b=true" "j['$b'] is True" -- "--$b=true"
	want "$b=false" "j['$b'] is False" -- "--$b" "--$b=false"
done
want ignore-var-run=false 'j["ignore-var-run"] is False' -- --ignore-var-run=false
want insecure=false 'not j["push"]["insecure"] and not j["pull"]["insecure"]' -- --insecure --insecure=false
want bool-pflag-spellings 'j["no-push"] and not j["reproducible"]' -- --no-push=T --reproducible=0
want bool-takes-no-next-arg 'j["no-push"] is True' -- --no-push --no-push
want trailing-double-dash 'j["no-push"] is True' -- --no-push --

# deprecated spellings act as the flag they name, and are noted
want snapshotMode 'j["snapshot-mode"] == "redo" and j["deprecated-flags"] == ["--snapshotMode"]' -- --snapshotMode=redo
want customPlatform 'j["custom-platform"] == "linux/arm/v7" and j["deprecated-flags"] == ["--customPlatform"]' -- --customPlatform linux/arm/v7
want tarPath 'j["tar-path"] == "/o.tar"' -- --tarPath /o.tar
want whitelist-var-run 'j["ignore-var-run"] is False and j["deprecated-flags"] == ["--whitelist-var-run"]' -- --whitelist-var-run=false
want kaniko-dir 'j["kiln-dir"] == "/k"' -- --kaniko-dir /k

# accepted without effect: noted once each
want noop-flags 'j["noop-flags"] == ["--use-new-run", "--compressed-caching", "--image-fs-extract-retry"]' -- \
	--use-new-run --compressed-caching=false --image-fs-extract-retry 3 --use-new-run
want noop-more 'j["noop-flags"] == ["--force-build-metadata", "--push-ignore-immutable-tag-errors", "--skip-push-permission-check", "--materialize"]' -- \
	--force-build-metadata --push-ignore-immutable-tag-errors --skip-push-permission-check --materialize
# a boolean kiln lacks, given kaniko's default, asks for nothing
want unsupported-at-default 'j["noop-flags"] == []' -- --preserve-context=false

# the cache flags, with kaniko's defaults
want cache-defaults 'j["cache"] is False and j["cache-repo"] is None and j["cache-dir"] == "/cache" and j["cache-ttl"] == 336 * 3600 and j["cache-run-layers"] is True and j["cache-copy-layers"] is False and j["no-push-cache"] is False' --
want cache-set 'j["cache"] is True and j["cache-repo"] == "r/c" and j["cache-dir"] == "/c" and j["cache-ttl"] == 5400 and j["cache-run-layers"] is False and j["cache-copy-layers"] is True and j["no-push-cache"] is True' -- \
	--cache --cache-repo r/c --cache-dir=/c --cache-ttl=1h30m --cache-run-layers=false --cache-copy-layers --no-push-cache
want cache-ttl-fraction 'j["cache-ttl"] == 5400' -- --cache-ttl 1.5h
want cache-ttl-zero 'j["cache-ttl"] == 0' -- --cache-ttl 0
refuse bad-cache-ttl "^error: --cache-ttl: invalid duration '2d'; write it as Go does" -- --cache-ttl 2d
refuse bad-cache-ttl-unitless "^error: --cache-ttl: invalid duration '10'" -- --cache-ttl 10

# not supported yet: exactly one line, exit 1, through the build too
for f in --git=branch=main \
	--annotation=a=b --credential-helpers=ecr --preserve-context; do
	name=${f%% *}
	name=${name%%=*}
	# shellcheck disable=SC2086
	refuse "unsupported $f" "^error: not supported yet: $name\$" -- $f
done
refuse "unsupported -b" '^error: not supported yet: --bucket$' -- -b bucket
refuse compression-zstd '^error: --compression: not supported yet: zstd' -- --compression zstd

# errors
refuse unknown-flag-hint "^error: unknown flag '--destnation'; did you mean '--destination'\?" -- --destnation=x
refuse unknown-flag-old "^error: unknown flag '--snapshotmode'; did you mean '--snapshot-mode'\?" -- --snapshotmode=x
refuse missing-value "^error: flag '--destination' needs a value" -- --no-push --destination
refuse missing-value-short "^error: flag '--dockerfile' needs a value" -- -f
refuse label-without-eq "^error: --label: 'novalue' is not KEY=VALUE" -- --label novalue
refuse label-empty-key "^error: --label: '=v' is not KEY=VALUE" -- --label =v
refuse build-arg-no-name "^error: --build-arg: '=1' has no NAME" -- --build-arg =1
refuse destination-empty "^error: --destination: empty value" -- --destination=
refuse bad-snapshot-mode "^error: --snapshot-mode: unknown snapshot mode 'fast'" -- --snapshot-mode fast
refuse bad-compression-level "^error: --compression-level: invalid value '0'" -- --compression-level 0
refuse compression-level-high "^error: --compression-level: invalid value '10'" -- --compression-level=10
refuse bad-image-format "^error: --image-format: unknown image format 'v1'" -- --image-format v1
refuse bad-retry "^error: --push-retry: invalid value 'many'" -- --push-retry many
refuse negative-retry "^error: --image-download-retry: invalid value '-1'" -- --image-download-retry=-1
refuse bad-noop-value "^error: --image-fs-extract-retry: invalid value 'x'" -- --image-fs-extract-retry x
refuse bad-bool "^error: invalid value 'yes' for '--no-push'" -- --no-push=yes
refuse bad-cert "^error: --registry-certificate: 'r1' is not REGISTRY=VALUE" -- --registry-certificate r1
refuse bad-client-cert "^error: --registry-client-cert: 'r1=/c.pem' is not REGISTRY=CERT,KEY" -- --registry-client-cert r1=/c.pem
refuse bad-registry-map "^error: --registry-map: 'quay.io' is not REGISTRY=VALUE" -- --registry-map 'a=b;quay.io'
refuse operand "^error: unexpected argument 'ctx'" -- --no-push ctx
refuse double-dash-ends-flags "^error: unexpected argument '--cache'" -- --no-push -- --cache

# --help lists every flag, grouped
"$exe" --help >"$out" 2>"$errf"
missing=""
for f in context context-sub-path dockerfile destination build-arg label target custom-platform \
	kiln-dir rootfs ignore-path snapshot-mode compression-level compression image-format tar-path \
	oci-layout-path digest-file image-name-with-digest-file image-name-tag-with-digest-file \
	registry-mirror registry-map insecure-registry skip-tls-verify-registry registry-certificate \
	registry-client-cert push-retry image-download-retry image-fs-extract-retry verbosity \
	log-format log-timestamp no-push reproducible single-snapshot skip-unused-stages cleanup force \
	ignore-var-run insecure insecure-pull skip-tls-verify skip-tls-verify-pull \
	skip-default-registry-fallback use-new-run compressed-caching force-build-metadata \
	push-ignore-immutable-tag-errors skip-push-permission-check cache cache-repo cache-dir \
	cache-ttl cache-run-layers cache-copy-layers no-push-cache git snapshotMode customPlatform \
	tarPath whitelist-var-run; do
	grep -Eq -- "--$f( |\$)" "$out" || missing+=" --$f"
done
if [[ -n $missing ]]; then fail "help-lists-all:$missing"; else echo "ok   help-lists-all"; fi
for g in '^Build:$' '^Registries:$' '^Output:$' '^Logging:$'; do
	if grep -q "$g" "$out"; then echo "ok   help-group $g"; else fail "help-group $g"; fi
done

check_wants
[[ $fails == 0 ]]
