#!/usr/bin/env bash
# Usage: killed_write.sh CONVDYN SIGNAL DIR CHECKPOINT IMAGES
# Writes a results file, starts `stability --append` on it, sends SIGNAL once the temporary file exists, and
# checks: the process ended by that signal, the results file is unchanged, and no temporary is left (for KILL:
# left, then removed by the next write).
set -u
set -m  # job control: the background job gets SIGINT like a foreground one (not ignored)
exe=$1 sig=$2 dir=$3 ckpt=$4 images=$5
rm -rf "$dir" && mkdir -p "$dir" || exit 1
out=$dir/results.h5
"$exe" spectrum "$ckpt" --all --k 4 --quiet --out "$out" >/dev/null || { echo "FAIL: first write"; exit 1; }
cp "$out" "$dir/before.h5"
"$exe" stability "$ckpt" --inputs "$images" --limit 16 --max-steps 200000 --quiet --out "$out" --append >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do
  compgen -G "$dir/.results.h5.tmp-*" >/dev/null && break
  kill -0 $pid 2>/dev/null || { echo "FAIL: stability ended before its temporary file appeared"; exit 1; }
  sleep 0.05
done
compgen -G "$dir/.results.h5.tmp-*" >/dev/null || { echo "FAIL: no temporary file seen"; kill -KILL $pid; exit 1; }
sleep 0.5
kill -"$sig" $pid
wait $pid; rc=$?
declare -A code=([TERM]=143 [INT]=130 [KILL]=137)
[ "$rc" -eq "${code[$sig]}" ] || { echo "FAIL: exit status $rc, expected ${code[$sig]} (killed by SIG$sig)"; exit 1; }
cmp -s "$out" "$dir/before.h5" || { echo "FAIL: the results file changed"; exit 1; }
left=$(compgen -G "$dir/.results.h5.tmp-*")
if [ "$sig" = KILL ]; then
  [ -n "$left" ] || { echo "FAIL: SIGKILL cannot clean up, yet no temporary was left"; exit 1; }
  "$exe" spectrum "$ckpt" --layer area_conv.0 --k 2 --quiet --out "$dir/other.h5" >/dev/null   # another target: kept
  [ -n "$(compgen -G "$dir/.results.h5.tmp-*")" ] || { echo "FAIL: a write to another file removed it"; exit 1; }
  "$exe" spectrum "$ckpt" --layer area_conv.0 --k 2 --quiet --force --out "$out" >/dev/null || exit 1
  left=$(compgen -G "$dir/.results.h5.tmp-*")
  [ -z "$left" ] || { echo "FAIL: the next write to $out left the stale temporary: $left"; exit 1; }
else
  [ -z "$left" ] || { echo "FAIL: temporary left behind: $left"; exit 1; }
fi
echo "ok: SIG$sig, exit $rc, results file intact, no temporary left"
