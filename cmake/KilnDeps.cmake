# Third-party libraries for the ordinary (dynamic) build, found with
# pkg-config from Debian's -dev packages. Each becomes kiln::<name>.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(KILN_OPENSSL REQUIRED IMPORTED_TARGET libcrypto>=3.0)
pkg_check_modules(KILN_ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(KILN_CURL REQUIRED IMPORTED_TARGET libcurl>=7.74)
pkg_check_modules(KILN_ARCHIVE REQUIRED IMPORTED_TARGET libarchive>=3.4)
pkg_check_modules(KILN_CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(KILN_XXHASH REQUIRED IMPORTED_TARGET libxxhash>=0.8)
pkg_check_modules(KILN_ISAL REQUIRED IMPORTED_TARGET libisal>=2.28)

add_library(kiln::openssl ALIAS PkgConfig::KILN_OPENSSL)
add_library(kiln::zlib ALIAS PkgConfig::KILN_ZLIB)
add_library(kiln::curl ALIAS PkgConfig::KILN_CURL)
add_library(kiln::archive ALIAS PkgConfig::KILN_ARCHIVE)
add_library(kiln::cjson ALIAS PkgConfig::KILN_CJSON)
add_library(kiln::xxhash ALIAS PkgConfig::KILN_XXHASH)
add_library(kiln::isal ALIAS PkgConfig::KILN_ISAL)
