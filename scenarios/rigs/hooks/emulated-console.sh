#!/usr/bin/env bash
# A provisioning hook, as a team whose firmware has its own provisioning protocol would
# write one, here for the emulated board's console (see emulated-provision-hook.toml):
#
#   emulated-console.sh csr PORT
#       prints the board's CSR (PEM) on stdout
#   emulated-console.sh write PORT CERTIFICATE SIGNER SERVER_CA HOST:PORT SSID PASSWORD AUTH
#       writes the credentials (the three are PEM files)
#
# The harness lets go of PORT while the hook runs. A reply other than OK is reported on
# stderr with exit status 1, which fails the `provision` step.
set -euo pipefail

mode=$1 port=$2
stty -F "$port" raw -echo
exec 3<>"$port"

send() { printf '%s\r\n' "$1" >&3; }

# The reply to the last line sent: up to the EOT (0x04), without the board's log lines.
reply() {
    local text
    if ! IFS= read -r -d $'\004' -t 10 text <&3; then
        echo "no reply from the board on $port" >&2
        return 1
    fi
    printf '%s\n' "$text" | tr -d '\r' | grep -v '^\[[EWID]\] ' | sed '/^$/d' || true
}

expect_ok() {
    local got
    got=$(reply)
    if [ "$got" != OK ]; then
        echo "the board refused $1: $got" >&2
        exit 1
    fi
}

# Whatever the board printed before (a banner) is consumed: an empty line gets an empty reply.
send ''
while [ -n "$(reply)" ]; do :; done

case $mode in
csr)
    send csr
    reply
    ;;
write)
    shift 2
    for pair in "cert:$1" "signer:$2" "rootca:$3"; do
        command=${pair%%:*} file=${pair#*:}
        send "$command"
        while IFS= read -r line; do send "$line"; done <"$file"
        send ''
        expect_ok "$command"
    done
    send "endpoint $4"
    expect_ok endpoint
    send "wifi $5,$6,$7"
    expect_ok wifi
    echo "credentials written to $port"
    ;;
*)
    echo "unknown mode $mode (csr or write)" >&2
    exit 2
    ;;
esac
