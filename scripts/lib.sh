# shellcheck shell=bash
# lib.sh — what the scripts in scripts/ share; sourced, never run:
#
#	. "$(dirname "$0")/lib.sh"
#
# hdb_install_missing PACKAGE...: installs with apt-get (quietly, without
# recommended packages; through sudo when not root) those of the Debian
# packages that are not installed yet, so that each script works on a fresh
# machine.  Says what it installs on stderr.
hdb_install_missing() {
	local p missing=() sudo=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	echo "$(basename "$0"): installing ${missing[*]}" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}
