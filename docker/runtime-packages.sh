#!/bin/sh
# Prints the Debian packages that hold the shared libraries the given binaries load, one per
# line, so the runtime image installs exactly those (and what they depend on).
set -eu
for bin in "$@"; do
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
  real="$(readlink -f "$lib")"
  # With merged /usr, dpkg knows a file under one of its two names.
  for path in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do
    if pkg="$(dpkg-query -S "$path" 2>/dev/null)"; then
      echo "${pkg%%:*}" | sed 's/, /\n/g'
      continue 2
    fi
  done
  echo "runtime-packages.sh: no package holds $lib" >&2
  exit 1
done | sort -u
