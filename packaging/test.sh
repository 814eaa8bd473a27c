#!/usr/bin/env bash
# Runs the whole test suite. Installs the system tools the tests use as real peers
# (openssl for TLS, oathtool for TOTP, python3 for a foreign-uid socket client) when they
# are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The OpenAPI document is checked by an independent validator from PyPI.
if ! python3 -c "import openapi_spec_validator" >/dev/null 2>&1; then
    echo "test.sh: installing openapi-spec-validator"
    python3 -m pip install --quiet openapi-spec-validator
fi

# Some tests need root (chown to another uid, connecting as `nobody`); they are the
# same tests a packager runs in a container.
if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: run as root: the suite checks file ownership and a foreign-uid client" >&2
    exit 1
fi

# Unit tests, the integration suite (tests/it) and doc tests.
cargo test --locked "$@"
