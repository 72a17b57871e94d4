#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for building the project on PostgreSQL locally and in CI.
#
#   scripts/local_postgres.sh start   install (Debian's postgresql-15, if absent), initdb, start
#   scripts/local_postgres.sh stop    stop it and delete its data directory
#
# It listens on 127.0.0.1 only, on MIMIC_SEGMENTS_PG_PORT (default 54329), with trust
# authentication for local connections: a development server holding nothing but the demo.
# The profiles.yml target `postgres` reads the same variables.
set -euo pipefail

PORT="${MIMIC_SEGMENTS_PG_PORT:-54329}"
DATA_DIR="${MIMIC_SEGMENTS_PG_DATA:-/tmp/mimic-segments-pg-${PORT}}"
DATABASE="${MIMIC_SEGMENTS_PG_DATABASE:-mimic_segments}"

pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [[ -x "${dir}/pg_ctl" ]]; then echo "${dir}"; return; fi
    done
    return 1
}

as_postgres() {
    if [[ "$(id -un)" == "postgres" ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

start() {
    if ! BIN="$(pg_bin)"; then
        echo "PostgreSQL is not installed: installing Debian's postgresql-15" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
        BIN="$(pg_bin)"
    fi
    if as_postgres "${BIN}/pg_ctl" -D "${DATA_DIR}" status >/dev/null 2>&1; then
        echo "PostgreSQL already running on 127.0.0.1:${PORT} (${DATA_DIR})"
        return
    fi
    rm -rf "${DATA_DIR}"
    install -d -o postgres -g postgres -m 700 "${DATA_DIR}"
    as_postgres "${BIN}/initdb" -D "${DATA_DIR}" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C >/dev/null
    as_postgres "${BIN}/pg_ctl" -D "${DATA_DIR}" -l "${DATA_DIR}/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p ${PORT} -k ${DATA_DIR} -c fsync=off" start >/dev/null
    as_postgres "${BIN}/createdb" -h 127.0.0.1 -p "${PORT}" -U postgres "${DATABASE}"
    echo "PostgreSQL running on 127.0.0.1:${PORT}, database ${DATABASE} (${DATA_DIR})"
}

stop() {
    local BIN
    BIN="$(pg_bin)" || return 0
    if [[ -d "${DATA_DIR}" ]]; then
        as_postgres "${BIN}/pg_ctl" -D "${DATA_DIR}" -m fast stop >/dev/null 2>&1 || true
        rm -rf "${DATA_DIR}"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
