#!/usr/bin/env bash
# deps.sh - install the Debian packages engramfs needs, only when something
# is missing.  Quiet when everything is present.
#
#   scripts/deps.sh            check, install what is missing
#   scripts/deps.sh --force    install the whole list regardless (CI)
#   scripts/deps.sh --check    check only; exit 1 and list what is missing
#
# DEPS_NO_UPDATE=1 skips `apt-get update` (the caller has just run it).
#
# Needs root or sudo to install.  Debian 12 (bookworm) package names.
set -euo pipefail

# Everything the build, `make run` and `make test` use.  python3 runs the
# e2e errno helper; util-linux gives mountpoint and setpriv; prometheus
# gives promtool (metrics and alert rules are checked with it); fio runs
# the verify jobs of the reliability tests; clang and its runtime build
# the libFuzzer targets; fortunes is public text for the bench's corpus
# (with the Debian changelogs every system has) and ripgrep its `rg -l`
# reference.
PACKAGES=(build-essential pkg-config libfuse3-dev fuse3 librocksdb-dev
	  libjson-c-dev libinih-dev libstemmer-dev libutf8proc-dev
	  libxxhash-dev libsystemd-dev libcmocka-dev bats inotify-tools attr
	  sqlite3 libsqlite3-dev util-linux python3 prometheus fio clang
	  libclang-rt-14-dev fortunes ripgrep)

PC_MODULES=(fuse3 rocksdb json-c inih libutf8proc libxxhash libsystemd cmocka)
HEADERS=(/usr/include/libstemmer.h)
DATA=(/usr/share/games/fortunes/fortunes)
COMMANDS=(cc make pkg-config bats fusermount3 inotifywait getfattr setfattr
	  mountpoint setpriv sqlite3 python3 promtool fio clang rg)

mode=install
case "${1:-}" in
--force) mode=force ;;
--check) mode=check ;;
"") ;;
*) echo "usage: $0 [--force|--check]" >&2; exit 2 ;;
esac

missing=()
if ! command -v pkg-config >/dev/null 2>&1; then
	missing+=("pkg-config")
else
	for m in "${PC_MODULES[@]}"; do
		pkg-config --exists "$m" || missing+=("pkg-config:$m")
	done
fi
for h in "${HEADERS[@]}" "${DATA[@]}"; do
	[[ -e $h ]] || missing+=("$h")
done
for c in "${COMMANDS[@]}"; do
	command -v "$c" >/dev/null 2>&1 || missing+=("command:$c")
done

if [[ $mode != force && ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
if [[ $mode == check ]]; then
	echo "deps: missing: ${missing[*]}" >&2
	exit 1
fi

if [[ ${#missing[@]} -gt 0 ]]; then
	echo "deps: missing: ${missing[*]}"
fi

if [[ $(id -u) -eq 0 ]]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
else
	echo "deps: cannot install (${PACKAGES[*]}): not root and sudo is not available;" \
	     "ask an administrator to run: apt-get install ${PACKAGES[*]}" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: apt-get not found: this script knows Debian (12) only; install by hand:" \
	     "${PACKAGES[*]}" >&2
	exit 1
fi

echo "deps: installing: ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
if [[ ${DEPS_NO_UPDATE:-0} != 1 ]]; then
	"${SUDO[@]}" apt-get update -q
fi
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

# Verify: a package that installed but still leaves something missing is a
# real problem (wrong distribution, renamed package), say so clearly.
still=()
for m in "${PC_MODULES[@]}"; do
	pkg-config --exists "$m" || still+=("pkg-config:$m")
done
for h in "${HEADERS[@]}" "${DATA[@]}"; do
	[[ -e $h ]] || still+=("$h")
done
for c in "${COMMANDS[@]}"; do
	command -v "$c" >/dev/null 2>&1 || still+=("command:$c")
done
if [[ ${#still[@]} -gt 0 ]]; then
	echo "deps: still missing after install: ${still[*]}" >&2
	exit 1
fi
