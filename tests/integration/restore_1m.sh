#!/usr/bin/env bash
# Restore of more than a million (window, uid) pairs, against the test broker:
# bench/restore.sh consumes 400 000 frames of 400 000 users with exactly_once,
# stops, then restarts once on the same state directory (RocksDB) and once on
# an empty one (the changelog alone). It fails unless the changelog restore
# holds >= 1 M pairs and both restores hold exactly the pairs the consuming
# run ended with; its report (in the test log) gives the times and pairs/s.
#   restore_1m.sh BUILD_DIR      (needs UNIQD_TEST_BROKERS; exit 77 without)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${UNIQD_TEST_BROKERS:-}" ]; then
  echo "UNIQD_TEST_BROKERS is not set (run under tests/integration/with_broker.sh): skipped"
  exit 77
fi
exec "$REPO/bench/restore.sh" --runs 1 --build "$1" --min-pairs 1000000 \
  --brokers "$UNIQD_TEST_BROKERS" --broker-dir "${UNIQD_TEST_BROKER_DIR:-}"
