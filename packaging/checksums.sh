#!/usr/bin/env bash
# Writes FILE.sha256 next to each release artifact (sha256sum format, basename only) and,
# when TUNDRA_SIGNING_KEY names an OpenSSH ed25519 private key file, FILE.sig made with
# `ssh-keygen -Y sign` in the `tundra-release` namespace.
#
#   checksums.sh ARTIFACT...
#   TUNDRA_SIGNING_KEY=~/.ssh/tundra_release_ed25519 checksums.sh dist/tundra-x86_64-linux
set -euo pipefail

NAMESPACE=tundra-release
IDENTITY=release@tundra

die() {
    printf 'checksums.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat <<EOF
Usage: $(basename -- "$0") ARTIFACT...

Writes ARTIFACT.sha256 next to each artifact; with TUNDRA_SIGNING_KEY set to an OpenSSH
ed25519 private key file, also signs each artifact into ARTIFACT.sig
(ssh-keygen -Y sign -n $NAMESPACE).
EOF
}

if [ $# -eq 0 ]; then
    usage >&2
    exit 2
fi
case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    *) ;;
esac

key=${TUNDRA_SIGNING_KEY:-}
if [ -n "$key" ]; then
    if [ ! -f "$key" ] || [ ! -r "$key" ]; then
        die "TUNDRA_SIGNING_KEY=$key is not a readable file"
    fi
    command -v ssh-keygen >/dev/null 2>&1 || die "ssh-keygen is needed to sign (TUNDRA_SIGNING_KEY is set)"
    # Only ed25519 keys: `ssh-keygen -y` prints the public half without changing anything
    # (it asks for the passphrase when the key has one).
    pubkey=$(ssh-keygen -y -f "$key") || die "cannot read the OpenSSH private key $key"
    case $pubkey in
        ssh-ed25519\ *) ;;
        *) die "TUNDRA_SIGNING_KEY must be an ed25519 key (got: ${pubkey%% *})" ;;
    esac
fi

# Validate everything before writing anything.
for file in "$@"; do
    [ -f "$file" ] || die "$file is not a regular file"
    case $file in
        *.sha256 | *.sig) die "$file looks like a checksum or signature, not an artifact" ;;
        *) ;;
    esac
done

for file in "$@"; do
    dir=$(dirname -- "$file")
    base=$(basename -- "$file")
    # Run in the artifact's directory so the .sha256 names the basename only and
    # `sha256sum -c FILE.sha256` works wherever the pair is copied.
    (cd -- "$dir" && sha256sum -- "$base" >"$base.sha256.tmp" && mv -f -- "$base.sha256.tmp" "$base.sha256")
    printf 'wrote %s.sha256\n' "$file"
    if [ -n "$key" ]; then
        # ssh-keygen refuses to overwrite an existing signature.
        rm -f -- "$file.sig"
        ssh-keygen -q -Y sign -f "$key" -n "$NAMESPACE" "$file"
        printf 'wrote %s.sig\n' "$file"
    fi
done

cat <<EOF

Verify a download (in the directory holding it):
  sha256sum -c FILE.sha256
EOF
if [ -n "$key" ]; then
    cat <<EOF
  ssh-keygen -Y verify -f allowed_signers -I $IDENTITY -n $NAMESPACE -s FILE.sig < FILE
where allowed_signers holds the release public key as one line:
  $IDENTITY namespaces="$NAMESPACE" ${pubkey:-}
EOF
else
    printf '(not signed: set TUNDRA_SIGNING_KEY to an ed25519 private key file to write FILE.sig)\n'
fi
