# Shared by the bench scripts (sourced): finding the build, a local broker.
# Expects REPO and a log() function.

# bench_find_build SCRIPT DIR BIN... — echoes the build directory: DIR when
# given, else build-bench or build, the first that has BIN...; exits 2 naming
# the missing binary.
bench_find_build() {
  local script="$1" dir="$2" b d
  shift 2
  if [ -z "$dir" ]; then
    for d in "$REPO/build-bench" "$REPO/build"; do
      dir="$d"
      for b in "$@"; do [ -x "$d/$b" ] || dir=""; done
      [ -n "$dir" ] && break
    done
  fi
  dir="$(cd "${dir:-.}" && pwd)"
  for b in "$@"; do
    [ -x "$dir/$b" ] || { echo "$script: $dir/$b missing; build with -DUNIQD_BENCH=ON (bench/README.md)" >&2; exit 2; }
  done
  echo "$dir"
}

# A port P with P and P+1 (the broker's controller) both free.
bench_free_port() {
  python3 - <<'PY'
import socket
for _ in range(100):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    try:
        t = socket.socket(); t.bind(("127.0.0.1", p + 1)); t.close(); print(p); break
    except OSError:
        pass
PY
}

# bench_start_broker DIR — fetches the jars if needed, starts a fresh broker
# with its data in DIR on a free port, echoes the bootstrap address. The
# caller stops it (scripts/kafka stop --dir DIR) in its EXIT trap.
bench_start_broker() {
  local port
  "$REPO/scripts/kafka" fetch >/dev/null
  port="$(bench_free_port)"
  log "starting a broker on 127.0.0.1:$port in $1"
  "$REPO/scripts/kafka" start --port "$port" --dir "$1" --clean
}
