#!/usr/bin/env bash
# `make run`: set up var/ on first use (config, SQLite database, demo tenant,
# admin user with a generated password) and run the server in the foreground.
#
#   scripts/run-dev.sh <path-to-hotline> [--setup-only]
#
# VAR_DIR (default: var) holds everything this creates. The admin password is
# generated once, stored in $VAR_DIR/admin-password (mode 600) and printed at
# every start; `hotline user passwd demo admin` makes a new one.
set -euo pipefail

HOTLINE=${1:?usage: run-dev.sh <hotline binary> [--setup-only]}
SETUP_ONLY=${2:-}
VAR_DIR=${VAR_DIR:-var}
CONFIG="$VAR_DIR/hotline.toml"

mkdir -p "$VAR_DIR"
chmod 700 "$VAR_DIR"

if [ ! -f "$CONFIG" ]; then
  cat > "$CONFIG" <<TOML
# Development configuration written by 'make run'. Every key:
#   hotline config example
[http]
listen = "127.0.0.1:8080"

[storage]
url = "sqlite://$VAR_DIR/hotline.db"

[sip]
# Phones register as <extension>@<this machine's address>; such requests
# belong to the demo tenant.
udp = "0.0.0.0:5060"
tcp = "0.0.0.0:5060"
default_tenant = "demo"

[recording]
# Key-encryption key for recordings at rest, generated for this machine.
kek = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
kek_id = "dev1"

[log]
level = "info"
format = "text"
TOML
  echo "make run: wrote $CONFIG"
fi

"$HOTLINE" --config "$CONFIG" migrate >/dev/null

if ! "$HOTLINE" --config "$CONFIG" tenant list | cut -f2 | grep -qx demo; then
  "$HOTLINE" --config "$CONFIG" tenant add demo --name "Demo Contact Center"
fi

PASSWORD_FILE="$VAR_DIR/admin-password"
if ! "$HOTLINE" --config "$CONFIG" user list demo | cut -f2 | grep -qx admin; then
  umask 077
  "$HOTLINE" --config "$CONFIG" user add demo admin --role admin --display-name "Administrator" \
    | sed -n 's/^password: //p' > "$PASSWORD_FILE"
fi

# Demo SIP extensions 1001-1005; their passwords are generated once and kept
# in $VAR_DIR/extensions (mode 600).
EXT_FILE="$VAR_DIR/extensions"
for ext in 1001 1002 1003 1004 1005; do
  if ! "$HOTLINE" --config "$CONFIG" extension list demo | cut -f2 | grep -qx "$ext"; then
    umask 077
    pw=$("$HOTLINE" --config "$CONFIG" extension add demo "$ext" --display-name "Agent $ext" \
         | sed -n 's/^sip password: //p')
    echo "$ext $pw" >> "$EXT_FILE"
  fi
done

# The demo contact center: number 400 (IVR in Chinese and English), queues
# sales and support, agents on extensions 1001-1005, a VIP customer.
"$HOTLINE" --config "$CONFIG" demo seed demo >/dev/null

LISTEN=$(sed -n 's/^listen = "\(.*\)"/\1/p' "$CONFIG" | head -n 1)
LISTEN=${HOTLINE_HTTP_LISTEN:-$LISTEN}
cat <<MSG

  Hotline is set up (config: $CONFIG).
    API:      http://$LISTEN/api/v1   (OpenAPI: http://$LISTEN/api/v1/openapi.json)
    Health:   http://$LISTEN/healthz   Metrics: http://$LISTEN/metrics
    Tenant:   demo
    User:     admin
    Password: $(cat "$PASSWORD_FILE" 2>/dev/null || echo "(not known here: reset with '$HOTLINE --config $CONFIG user passwd demo admin')")

  SIP:      register a softphone (e.g. baresip, Linphone) to this machine's address, port 5060:
$(sed 's/^\([^ ]*\) \(.*\)$/              extension \1  password \2/' "$EXT_FILE" 2>/dev/null)

  Call in:  register one softphone as 1001 and another as 1002 (any extension), then
            on 1001 dial *23 (log in and ready; *22 logs out, *24 not ready, *25 ends wrap-up)
            and from 1002 dial 400: the IVR answers (1 sales, 2 support, 9 English).

  Sign in:  curl -s -X POST http://$LISTEN/api/v1/auth/login -H 'Content-Type: application/json' \\
              -d '{"tenant":"demo","username":"admin","password":"<password>"}'

MSG

if [ "$SETUP_ONLY" = "--setup-only" ]; then
  exit 0
fi
exec "$HOTLINE" --config "$CONFIG" serve
