#!/usr/bin/env bash
# Validates the appliance's TLS and headers with independent scanners (CI runs this):
#
#   scan.sh [PATH_TO_TUNDRA_BINARY]
#
# Starts the binary on a temp data dir (panel and redirect on loopback ports), then runs
#   - testssl.sh (Debian package): protocols, ciphers, known TLS vulnerabilities;
#   - drheader (PyPI): security headers against its default rules;
#   - `tundra acceptance run` itself (transport, headers, identity, storage);
# and fails on a real finding. Installs testssl.sh and drheader when missing (needs root).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
BIN=${1:-$SCRIPT_DIR/../target/x86_64-unknown-linux-gnu/release/tundra}
PANEL_PORT=${SCAN_PANEL_PORT:-18443}
AGENT_PORT=${SCAN_AGENT_PORT:-17447}
REDIRECT_PORT=${SCAN_REDIRECT_PORT:-18080}

die() { printf 'scan.sh: %s\n' "$*" >&2; exit 1; }
[ -x "$BIN" ] || die "no tundra binary at $BIN (build it first)"

if ! command -v testssl >/dev/null 2>&1 && ! command -v testssl.sh >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null
fi
TESTSSL=$(command -v testssl || command -v testssl.sh)
if ! command -v drheader >/dev/null 2>&1; then
    python3 -m pip install --quiet drheader
fi

WORK=$(mktemp -d)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf -- "$WORK"
}
trap cleanup EXIT

cat >"$WORK/tundra.toml" <<TOML
data_dir = "$WORK/data"
panel_addr = "127.0.0.1:$PANEL_PORT"
redirect_addr = "127.0.0.1:$REDIRECT_PORT"
agent_addr = "127.0.0.1:$AGENT_PORT"
TOML

TUNDRA_LOG=warn "$BIN" --config "$WORK/tundra.toml" serve >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 50); do
    if curl -fsS --cacert "$WORK/data/panel-cert.pem" "https://localhost:$PANEL_PORT/healthz" >/dev/null 2>&1; then
        break
    fi
    sleep 0.2
done
curl -fsS --cacert "$WORK/data/panel-cert.pem" "https://localhost:$PANEL_PORT/healthz" >/dev/null \
    || { cat "$WORK/serve.log" >&2; die "tundra serve did not come up"; }

failed=0

echo "==> testssl.sh"
# A MEDIUM or higher severity counts as a finding. The self-signed certificate is expected
# (it is what a fresh install serves); everything else must be clean.
"$TESTSSL" --quiet --color 0 --warnings off \
    --jsonfile "$WORK/testssl.json" "localhost:$PANEL_PORT" >"$WORK/testssl.txt" 2>&1 || true
python3 - "$WORK/testssl.json" <<'PY' || failed=1
import json, sys
ignore = {"cert_chain_of_trust", "cert_trust", "cert_caIssuers", "cert_crlDistributionPoints",
          "cert_ocspURL", "OCSP_stapling", "cert_revocation", "DNS_CAArecord",
          "cert_extlifeSpan", "cert_expirationStatus", "scanProblem"}
findings = [f for f in json.load(open(sys.argv[1]))
            if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL") and f.get("id") not in ignore]
protocols = {f["id"]: f["finding"] for f in json.load(open(sys.argv[1]))
             if f.get("id", "").startswith(("SSLv", "TLS1"))}
for k, v in sorted(protocols.items()):
    print(f"  {k}: {v}")
for f in findings:
    print(f"  FINDING {f['id']} ({f['severity']}): {f['finding']}")
if protocols.get("TLS1_3", "").startswith("not offered"):
    print("  FINDING: TLS 1.3 not offered"); sys.exit(1)
for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"):
    if protocols.get(old, "not offered").startswith("offered"):
        print(f"  FINDING: {old} offered"); sys.exit(1)
sys.exit(1 if findings else 0)
PY

echo "==> drheader"
# drheader's default rules on the sign-in page and the front page. Its command line passes
# a joined Set-Cookie string to a parser that expects a list (and then exits 0 with an
# IndexError), so its library is called with the headers as a real client received them.
python3 - "https://localhost:$PANEL_PORT" "$WORK/data/panel-cert.pem" <<'PY' || failed=1
import sys
import requests
from drheader import Drheader
base, ca = sys.argv[1], sys.argv[2]
# Accepted deviations from drheader's defaults, each for a reason:
# - Cache-Control: `no-store` alone forbids storing (RFC 9111); drheader also wants max-age=0.
# - Pragma: an HTTP/1.0 header; the panel speaks HTTP/1.1 and HTTP/2 only.
# - X-XSS-Protection: the XSS auditor is gone from current browsers; the strict CSP covers it.
ACCEPTED = {"Cache-Control", "Pragma", "X-XSS-Protection"}
findings = 0
for path in ("/login", "/"):
    r = requests.get(base + path, verify=ca, allow_redirects=False, timeout=10)
    headers = {k: v for k, v in r.headers.items() if k.lower() != "set-cookie"}
    cookies = r.raw.headers.getlist("Set-Cookie")
    if cookies:
        headers["Set-Cookie"] = cookies
    report = Drheader(headers=headers).analyze()
    for item in report:
        if item.get("rule") in ACCEPTED:
            print(f"  accepted {path} {item.get('rule')}: {item.get('message')}")
            continue
        findings += 1
        print(f"  FINDING {path} {item.get('rule')}: {item.get('message')} "
              f"(value: {item.get('value')}, expected: {item.get('expected')})")
    if not [i for i in report if i.get("rule") not in ACCEPTED]:
        print(f"  {path}: no findings")
sys.exit(1 if findings else 0)
PY

echo "==> tundra acceptance run"
"$BIN" --config "$WORK/tundra.toml" acceptance run \
    --url "https://localhost:$PANEL_PORT" --http-url "http://127.0.0.1:$REDIRECT_PORT" \
    --ca "$WORK/data/panel-cert.pem" --unit "$SCRIPT_DIR/../systemd/tundra.service" \
    --section transport --section headers --section identity --section storage --section host \
    --section network --pid "$PID" \
    || failed=1

if [ "$failed" -ne 0 ]; then
    echo "scan.sh: findings above" >&2
    exit 1
fi
echo "scan.sh: no findings"
