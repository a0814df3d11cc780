#!/usr/bin/env bash
# Installs the Debian and npm packages the tests need when they are missing.
# Idempotent; quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the test suite uses: chromium for the chat page's browser
# test (e2e/), node/npm drive it with playwright-core; lua5.1 checks the
# sandbox's Lua 5.1 conformance goldens (runtime/sandbox/lua51_test.go);
# prosody is the real XMPP server of the XMPP channel's tests; node runs the
# SMSC of the SMS tests (npm smpp, e2e/smsc.mjs).
# For the SIP channel: sipp (sip-tester) and sipsak place calls and probe,
# flite and espeak-ng speak the prompts, sox checks their audio; baresip is
# the softphone whose heard audio pocketsphinx transcribes.
DEB_PKGS=(chromium lua5.1 prosody sip-tester sipsak flite espeak-ng sox baresip-core pocketsphinx pocketsphinx-en-us)
command -v node >/dev/null 2>&1 || DEB_PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || DEB_PKGS+=(npm)

missing=()
for p in "${DEB_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the browser tests (never a browser download: the tests
# use Debian's chromium) and the SMSC (smpp).
if [ ! -d e2e/node_modules/playwright-core ] || [ ! -d e2e/node_modules/smpp ]; then
	echo "test-deps: npm ci in e2e/"
	(cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

if ! command -v go >/dev/null 2>&1; then
	echo "test-deps: Go 1.26 is required (https://go.dev/dl/); see README" >&2
	exit 1
fi
