# shellcheck shell=bash
# Helpers shared by the .ci scripts. Source it; do not run it.

# The Go toolchain is pinned (the machine's own Go may have known std-lib
# vulnerabilities); the go command fetches this one from the module proxy.
export GOTOOLCHAIN=go1.27.3
export DEBIAN_FRONTEND=noninteractive

CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CI_DIR/.." && pwd)"
# Outside the checkout, so CI on a machine that already built it reuses it.
CI_CACHE="${UROPORTAL_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/uroportal-ci}"

# Stock Go lives in /usr/local/go; make sure it is on PATH whatever the env.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH="/usr/local/go/bin:$PATH" ;; esac
export PATH

section() {
	printf '\n==================== %s ====================\n' "$*"
}

die() {
	printf 'CI ERROR: %s\n' "$*" >&2
	exit 1
}

# ensure_apt PATH=PACKAGE ...
# Installs each Debian PACKAGE whose PATH (a binary or file it provides) is
# missing. Runs `apt-get update` once, and only when something is missing.
ensure_apt() {
	local spec path pkg missing=()
	for spec in "$@"; do
		path="${spec%%=*}" pkg="${spec#*=}"
		if [[ -e "$path" ]]; then
			echo "ok: $pkg ($path)"
		else
			echo "missing: $pkg ($path)"
			missing+=("$pkg")
		fi
	done
	((${#missing[@]})) || return 0
	local sudo=()
	((EUID == 0)) || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
}
