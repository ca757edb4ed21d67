# Third-party libraries for the fully static executor (-DKILN_STATIC=ON).
#
# kiln unpacks a base image over / and then cannot rely on anything in /, so
# the executor is one static binary. This file defines the same imported
# targets as cmake/KilnDeps.cmake (kiln::openssl kiln::zlib kiln::curl
# kiln::archive kiln::cjson kiln::xxhash kiln::isal), pointing at static
# archives:
#   - libcurl, libarchive, libcjson and libisal built by cmake/static-deps.sh
#     with only what kiln needs (Debian's static builds drag in LDAP, GSSAPI,
#     xml2 ...; Debian has no static ISA-L);
#   - libssl, libcrypto, libz, libxxhash, libcares, libnghttp2, libbz2,
#     liblzma and libzstd as Debian's -dev packages ship them
#     (cmake/static-packages.txt lists the packages).
# and links every executable with -static.
#
# -DKILN_STATIC_DEPS_PREFIX=DIR uses libraries built before (by
# `cmake/static-deps.sh DIR`); without it configure runs the script, which
# builds once into its cache (several minutes) and is instant afterwards.
#
# glibc's static libc is enough: names are resolved by c-ares, which reads
# /etc/hosts and /etc/resolv.conf itself, never through getaddrinfo and NSS
# (whose static use needs the shared NSS modules at run time).

# -static below applies to every executable, and Debian ships cmocka only as
# a shared library ("attempted static link of dynamic object"): the unit
# tests run from the ordinary build.
if(KILN_TESTS)
	message(FATAL_ERROR "KILN_STATIC=ON needs -DKILN_TESTS=OFF: the unit tests link "
		"Debian's shared-only libcmocka; run them from the ordinary build")
endif()

set(KILN_STATIC_DEPS_PREFIX "" CACHE PATH
	"Prefix holding static libcurl, libarchive, libcjson and libisal (empty: run cmake/static-deps.sh)")

if(KILN_STATIC_DEPS_PREFIX)
	set(_kiln_static_prefix "${KILN_STATIC_DEPS_PREFIX}")
else()
	set(_kiln_static_script "${CMAKE_CURRENT_LIST_DIR}/static-deps.sh")
	set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_kiln_static_script}")
	message(STATUS "kiln: static dependencies from ${_kiln_static_script} "
		"(the first run builds curl, libarchive, cJSON and ISA-L: several minutes)")
	# The script reports progress on stderr (shown as it runs) and prints
	# the prefix as the one line on stdout.
	execute_process(
		COMMAND bash "${_kiln_static_script}"
		OUTPUT_VARIABLE _kiln_static_prefix
		OUTPUT_STRIP_TRAILING_WHITESPACE
		RESULT_VARIABLE _kiln_static_rc)
	if(NOT _kiln_static_rc EQUAL 0)
		message(FATAL_ERROR "kiln: cmake/static-deps.sh failed (${_kiln_static_rc}); "
			"see its messages above, or build the libraries by hand and pass "
			"-DKILN_STATIC_DEPS_PREFIX=DIR")
	endif()
endif()
message(STATUS "kiln: static dependencies in ${_kiln_static_prefix}")

find_package(Threads REQUIRED)

# kiln_static_lib(TARGET FILE [DEPS...]): an imported static archive.
# Built ones are looked for in the prefix only, Debian's in the system dirs.
function(kiln_static_lib target file)
	string(MAKE_C_IDENTIFIER "KILN_STATIC_LIB_${file}" var)
	if(file MATCHES "^lib(curl|archive|cjson|isal)\\.a$")
		find_library(${var} NAMES ${file} PATHS "${_kiln_static_prefix}/lib"
			NO_DEFAULT_PATH NO_CACHE)
		set(hint "${_kiln_static_prefix} does not hold it: rerun cmake/static-deps.sh")
	else()
		find_library(${var} NAMES ${file} NO_CACHE)
		set(hint "install the Debian packages in cmake/static-packages.txt")
	endif()
	if(NOT ${var})
		message(FATAL_ERROR "kiln: no ${file}: ${hint}")
	endif()
	add_library(${target} STATIC IMPORTED GLOBAL)
	set_target_properties(${target} PROPERTIES
		IMPORTED_LOCATION "${${var}}"
		IMPORTED_LINK_INTERFACE_LANGUAGES C
		INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()

# Debian's archives, with the libraries each needs after it on the link line.
kiln_static_lib(kiln::zlib libz.a)
# The dynamic build's kiln::openssl is libcrypto alone; libssl is for curl.
kiln_static_lib(kiln::openssl libcrypto.a Threads::Threads ${CMAKE_DL_LIBS})
kiln_static_lib(kiln_static::ssl libssl.a kiln::openssl)
kiln_static_lib(kiln_static::cares libcares.a)
kiln_static_lib(kiln_static::nghttp2 libnghttp2.a)
kiln_static_lib(kiln_static::bz2 libbz2.a)
kiln_static_lib(kiln_static::lzma liblzma.a Threads::Threads)
kiln_static_lib(kiln_static::zstd libzstd.a Threads::Threads)
kiln_static_lib(kiln::xxhash libxxhash.a)

# The ones static-deps.sh built.
kiln_static_lib(kiln::curl libcurl.a
	kiln_static::nghttp2 kiln_static::cares kiln_static::ssl kiln::openssl kiln::zlib
	Threads::Threads)
kiln_static_lib(kiln::archive libarchive.a
	kiln_static::lzma kiln_static::zstd kiln_static::bz2 kiln::zlib Threads::Threads)
kiln_static_lib(kiln::cjson libcjson.a m)
kiln_static_lib(kiln::isal libisal.a)

# Headers: the built libraries' come first, ahead of any shared-build
# headers of other versions in /usr/include (libcurl4-openssl-dev,
# libarchive-dev); <cjson/cJSON.h> and <cJSON.h> both work, as with
# Debian's libcjson.pc.
set_target_properties(kiln::curl PROPERTIES
	INTERFACE_INCLUDE_DIRECTORIES "${_kiln_static_prefix}/include"
	INTERFACE_COMPILE_DEFINITIONS CURL_STATICLIB)
set_target_properties(kiln::archive PROPERTIES
	INTERFACE_INCLUDE_DIRECTORIES "${_kiln_static_prefix}/include"
	INTERFACE_COMPILE_DEFINITIONS LIBARCHIVE_STATIC)
set_target_properties(kiln::isal PROPERTIES
	INTERFACE_INCLUDE_DIRECTORIES "${_kiln_static_prefix}/include")
set_target_properties(kiln::cjson PROPERTIES
	INTERFACE_INCLUDE_DIRECTORIES
		"${_kiln_static_prefix}/include;${_kiln_static_prefix}/include/cjson")

# Every executable (the executor, and the tests when KILN_TESTS is on) is
# linked fully static: no PT_INTERP, no DT_NEEDED.
add_link_options(-static)
