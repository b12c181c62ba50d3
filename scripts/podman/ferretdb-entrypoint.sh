#!/bin/sh
# PID 1 of the localhost/hemo-ferretdb image (scripts/images.sh): PostgreSQL (Debian's) on the
# container's loopback, the lookup indexes (/etc/ferretdb/lookup-indexes.sql, as test/support/
# local-servers.ts applies them), then FerretDB on 0.0.0.0:27017. SIGTERM stops FerretDB, then
# PostgreSQL (fast shutdown: a clean checkpoint), and the container exits 0.
set -eu
PGBIN=/usr/lib/postgresql/15/bin
DATA=/data/postgres
mkdir -p "$DATA" /data/ferretdb /run/postgresql
chown postgres:postgres "$DATA" /data/ferretdb /run/postgresql
# setpriv execs the command: `$!` below is the server itself, which the trap signals.
AS_POSTGRES="setpriv --reuid=postgres --regid=postgres --init-groups"
if [ ! -f "$DATA/PG_VERSION" ]; then
  $AS_POSTGRES "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
fi
# The same settings as the embedded server of the tests (local-servers.ts says why each is there).
$AS_POSTGRES "$PGBIN/postgres" -D "$DATA" -k /run/postgresql -c listen_addresses=127.0.0.1 \
  -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB -c checkpoint_timeout=30min \
  -c plan_cache_mode=force_custom_plan -c shared_preload_libraries=pg_stat_statements &
pg=$!
ferret=
stop() {
  if [ -n "$ferret" ]; then kill -TERM "$ferret" 2>/dev/null || true; wait "$ferret" 2>/dev/null || true; fi
  kill -INT "$pg" 2>/dev/null || true
  wait "$pg" 2>/dev/null || true
  exit 0
}
trap stop TERM INT
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -U postgres; do
  kill -0 "$pg" 2>/dev/null || { echo "postgres exited while starting" >&2; exit 1; }
  sleep 0.1
done
"$PGBIN/psql" -q -X -o /dev/null -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres -f /etc/ferretdb/lookup-indexes.sql
# Telemetry off twice over (the flag and DO_NOT_TRACK): nothing leaves the container.
DO_NOT_TRACK=1 GOGC=1000 GOMEMLIMIT=512MiB $AS_POSTGRES /usr/local/bin/ferretdb --handler=postgresql \
  --postgresql-url=postgres://postgres@127.0.0.1:5432/postgres --state-dir=/data/ferretdb \
  --listen-addr=0.0.0.0:27017 --debug-addr=- --telemetry=disable --log-level=warn &
ferret=$!
wait "$ferret" || true
# FerretDB ended by itself: stop PostgreSQL too, and let the container's exit say so.
kill -INT "$pg" 2>/dev/null || true
wait "$pg" 2>/dev/null || true
exit 1
