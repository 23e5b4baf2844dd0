#!/usr/bin/env bash
# build-verify.sh - build the offline checker tests/crash/verify.c against
# BUILD/libengram.a into BUILD/tests/crash/verify (used by crash.sh,
# tests/stress/stress.sh and 65-full-disk.bats).  Prints the binary's path.
#
#   tests/crash/build-verify.sh [BUILD_DIR]      (default: build)
#
# store_verify is declared in store.h but store/verify.c may not be in the
# library yet: the tool is built with -DHAVE_STORE_VERIFY only when
# libengram.a defines the symbol, and says so when it runs.  A library
# built with sanitizers (make asan) is linked with the same ones.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$ROOT/build}
BUILD=$(cd "$BUILD" && pwd)
LIB=$BUILD/libengram.a
OUT=$BUILD/tests/crash/verify
[[ -f $LIB ]] || { echo "build-verify: no $LIB (make all)" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
if [[ -x $OUT && $OUT -nt $LIB && $OUT -nt $HERE/verify.c ]]; then
	echo "$OUT"
	exit 0
fi
# (No grep -q on nm's pipe: with pipefail, nm's SIGPIPE would fail it.)
syms=$(nm "$LIB" 2>/dev/null)
defs=()
grep -Eq '^[0-9a-f]+ T store_verify$' <<<"$syms" && defs+=(-DHAVE_STORE_VERIFY)
san=()
if grep -q '__asan_' <<<"$syms"; then
	# shellcheck disable=SC2054  # the commas are the compiler's
	san+=(-fsanitize=address,undefined -fno-omit-frame-pointer)
elif grep -q '__tsan_' <<<"$syms"; then
	san+=(-fsanitize=thread)
fi
PKGS="rocksdb json-c inih libutf8proc libxxhash"
# shellcheck disable=SC2046  # pkg-config prints a list of words
${CC:-cc} -std=c11 -O1 -g -Wall -Wextra -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE \
	"${defs[@]}" "${san[@]}" -I"$ROOT/store" $(pkg-config --cflags $PKGS) \
	-o "$OUT" "$HERE/verify.c" "$LIB" $(pkg-config --libs $PKGS) \
	-lstemmer -lm -lpthread
echo "$OUT"
