#!/usr/bin/env bash
# Installs Tundra on this host (run as root).
#
#   install.sh [--dry-run] [--agent] [PATH_TO_TUNDRA_BINARY]
#
# Server mode (default): creates the `tundra` system user, installs the binary to
# /usr/local/bin/tundra, the production config to /etc/tundra/tundra.toml (never overwriting
# an existing one), the data dir /var/lib/tundra (0700) and the systemd unit, enables the unit
# and initializes the data dir as the service user.
#
# --agent: installs the agent instead: the binary, the `tundra-agent` system user,
# /var/lib/tundra-agent (0700) and tundra-agent.service (enabled, not started: the agent must
# be enrolled first).
#
# --dry-run: prints every action instead of performing it.
#
# PATH_TO_TUNDRA_BINARY defaults to target/x86_64-unknown-linux-gnu/release/tundra in the
# repository this script belongs to. If PATH.sha256 exists next to the binary it is verified
# first and the installation aborts on a mismatch.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)

BIN_DEST=/usr/local/bin/tundra
UNIT_DIR=/etc/systemd/system
DOC_DIR=/usr/share/doc/tundra
CONF_DIR=/etc/tundra
CONF_FILE=$CONF_DIR/tundra.toml
NOLOGIN=/usr/sbin/nologin
PLACEHOLDER_HOST=panel.example.com

DRY_RUN=0
DRY_NOTE=""
MODE=server
BINARY=""

usage() {
    cat <<EOF
Usage: $(basename -- "$0") [--dry-run] [--agent] [PATH_TO_TUNDRA_BINARY]

  --dry-run   print each action instead of performing it
  --agent     install the agent daemon (user tundra-agent, tundra-agent.service)
  -h, --help  show this help

PATH_TO_TUNDRA_BINARY defaults to $REPO_ROOT/target/x86_64-unknown-linux-gnu/release/tundra
EOF
}

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

note() {
    printf '==> %s\n' "$*"
}

