#!/bin/bash
# integration.gitlab_ci: the GitLab CI flavour of the pod simulation. The
# debug image (/kiln/executor from $KILN_STATIC_EXECUTOR, the CA bundle,
# /kiln/.docker, and a static busybox under /busybox) is started as GitLab's
# Docker executor starts a job image with `entrypoint: [""]`: /.dockerenv,
# /proc, /sys, /dev, bound /etc/hosts and /etc/resolv.conf, the project
# bound at /builds/group/project, the CI_* variables in the environment, the
# job script run by /busybox/sh. The script writes /kiln/.docker/config.json
# from CI_REGISTRY, CI_REGISTRY_USER and CI_REGISTRY_PASSWORD and runs the
# executor (ROOT "/") against the TLS + htpasswd registry fixture: once with
# --registry-certificate, once with SSL_CERT_FILE pointing at the fixture's
# CA. Checks: both pushes landed with the build's file, the shell still
# works after the base image was unpacked over "/", and neither the password
# nor its base64 form appears in any log line (at debug verbosity).
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

exe=${KILN_STATIC_EXECUTOR:-}
[[ -n $exe ]] || kiln_skip "KILN_STATIC_EXECUTOR is not set (test/run.sh builds it in build-static/)"
kiln_require_root
kiln_require_cmd docker-registry skopeo umoci unshare chroot jq openssl htpasswd busybox
busybox=$(command -v busybox)
kiln_elf_is_static "$busybox" || kiln_skip "$busybox is not static (install busybox-static)"
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
chroot_cmd=$(command -v chroot)

user=ci-user pass='Pa55 w0rd:with/colon+plus'
kiln_registry_start --tls --htpasswd "$user:$pass" || kiln_die "could not start the TLS registry fixture"
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" library/busybox:latest \
	--dest-cert-dir "$KILN_REGISTRY_CERT_DIR" --dest-creds "$user:$pass"
auth_b64=$(printf '%s:%s' "$user" "$pass" | base64 -w0)

# --- the project ------------------------------------------------------------------
project=$work/project
mkdir -p "$project"
cat >"$project/Dockerfile" <<DOCKERFILE
FROM $reg/library/busybox:latest
COPY job.txt /job.txt
RUN echo "built by \$(cat /job.txt)" >/built
DOCKERFILE
echo gitlab-ci >"$project/job.txt"
cat >"$work/job.sh" <<'SCRIPT'
set -e
echo "job: writing /kiln/.docker/config.json for $CI_REGISTRY"
mkdir -p /kiln/.docker
auth=$(printf '%s:%s' "$CI_REGISTRY_USER" "$CI_REGISTRY_PASSWORD" | base64 | tr -d '\n')
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$CI_REGISTRY" "$auth" >/kiln/.docker/config.json
/kiln/executor --context "dir://$CI_PROJECT_DIR" --dockerfile "$CI_PROJECT_DIR/Dockerfile" \
	--destination "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA" -v debug \
	--digest-file /kiln/digest $KILN_JOB_FLAGS
echo "job: the shell still works after the build: $(ls /busybox | wc -l) applets"
SCRIPT

# --- the debug image, assembled ------------------------------------------------------
pod=$work/pod
mkdir -p "$pod"/{kiln/.docker,kiln/ssl/certs,busybox,proc,sys,dev,etc,builds/group/project,tmp}
install -m 0755 "$exe" "$pod/kiln/executor"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$pod/kiln/ssl/certs/ca-certificates.crt"
install -m 0755 "$busybox" "$pod/busybox/busybox"
"$pod/busybox/busybox" --list | while read -r applet; do
	[[ $applet == busybox ]] || ln -s busybox "$pod/busybox/$applet"
done
: >"$pod/etc/hosts"
: >"$pod/etc/resolv.conf"
: >"$pod/.dockerenv"
# The fixture's CA, given to the job as a file (GitLab: a file-type variable).
install -m 0644 "$KILN_REGISTRY_CA" "$pod/kiln/registry-ca.crt"
printf '127.0.0.1\tlocalhost\n' >"$work/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"

