#!/bin/sh
# Entry point of the localhost/hemo-redis image (scripts/images.sh), as the official redis image does:
# redis-server runs as the user redis, owns /data, and has protected mode off (without a config file
# Redis would refuse every client but loopback, and the container's network is the boundary here).
# docker-compose.yml gives its own `redis-server ...` command; it keeps these.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  chown redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$@" --protected-mode no
fi
exec "$@"