# Runs a command, or only prints it (shell-quoted) with --dry-run.
run() {
    if [ "$DRY_RUN" -eq 1 ]; then
        printf '[dry-run]'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

have() {
    command -v "$1" >/dev/null 2>&1
}

systemd_running() {
    have systemctl && [ -d /run/systemd/system ]
}

# Runs a command as the given system user with a clean environment (no stray TUNDRA_*
# variables from the admin's shell: unknown ones are rejected by tundra).
run_as() {
    local user=$1
    shift
    local clean_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
    if have sudo; then
        run sudo -u "$user" -- "${clean_env[@]}" "$@"
    elif have runuser; then
        run runuser -u "$user" -- "${clean_env[@]}" "$@"
    else
        die "neither sudo nor runuser is available to run '$*' as $user"
    fi
}

# Creates a system group and user (no login shell, home = its data dir) if missing.
ensure_user() {
    local user=$1 home=$2
    if getent group "$user" >/dev/null; then
        note "group $user exists"
    else
        run groupadd --system "$user"
    fi
    if id -u "$user" >/dev/null 2>&1; then
        note "user $user exists"
    else
        run useradd --system --gid "$user" --home-dir "$home" --no-create-home \
            --shell "$NOLOGIN" --comment "Tundra ($user)" "$user"
    fi
}

# Verifies BINARY against BINARY.sha256 (sha256sum format, basename only) when it exists.
verify_checksum() {
    local sumfile=$BINARY.sha256 dir base
    if [ ! -e "$sumfile" ]; then
        note "no $sumfile: skipping checksum verification"
        return 0
    fi
    dir=$(dirname -- "$BINARY")
    base=$(basename -- "$BINARY")
    # The checksum file must name exactly this binary, or `sha256sum -c` would check another file.
    if ! awk -v want="$base" '
            NF == 0 { next }
            { n++; name = $0; sub(/^[0-9a-fA-F]+ [ *]/, "", name); if (name != want) bad = 1 }
            END { exit (n == 1 && !bad) ? 0 : 1 }' "$sumfile"; then
        die "$sumfile must contain exactly one line for '$base'"
    fi
    if ! (cd -- "$dir" && sha256sum --check --strict --quiet -- "$base.sha256"); then
        die "checksum mismatch for $BINARY (see $sumfile); refusing to install"
    fi
    note "checksum OK: $sumfile"
}

install_binary() {
    run install -o root -g root -m 0755 -- "$BINARY" "$BIN_DEST"
    if [ -f "$REPO_ROOT/README.md" ]; then
        run install -d -o root -g root -m 0755 "$DOC_DIR"
        run install -o root -g root -m 0644 -- "$REPO_ROOT/README.md" "$DOC_DIR/README.md"
    fi
}

install_unit() {
    local unit=$1
    [ -f "$REPO_ROOT/systemd/$unit" ] || die "unit file $REPO_ROOT/systemd/$unit not found"
    run install -d -o root -g root -m 0755 "$UNIT_DIR"
    run install -o root -g root -m 0644 -- "$REPO_ROOT/systemd/$unit" "$UNIT_DIR/$unit"
}

# daemon-reload + enable when systemd manages this host; otherwise says what to do.
enable_unit() {
    local unit=$1
    if systemd_running; then
        run systemctl daemon-reload
        run systemctl enable "$unit"
    else
        note "systemd is not running here: once it is, run"
        printf '      systemctl daemon-reload && systemctl enable %s\n' "$unit"
    fi
}

install_server() {
    local cfg_src=$SCRIPT_DIR/tundra.toml
    [ -f "$cfg_src" ] || die "config template $cfg_src not found"

    ensure_user tundra /var/lib/tundra
    install_binary

    run install -d -o root -g tundra -m 0750 "$CONF_DIR"
    if [ -e "$CONF_FILE" ]; then
        note "kept the existing $CONF_FILE (not overwritten)"
    else
        run install -o root -g tundra -m 0640 -- "$cfg_src" "$CONF_FILE"
    fi

    run install -d -o tundra -g tundra -m 0700 /var/lib/tundra

    install_unit tundra.service
    enable_unit tundra.service

    # redb admits one process: a running server already holds the data dir.
    if systemd_running && systemctl is-active --quiet tundra.service; then
        note "tundra.service is running: skipping 'tundra init' (the data dir is in use)"
    else
        note "initializing /var/lib/tundra as user tundra (note the fingerprints below)"
        if ! run_as tundra "$BIN_DEST" init --config "$CONF_FILE"; then
            die "'tundra init' failed (see above); fix the cause and re-run this script"
        fi
    fi

    local placeholder=0
    if [ -r "$CONF_FILE" ] && grep -Eq "^[[:space:]]*public_host[[:space:]]*=[[:space:]]*\"$PLACEHOLDER_HOST\"" "$CONF_FILE"; then
        placeholder=1
    elif [ ! -e "$CONF_FILE" ]; then
        placeholder=1 # dry-run of a fresh install
    fi

    cat <<EOF

Tundra server installed${DRY_NOTE}. Next steps:
  1. Edit $CONF_FILE:
       public_host          the DNS name users and agents reach this server by
       trusted_agent_cidrs  the networks your agents connect from (never 0.0.0.0/0)
     For your own certificate set tls_cert/tls_key (files readable by group tundra,
     e.g. under $CONF_DIR/tls/).
EOF
    if [ "$placeholder" -eq 1 ]; then
        cat <<EOF
     public_host is still $PLACEHOLDER_HOST; the generated self-signed panel
     certificate is remade for the new name on the next start (it is also renewed
     30 days before it expires). Compare its new fingerprint in journalctl -u tundra.
EOF
    fi
    cat <<EOF
  2. Start it:              systemctl start tundra
  3. Check the start:       journalctl -u tundra   shows the panel URL and fingerprints
  Local admin commands (tundra user, team, audit ...) run as the service user, e.g.
       sudo -u tundra $BIN_DEST --config $CONF_FILE audit --help
EOF
}

install_agent() {
    ensure_user tundra-agent /var/lib/tundra-agent
    install_binary
    run install -d -o tundra-agent -g tundra-agent -m 0700 /var/lib/tundra-agent
    install_unit tundra-agent.service
    enable_unit tundra-agent.service

    cat <<EOF

Tundra agent installed${DRY_NOTE}. It is NOT started: enroll it first, as user tundra-agent,
with the command the panel's enroll page shows, e.g.
  sudo -u tundra-agent $BIN_DEST agent enroll --state-dir /var/lib/tundra-agent \\
      --server https://panel.example.com --token TOKEN --ca-sha256 FINGERPRINT
then start it:
  systemctl start tundra-agent
  journalctl -u tundra-agent    shows its connection state
EOF
}

main() {
    while [ $# -gt 0 ]; do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --agent) MODE=agent ;;
            -h | --help)
                usage
                exit 0
                ;;
            --)
                shift
                break
                ;;
            -*) die "unknown option $1 (see --help)" ;;
            *)
                [ -z "$BINARY" ] || die "only one binary path may be given (see --help)"
                BINARY=$1
                ;;
        esac
        shift
    done
    if [ $# -gt 0 ]; then
        if [ -n "$BINARY" ] || [ $# -ne 1 ]; then
            die "only one binary path may be given (see --help)"
        fi
        BINARY=$1
    fi

    if [ "$(id -u)" -ne 0 ]; then
        if [ "$DRY_RUN" -eq 1 ]; then
            note "not root: dry-run only (a real installation needs root)"
        else
            die "must be run as root (try: sudo $0 ...)"
        fi
    fi

    BINARY=${BINARY:-$REPO_ROOT/target/x86_64-unknown-linux-gnu/release/tundra}
    [ -e "$BINARY" ] || die "binary $BINARY not found (build it or pass its path)"
    if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then
        die "$BINARY is not an executable file"
    fi
    BINARY=$(cd -- "$(dirname -- "$BINARY")" && pwd -P)/$(basename -- "$BINARY")

    # Everything below uses absolute paths; run from / so the service user can always read
    # the working directory.
    cd /

    verify_checksum
    if [ "$DRY_RUN" -eq 1 ]; then
        note "dry-run: nothing below is performed"
        DRY_NOTE=" (dry-run: nothing was changed)"
    fi

    case $MODE in
        server) install_server ;;
        agent) install_agent ;;
        *) die "internal error: unknown mode $MODE" ;;
    esac
}

main "$@"
