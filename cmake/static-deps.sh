#!/usr/bin/env bash
# Build the static libraries that Debian does not ship usable as static, for
# the fully static executor (cmake/KilnStatic.cmake runs this at configure
# time).
#
# Usage: cmake/static-deps.sh [PREFIX]
#
# Without PREFIX the libraries go to
#   ${KILN_STATIC_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/static-deps}/<key>
# where <key> hashes this script, the Debian source versions it builds, the
# -dev packages it builds against and the compiler. A finished prefix holds a
# .kiln-static-deps stamp with its key; a second run with the same key does
# nothing. The prefix is built in a temporary directory beside it and renamed
# into place, so an interrupted run never leaves a half-built prefix.
# Progress goes to stderr; the prefix is the only line printed on stdout.
#
# Built here from `apt-get source` (Debian's static builds drag in LDAP,
# GSSAPI, IDN, libpsl, xml2, nettle, acl, lz4 ... or, for cJSON, do not
# exist):
#   libcurl     HTTP and HTTPS only, OpenSSL, zlib, c-ares, nghttp2
#   libcjson    cJSON.c alone
#   libarchive  zlib, bzip2, xz, zstd; no xml2/expat/openssl/nettle/lz4/acl/iconv
#   libisal     ISA-L's igzip (and the CRC code it needs) alone; Debian
#               ships no static library
# Used as Debian ships them (the .a files of the -dev packages):
#   libssl.a libcrypto.a libz.a libxxhash.a libcares.a libnghttp2.a
#   libbz2.a liblzma.a libzstd.a
#
# The sources come through a PRIVATE apt configuration (its own sources list,
# holding deb-src lines for the mirrors and suites the host already uses, and
# its own lists and cache dirs); the host's /etc/apt is only read.
#
# Debian packages needed (also in cmake/static-packages.txt, for CI):
#   build-essential dpkg-dev pkg-config file nasm
#   libssl-dev zlib1g-dev libc-ares-dev libnghttp2-dev libxxhash-dev
#   libbz2-dev liblzma-dev libzstd-dev
#
# Environment:
#   KILN_STATIC_DEPS   cache root (see above)
#   KILN_DEB_SRC       deb-src lines to use instead of the ones derived
#                      from the host's sources (one-line format, ';' separated)
#   CC, MAKEFLAGS      as usual; make runs with -j$(nproc)
set -euo pipefail

