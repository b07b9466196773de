#!/usr/bin/env bash
# SCRAM-SHA-512 end to end with uniqd from a container image (the Debian 13 image of
# docker/Containerfile: librdkafka >= 2.6.1; the host build's 2.0.2 cannot log in with SCRAM
# to Kafka 4.x, confluentinc/librdkafka#4895).
#
#   tests/integration/scram_image.sh IMAGE [BUILD_DIR]     (BUILD_DIR default: build)
#
# Starts the secured broker (with_broker.sh --secure) and runs kafka_security.py's ok case
# (the documented ACLs under exactly_once, equal to the oracle, the password nowhere in what
# uniqd wrote) with uniqd run as `podman run --network host IMAGE` and sasl.mechanism
# SCRAM-SHA-512; uniqd-gen and uniqd-oracle come from BUILD_DIR. The live run is stopped with
# SIGTERM (podman forwards it), not SIGKILL (which would leave the container running).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
IMAGE="$1"
BUILD="$(realpath "${2:-$REPO/build}")"
# scripts/container podman: podman with the project's containers.conf (what the deployment tier
# runs); UNIQD_CONTAINER_ENGINE overrides it (e.g. docker).
ENGINE="${UNIQD_CONTAINER_ENGINE:-$REPO/scripts/container podman}"
$ENGINE image inspect "$IMAGE" >/dev/null || { echo "scram_image: no image $IMAGE (build it first: scripts/container image)" >&2; exit 1; }

WRAP="$(mktemp -d "${TMPDIR:-/tmp}/uniqd-scram.XXXXXX")"
trap 'rm -rf "$WRAP"' EXIT
# The test's files (config, password file, CA, state) are under TMPDIR: the same paths inside.
TMP="$(realpath "${TMPDIR:-/tmp}")"
cat >"$WRAP/uniqd" <<EOF2
#!/bin/sh
exec $ENGINE run --rm -i --network host --user "\$(id -u):\$(id -g)" -v "$TMP:$TMP" \\
  -e UNIQD_TEST_PASSWORD --entrypoint /usr/local/bin/uniqd "$IMAGE" "\$@"
EOF2
chmod +x "$WRAP/uniqd"
"$HERE/with_broker.sh" --secure python3 "$HERE/kafka_security.py" --uniqd "$WRAP/uniqd" \
  --gen "$BUILD/uniqd-gen" --oracle "$BUILD/uniqd-oracle" --mechanism SCRAM-SHA-512 --cases ok,secrets --no-kill
