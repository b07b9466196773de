#!/bin/bash
# Init container: /etc/uniqd-template/uniqd.yaml → /etc/uniqd/uniqd.yaml with
# ${KAFKA_SASL_USERNAME} and ${KAFKA_SASL_PASSWORD} replaced by the values of those environment
# variables (from the Secret uniqd-kafka-credentials), as YAML single-quoted strings so any
# character is safe; then uniqd itself checks the result (--print-config).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # '&' in a password stays '&'
in="${1:-/etc/uniqd-template/uniqd.yaml}"
out="${2:-/etc/uniqd/uniqd.yaml}"
quote() { local v="$1" q="'"; printf "'%s'" "${v//$q/$q$q}"; }
text="$(cat "$in")"
for var in KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD; do
  if [[ "$text" == *"\${$var}"* ]]; then
    [ -n "${!var:-}" ] || { echo "render-config: the config uses \${$var} but it is empty (Secret uniqd-kafka-credentials?)" >&2; exit 1; }
    text="${text//"\${$var}"/$(quote "${!var}")}"
  fi
done
printf '%s\n' "$text" >"$out"
uniqd --config "$out" --print-config >/dev/null
