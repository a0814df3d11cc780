#!/usr/bin/env bash
# Installs the Debian and npm packages the tests need when they are missing.
# Idempotent; quiet when everything is there.
set -euo pipefail

# Debian packages the test suite uses (add as channels arrive).
DEB_PKGS=()

missing=()
for p in "${DEB_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
	echo "test-deps: Go is required (https://go.dev/dl/); see README" >&2
	exit 1
fi