# job NAME SSL_CERT_FILE FLAGS: run the job script in a fresh mount + PID
# namespace; output in $work/NAME.log, status in $rc.
rc=0
job() {
	local name=$1 certfile=$2 flags=$3
	rc=0
	env -u KILN_FORBID_ROOT_SLASH unshare --mount --pid --fork /bin/sh -ec '
		pod=$1 project=$2 work=$3 chroot_cmd=$4 reg=$5 user=$6 pass=$7 certfile=$8 flags=$9
		mount --make-rprivate /
		mount -t proc proc "$pod/proc"
		mount -t sysfs -o ro sysfs "$pod/sys"
		mount --rbind /dev "$pod/dev"
		mount --bind "$work/hosts" "$pod/etc/hosts"
		mount --bind "$work/resolv.conf" "$pod/etc/resolv.conf"
		mount --bind "$project" "$pod/builds/group/project"
		exec env -i HOME=/root USER=root PATH=/usr/local/bin:/kiln:/busybox \
			DOCKER_CONFIG=/kiln/.docker/ SSL_CERT_FILE="$certfile" \
			CI=true GITLAB_CI=true CI_PROJECT_DIR=/builds/group/project \
			CI_REGISTRY="$reg" CI_REGISTRY_IMAGE="$reg/group/project" \
			CI_REGISTRY_USER="$user" CI_REGISTRY_PASSWORD="$pass" \
			CI_COMMIT_SHORT_SHA=0123abcd KILN_JOB_FLAGS="$flags" \
			"$chroot_cmd" "$pod" /busybox/sh -c "cd /builds/group/project && . /dev/stdin" \
			<"$work/job.sh"
	' sh "$pod" "$project" "$work" "$chroot_cmd" "$reg" "$user" "$pass" "$certfile" "$flags" \
		>"$work/$name.log" 2>&1 || rc=$?
}

# check_job NAME: the job passed, pushed, and logged no secret.
check_job() {
	local name=$1 digest
	((rc == 0)) || kiln_die "job $name failed ($rc):"$'\n'"$(tail -n 25 "$work/$name.log")"
	grep -q 'the shell still works' "$work/$name.log" ||
		kiln_die "job $name: the shell did not survive the build: $(tail -n 5 "$work/$name.log")"
	if grep -nF -e "$pass" -e "$auth_b64" "$work/$name.log" >"$work/leak"; then
		kiln_die "job $name logged the password: $(cat "$work/leak")"
	fi
	digest=$(cat "$pod/kiln/digest")
	kiln_skopeo copy --quiet --src-cert-dir "$KILN_REGISTRY_CERT_DIR" --src-creds "$user:$pass" \
		"docker://$reg/group/project:0123abcd" "oci:$work/layout-$name:img" >&2
	kiln_assert_eq "$digest" "$(kiln_skopeo inspect "oci:$work/layout-$name:img" | jq -r .Digest)" \
		"job $name: pushed digest"
	umoci unpack --image "$work/layout-$name:img" "$work/bundle-$name" >&2
	kiln_assert_eq "built by gitlab-ci" "$(cat "$work/bundle-$name/rootfs/built")" "job $name: the RUN's file"
	for p in kiln busybox builds .dockerenv; do
		[[ ! -e $work/bundle-$name/rootfs/$p ]] || kiln_die "job $name: the image holds /$p"
	done
	kiln_log "job $name: pushed $digest; $(grep -c . "$work/$name.log") log lines, no password"
}

# 1. --registry-certificate for the fixture, the image's CA bundle as SSL_CERT_FILE.
job cert-flag /kiln/ssl/certs/ca-certificates.crt "--registry-certificate $reg=/kiln/registry-ca.crt"
check_job cert-flag
# 2. SSL_CERT_FILE naming the fixture's CA.
rm -f "$pod/kiln/digest"
job ssl-cert-file /kiln/registry-ca.crt ""
check_job ssl-cert-file
# 3. Without the CA the push is refused on the certificate, and the
#    password still appears nowhere.
job no-ca /kiln/ssl/certs/ca-certificates.crt ""
((rc != 0)) || kiln_die "a job without the fixture's CA succeeded"
grep -qi 'certificate\|ssl\|tls' "$work/no-ca.log" ||
	kiln_die "the job without the CA failed for another reason: $(tail -n 5 "$work/no-ca.log")"
! grep -qF -e "$pass" -e "$auth_b64" "$work/no-ca.log" || kiln_die "job no-ca logged the password"
kiln_log "PASS"
