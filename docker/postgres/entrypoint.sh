#!/bin/bash
# Start PostgreSQL in the foreground; SIGTERM/SIGINT become a *fast* shutdown
# (PostgreSQL's own SIGTERM is a "smart" shutdown that waits for every pooled
# client to disconnect, which would outlast `docker stop`'s grace period).
set -euo pipefail

: "${MAX_CONNECTIONS:=100}"
if ! [[ "$MAX_CONNECTIONS" =~ ^[0-9]+$ ]] || (( MAX_CONNECTIONS < 5 )); then
    echo "entrypoint: MAX_CONNECTIONS must be an integer >= 5, got '$MAX_CONNECTIONS'" >&2
    exit 2
fi

# Optional password auth: APP_PASSWORD set -> scram-sha-256 for TCP clients.
if [[ -n "${APP_PASSWORD:-}" ]]; then
    pw=${APP_PASSWORD//\'/\'\'}
    out=$(echo "ALTER ROLE app PASSWORD '$pw';" | postgres --single -D "$PGDATA" postgres 2>&1)
    if grep -q ERROR <<<"$out"; then echo "$out" >&2; exit 1; fi
    printf '%s\n' "local all all trust" \
        "host all all 0.0.0.0/0 scram-sha-256" "host all all ::/0 scram-sha-256" > "$PGDATA/pg_hba.conf"
fi

# A container killed hard leaves a stale pid file; postgres refuses to start with
# a pid file whose pid is alive, and in a fresh pid namespace pid 1 is us.
rm -f "$PGDATA/postmaster.pid"

postgres -D "$PGDATA" -c max_connections="$MAX_CONNECTIONS" ${POSTGRES_ARGS:-} "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null' QUIT
set +e
wait "$pid"; rc=$?
# `wait` returns early when a trapped signal arrives: wait again for the real exit.
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
exit "$rc"
