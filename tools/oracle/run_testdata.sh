#!/bin/sh
# Run a binary (uniqd-oracle or the engine uniqd, same flags) on every case in
# testdata/: NAME.jsonl with the flags in NAME.args must print exactly
# NAME.expected on stdout (early_* cases: every result; the others: the final
# ones) and write the rejects in NAME.rejects (compared by
# reason and line, in line order; extra keys such as the frame text are ignored).
# Usage: run_testdata.sh BINARY [CASE...]
set -u
bin=$1; shift
dir=$(dirname "$0")/testdata
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
cases=${*:-$(cd "$dir" && ls *.args | sed 's/\.args$//')}
fail=0
for n in $cases; do
  # shellcheck disable=SC2046  # NAME.args holds whitespace-separated flags
  "$bin" $(cat "$dir/$n.args") --input "$dir/$n.jsonl" --rejects "$tmp/$n.rej" \
    >"$tmp/$n.out" 2>"$tmp/$n.err"
  rc=$?
  # early_* cases specify every result; the others only the final ones.
  case $n in
    early_*) ;;
    *) grep '"final":true' "$tmp/$n.out" >"$tmp/$n.finals"; mv "$tmp/$n.finals" "$tmp/$n.out" ;;
  esac
  sed -n 's/.*"reason":"\([a-z_]*\)".*"line":\([0-9]*\).*/{"reason":"\1","line":\2}/p' \
    "$tmp/$n.rej" | sort -t: -k3 -n >"$tmp/$n.rej.sorted"
  if [ $rc -eq 0 ] && cmp -s "$tmp/$n.out" "$dir/$n.expected" &&
     cmp -s "$tmp/$n.rej.sorted" "$dir/$n.rejects"; then
    echo "PASS $n"
  else
    echo "FAIL $n (exit $rc)"
    diff "$dir/$n.expected" "$tmp/$n.out" | sed 's/^/  results: /'
    diff "$dir/$n.rejects" "$tmp/$n.rej.sorted" | sed 's/^/  rejects: /'
    sed 's/^/  stderr: /' "$tmp/$n.err"
    fail=1
  fi
done
exit $fail