# The whole script is one block, which bash reads completely before running
# it: editing this file while a build runs cannot derail that build.
{

script=$(readlink -f "${BASH_SOURCE[0]}")
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
syslib=/usr/lib/$multiarch
jobs=$(nproc)
cc=${CC:-cc}

# The Debian source packages built here and, for each, a binary package of
# the same source whose candidate version tells which source version to get.
sources=(curl:libcurl4 cjson:libcjson1 libarchive:libarchive13 libisal:libisal2)
# The -dev packages whose headers and static libraries go into the build.
devpkgs=(libssl-dev zlib1g-dev libc-ares-dev libnghttp2-dev libxxhash-dev
	libbz2-dev liblzma-dev libzstd-dev)

t_start=$(date +%s.%N)
log() { printf 'static-deps: %s\n' "$*" >&2; }
failed=
die() { failed=1; printf 'static-deps: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }
# step NAME CMD...: run CMD with its output in the build log, report timing;
# on failure show the log's tail and $step_hint.
step_hint=
step() {
	local name=$1 t0
	shift
	t0=$(date +%s.%N)
	log "$name ..."
	if ! "$@" >>"$buildlog" 2>&1; then
		tail -n 40 "$buildlog" >&2
		die "$name failed (full log: $buildlog)${step_hint:+; $step_hint}"
	fi
	log "$name done in $(elapsed "$t0")"
}

# The source versions apt would fetch, read from the host's package lists
# through one binary package of each source (one apt-cache call, no
# network): prints "source=version" lines in the order of $sources.
# "Source: name (version)" appears when a binary was rebuilt (binNMU).
source_versions() {
	local s bins=()
	for s in "${sources[@]}"; do bins+=("${s#*:}"); done
	apt-cache show --no-all-versions "${bins[@]}" 2>/dev/null | awk -v want="${sources[*]}" '
		BEGIN { n = split(want, w, " ") }
		/^Package:/ { pkg = $2; sv[pkg] = "" }
		/^Source:/ { src[pkg] = $2; if ($3 ~ /^\(/) { v = $3; gsub(/[()]/, "", v); sv[pkg] = v } }
		/^Version:/ { bv[pkg] = $2 }
		END {
			for (i = 1; i <= n; i++) {
				split(w[i], p, ":")
				if (!(p[2] in bv)) { print "missing " p[2] > "/dev/stderr"; bad = 1; continue }
				print p[1] "=" (sv[p[2]] != "" ? sv[p[2]] : bv[p[2]])
			}
			exit bad
		}'
}

missing=()
for p in dpkg-dev pkg-config "${devpkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' ||
		missing+=("$p")
done
((${#missing[@]} == 0)) ||
	die "missing Debian packages: ${missing[*]} (apt-get install \$(cat $(dirname "$script")/static-packages.txt))"
command -v "$cc" >/dev/null || die "no C compiler '$cc' (install build-essential)"
command -v nasm >/dev/null || die "no nasm, which ISA-L's assembly needs (apt-get install nasm)"
for a in libssl.a libcrypto.a libz.a libcares.a libnghttp2.a libxxhash.a \
	libbz2.a liblzma.a libzstd.a; do
	[[ -f $syslib/$a ]] || die "$syslib/$a is missing (its -dev package ships it on Debian 12)"
done

vout=$(source_versions) ||
	die "apt knows no candidate for some of ${sources[*]#*:}: run apt-get update"
mapfile -t versions <<<"$vout"

key=$({
	sha256sum <"$script"
	printf '%s\n' "${versions[@]}"
	dpkg-query -W -f='${Package}=${Version}\n' "${devpkgs[@]}"
	"$cc" --version | head -n 1
	nasm -v
	printf '%s\n' "$multiarch" "${CFLAGS:-}" "${CPPFLAGS:-}"
} | sha256sum | cut -c1-16)

if (($# > 0)); then
	prefix=$(realpath -m "$1")
else
	root=${KILN_STATIC_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/static-deps}
	prefix=$(realpath -m "$root/$key")
fi
stamp=.kiln-static-deps

if [[ -f $prefix/$stamp ]] && [[ $(<"$prefix/$stamp") == "$key" ]]; then
	log "up to date: $prefix (key $key)"
	printf '%s\n' "$prefix"
	exit 0
fi

# A PREFIX that exists is replaced only when an earlier run made it: never
# move away a directory that holds something else (think /usr/local).
if [[ -e $prefix && ! -f $prefix/$stamp ]] &&
	[[ ! -d $prefix || -n $(ls -A -- "$prefix") ]]; then
	die "'$prefix' exists and was not made by this script (no $stamp in it): choose another PREFIX"
fi

parent=$(dirname "$prefix")
mkdir -p "$parent"
# One builder at a time per cache dir; the one that waited finds the stamp.
exec 9>"$parent/.kiln-static-deps.lock"
if ! flock -n 9; then
	log "waiting for another static-deps build in $parent"
	flock 9
fi
if [[ -f $prefix/$stamp ]] && [[ $(<"$prefix/$stamp") == "$key" ]]; then
	log "up to date: $prefix (key $key)"
	printf '%s\n' "$prefix"
	exit 0
fi

# Holding the lock, nobody else builds here: leftovers of earlier runs
# (kept after a failure, or cut short) can go.
rm -rf "$parent"/.kiln-static-deps-tmp-* "$parent"/.kiln-static-deps-old-*
work=$(mktemp -d "$parent/.kiln-static-deps-tmp-$(basename "$prefix").XXXXXX")
# The work dir (sources, build trees, logs) stays after a failure, or
# always with KILN_STATIC_DEPS_KEEP=1; the next run removes it. An
# interrupted run removes it at once.
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [[ -n $failed || -n ${KILN_STATIC_DEPS_KEEP:-} ]]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
buildlog=$work/apt.log
stage=$work/prefix
mkdir -p "$stage/lib" "$stage/include" "$work/src"
log "building ${versions[*]} into $prefix (key $key, $jobs jobs)"

# --- a private apt that knows the deb-src side of the host's sources -------

# shellcheck disable=SC1091 # a system file
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
[[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release"

# Emit deb822 deb-src stanzas for the host's Debian suites ($codename,
# $codename-updates, $codename-security, $codename/updates); third-party
# repositories (other suites) are left out, as they rarely carry sources.
host_deb_src() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		awk -v cn="$codename" '
			function want(s) { return s == cn || index(s, cn "-") == 1 || index(s, cn "/") == 1 }
			{ sub(/#.*/, "") }
			$1 != "deb" && $1 != "deb-src" { next }
			{
				i = 2; opts = ""
				if ($2 ~ /^\[/) {
					while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ }
					gsub(/[][]/, "", opts)
				}
				uri = $i; suite = $(i + 1); comps = ""
				for (j = i + 2; j <= NF; j++) comps = comps " " $j
				if (!want(suite) || comps == "") next
				print "Types: deb-src"
				print "URIs: " uri
				print "Suites: " suite
				print "Components:" comps
				n = split(opts, o, " ")
				for (k = 1; k <= n; k++)
					if (o[k] ~ /^signed-by=/) { sub(/^signed-by=/, "", o[k]); print "Signed-By: " o[k] }
					else if (o[k] ~ /^trusted=/) { sub(/^trusted=/, "", o[k]); print "Trusted: " o[k] }
				print ""
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		# Paragraph mode: one stanza per record; continuation lines (an
		# inline Signed-By key) are copied as they are.
		awk -v cn="$codename" '
			BEGIN { RS = ""; FS = "\n" }
			function want(s) { return s == cn || index(s, cn "-") == 1 || index(s, cn "/") == 1 }
			{
				types = ""; suites = ""; enabled = "yes"; out = ""; field = ""
				for (i = 1; i <= NF; i++) {
					line = $i
					if (line ~ /^#/) continue
					if (line ~ /^[ \t]/) { if (field != "Types" && field != "Suites") out = out line "\n"; continue }
					field = line; sub(/:.*/, "", field)
					val = line; sub(/^[^:]*:[ \t]*/, "", val)
					if (field == "Types") types = val
					else if (field == "Suites") {
						n = split(val, s, /[ \t]+/)
						for (k = 1; k <= n; k++) if (want(s[k])) suites = suites " " s[k]
					} else if (field == "Enabled") enabled = val
					else if (field != "Architectures") out = out line "\n"
				}
				if (enabled == "no" || types !~ /(^|[ \t])deb(-src)?([ \t]|$)/ || suites == "") next
				printf "Types: deb-src\nSuites:%s\n%s\n", suites, out
			}' "$f"
	done
}

apt_dir=$work/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" \
	"$apt_dir/cache/archives/partial"
: >"$apt_dir/sources.list"
if [[ -n ${KILN_DEB_SRC:-} ]]; then
	tr ';' '\n' <<<"$KILN_DEB_SRC" >"$apt_dir/sources.list"
else
	host_deb_src >"$apt_dir/sources.list.d/kiln.sources"
	[[ -s $apt_dir/sources.list.d/kiln.sources ]] ||
		die "found no Debian '$codename' suite in /etc/apt/sources.list{,.d/} (set KILN_DEB_SRC)"
fi
apt_opts=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir/cache"
	-o "Dir::Cache::archives=$apt_dir/cache/archives"
	-o "APT::Get::Only-Source=true"
	-o "quiet=1"
)
# As root apt hands downloads to the _apt user, who cannot enter this
# private (mode 700) directory; download as the caller instead.
((EUID != 0)) || apt_opts+=(-o "APT::Sandbox::User=root")

step "apt-get update (private deb-src lists)" apt-get "${apt_opts[@]}" update
cd "$work/src"
step_hint="a version the mirror no longer has means the host's package lists are stale: run apt-get update"
step "apt-get source ${versions[*]}" apt-get "${apt_opts[@]}" source "${versions[@]}"
step_hint=

srcdir() { # the unpacked source tree of source package $1
	local d
	for d in "$work/src/$1"-*/; do
		[[ -d $d ]] && { printf '%s' "${d%/}"; return 0; }
	done
	die "apt-get source left no $1-* directory"
}

export CC="$cc"
export CFLAGS="${CFLAGS:--O2 -g} -fstack-protector-strong -ffile-prefix-map=$work/="
export CPPFLAGS="${CPPFLAGS:-} -D_FORTIFY_SOURCE=2"
export PKG_CONFIG_PATH=$stage/lib/pkgconfig
export MAKEFLAGS="${MAKEFLAGS:-} -j$jobs"
# configure and libtool are shell scripts that fork a lot: dash runs them
# faster than bash.
shell=/bin/sh
[[ ! -x /bin/dash ]] || shell=/bin/dash
export CONFIG_SHELL=$shell

# Debian's patches may touch configure.ac or Makefile.am; keep automake from
# regenerating (it is not installed, and the shipped scripts are current).
touch_autotools() {
	find "$1" \( -name 'aclocal.m4' -o -name configure -o -name 'Makefile.in' \
		-o -name 'config.h.in' -o -name '*.h.in' \) -exec touch {} +
}

# --- libcurl ---------------------------------------------------------------
curl_src=$(srcdir curl)
curl_conf=(
	--prefix="$stage" --libdir="$stage/lib"
	--disable-shared --enable-static --with-pic
	--disable-dependency-tracking --disable-silent-rules
	--with-openssl --with-zlib --enable-ares --with-nghttp2
	--enable-http --disable-ftp --disable-file --disable-ldap --disable-ldaps
	--disable-rtsp --disable-dict --disable-telnet --disable-tftp
	--disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher
	--disable-mqtt --disable-manual --disable-ntlm --disable-ntlm-wb --disable-tls-srp
	--disable-netrc --disable-versioned-symbols
	--without-gssapi --without-libidn2 --without-libpsl --without-brotli
	--without-zstd --without-libssh2 --without-libssh --without-wolfssh
	--without-librtmp --without-libgsasl --without-hyper
	--without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3
	--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs
)
build_curl() {
	buildlog=$work/curl.log
	touch_autotools "$curl_src"
	mkdir -p "$work/build/curl" && cd "$work/build/curl"
	step "curl: configure" "$shell" "$curl_src/configure" "${curl_conf[@]}"
	step "curl: make" make -C lib
	step "curl: install" sh -c 'make -C lib install && make -C include install &&
		make install-pkgconfigDATA install-binSCRIPTS'
}

# --- cJSON -----------------------------------------------------------------
cjson_src=$(srcdir cjson)
build_cjson() {
	buildlog=$work/cjson.log
	mkdir -p "$work/build/cjson" "$stage/include/cjson" "$stage/lib/pkgconfig"
	cd "$work/build/cjson"
	# cJSON.c alone is the library Debian's libcjson.so holds (cJSON_Utils
	# is a separate library kiln does not use).
	# shellcheck disable=SC2016 # expanded by sh -c
	step "cjson: compile" sh -c '$CC $CPPFLAGS $CFLAGS -std=c89 -c "$1/cJSON.c" -o cJSON.o &&
		ar rcs "$2/lib/libcjson.a" cJSON.o' sh "$cjson_src" "$stage"
	cp "$cjson_src/cJSON.h" "$stage/include/cjson/"
	local version
	version=$(sed -n 's/^.*CJSON_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*$/\2/p' \
		"$cjson_src/cJSON.h" | paste -sd.)
	cat >"$stage/lib/pkgconfig/libcjson.pc" <<EOF
prefix=$stage
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libcjson
Version: $version
Description: Ultralightweight JSON parser in ANSI C
Libs: -L\${libdir} -lcjson
Libs.private: -lm
Cflags: -I\${includedir} -I\${includedir}/cjson
EOF
}

# --- libarchive ------------------------------------------------------------
archive_src=$(srcdir libarchive)
archive_conf=(
	--prefix="$stage" --libdir="$stage/lib"
	--disable-shared --enable-static --with-pic
	--disable-dependency-tracking --disable-silent-rules
	--disable-bsdtar --disable-bsdcat --disable-bsdcpio
	--with-zlib --with-bz2lib --with-lzma --with-zstd
	--without-lz4 --without-lzo2 --without-cng --without-mbedtls
	--without-nettle --without-openssl --without-xml2 --without-expat
	--without-libb2 --without-iconv --disable-acl
)
build_archive() {
	buildlog=$work/libarchive.log
	touch_autotools "$archive_src"
	mkdir -p "$work/build/libarchive" && cd "$work/build/libarchive"
	step "libarchive: configure" "$shell" "$archive_src/configure" "${archive_conf[@]}"
	step "libarchive: make" make libarchive.la
	step "libarchive: install" make install-libLTLIBRARIES \
		install-includeHEADERS install-pkgconfigDATA
}

# --- ISA-L -------------------------------------------------------------------
# Its own makefile builds the static library with no configure step; only
# the gzip unit (which pulls in the CRC one) goes in.
isal_src=$(srcdir libisal)
build_isal() {
	buildlog=$work/isal.log
	cd "$isal_src"
	# shellcheck disable=SC2016 # expanded by sh -c
	step "isa-l: make" sh -c 'make -f Makefile.unx units=igzip DEBUG="$CFLAGS" lib'
	mkdir -p "$stage/include/isa-l"
	cp "$isal_src"/include/*.h "$stage/include/isa-l/"
	cp "$isal_src/bin/isa-l.a" "$stage/lib/libisal.a"
}

# configure scripts run one process at a time: build curl and libarchive
# side by side so both cores stay busy, and wait for both before judging.
(build_cjson)
(build_isal)
(build_curl) &
curl_pid=$!
(build_archive) &
archive_pid=$!
curl_rc=0 archive_rc=0
wait "$curl_pid" || curl_rc=$?
wait "$archive_pid" || archive_rc=$?
((curl_rc == 0 && archive_rc == 0)) || die "build failed (logs in $work)"

# The libtool archives and prefix-bound scripts point into the temporary
# stage; rewrite them for the final place.
rm -f "$stage"/lib/*.la
sed -i "s|$stage|$prefix|g" "$stage"/lib/pkgconfig/*.pc "$stage/bin/curl-config"

# What went in, for the report and for anyone opening the cache.
{
	printf 'key %s\n' "$key"
	printf 'built %s\n' "${versions[@]}"
	dpkg-query -W -f='linked ${Package}=${Version}\n' "${devpkgs[@]}"
	printf 'curl configure %s\n' "${curl_conf[*]:2}"
	printf 'libarchive configure %s\n' "${archive_conf[*]:2}"
	printf 'CFLAGS %s\nCPPFLAGS %s\n' "$CFLAGS" "$CPPFLAGS"
} >"$stage/BUILDINFO"
printf '%s\n' "$key" >"$stage/$stamp"

# Into place: a fresh key dir is one rename; a given PREFIX that holds an
# older build is moved aside first and removed after.
if [[ -e $prefix ]]; then
	old=$(mktemp -d "$parent/.kiln-static-deps-old-$(basename "$prefix").XXXXXX")
	mv -T "$prefix" "$old/prefix"
	mv -T "$stage" "$prefix"
	rm -rf "$old"
else
	mv -T "$stage" "$prefix"
fi
log "installed $prefix in $(elapsed "$t_start")"
printf '%s\n' "$prefix"
exit 0
}
