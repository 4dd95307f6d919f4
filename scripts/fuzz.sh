#!/usr/bin/env bash
# Run the libFuzzer targets of a KPRCNN_FUZZ build (make fuzz-build). Usage:
#   scripts/fuzz.sh BUILD_DIR long [TARGET...]   FUZZ_SECONDS (600) per target, FUZZ_JOBS parallel processes
#                                                (default: half the cores); new inputs kept in BUILD/fuzz/corpus/
#   scripts/fuzz.sh BUILD_DIR ci [TARGET...]     FUZZ_SECONDS (30) per target, -seed=1, one process each, from
#                                                the generated seeds + committed regressions only (a fresh
#                                                corpus); FUZZ_PARALLEL targets at a time (default: the cores)
# Every run reads BUILD/fuzz/seeds/<target> (generated) and tests/fuzz/regressions/<target> (committed), and
# tests/fuzz/dicts/<target>.dict when there is one. A crash leaves its input in BUILD/fuzz/artifacts/<target>/ and
# fails the run: minimise it (fuzz_<target> -minimize_crash=1 -runs=10000 FILE), fix the bug, and commit the input
# under tests/fuzz/regressions/<target>/ with a unit test. The summary line per target gives executions, coverage
# (cov: edges, ft: features) and corpus size.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: fuzz.sh BUILD_DIR long|ci [TARGET...]}" && pwd)
mode=${2:?usage: fuzz.sh BUILD_DIR long|ci [TARGET...]}
shift 2
targets=("$@")
if ((${#targets[@]} == 0)); then
  for exe in "$build"/bin/fuzz_*; do [[ -x $exe ]] && targets+=("${exe##*/fuzz_}"); done
fi
((${#targets[@]})) || { echo "fuzz: no fuzz_* binaries in $build/bin (make fuzz-build)" >&2; exit 2; }

cores=$(nproc)
case $mode in
  long) seconds=${FUZZ_SECONDS:-600}; jobs=${FUZZ_JOBS:-$(((cores + 1) / 2))}; parallel=1 ;;
  ci) seconds=${FUZZ_SECONDS:-30}; jobs=1; parallel=${FUZZ_PARALLEL:-$cores} ;;
  *) echo "fuzz: mode must be long or ci, not '$mode'" >&2; exit 2 ;;
esac

# Decoder inputs are whole files: let them grow past libFuzzer's default 4 KiB.
max_len() {
  case $1 in decode | server_request) echo 16384 ;; *) echo 4096 ;; esac
}

# One target: run it, print its summary line, exit with its status.
run_target() {
  local t=$1
  local exe=$build/bin/fuzz_$t
  [[ -x $exe ]] || { echo "fuzz: $exe not built" >&2; return 1; }
  local seeds=$build/fuzz/seeds/$t
  local regressions=$here/tests/fuzz/regressions/$t
  local artifacts=$build/fuzz/artifacts/$t
  local log=$build/fuzz/logs/$t-$mode.log
  local corpus
  if [[ $mode == ci ]]; then
    corpus=$build/fuzz/ci-corpus/$t
    rm -rf "$corpus"
  else
    corpus=$build/fuzz/corpus/$t
  fi
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")" "$seeds" "$regressions"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")"
              -artifact_prefix="$artifacts/" -print_final_stats=1)
  [[ -f $here/tests/fuzz/dicts/$t.dict ]] && args+=(-dict="$here/tests/fuzz/dicts/$t.dict")
  if [[ $mode == ci ]]; then
    args+=(-seed=1)
  elif ((jobs > 1)); then
    args+=(-fork="$jobs")
  fi
  echo "fuzz: $t for ${seconds}s ($mode, $jobs process(es)); log $log"
  local start rc
  start=$(date +%s)
  (cd "$artifacts" && "$exe" "${args[@]}" "$corpus" "$seeds" "$regressions") >"$log" 2>&1
  rc=$?
  # The last status line: "#<executions> DONE cov: <edges> ft: <features> ..." (fork mode: "#<executions>: cov:").
  local last execs cov ft corp files
  last=$(grep -E "^#[0-9]+[^0-9].*cov: " "$log" | tail -1)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  echo "fuzz: $t rc=$rc execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} ($files in $corpus)" \
    "$(($(date +%s) - start))s"
  if ((rc != 0)); then
    grep -E "ERROR|SUMMARY|invariant|runtime error|Test unit written" "$log" | head -8 | sed 's/^/  /'
  fi
  return "$rc"
}

# Up to `parallel` targets at once (ci: one per core; long: one at a time, each with its own -fork jobs).
failed=()
declare -A running=()
reap() {  # wait for one target to finish and record its status
  local pid
  wait -n -p pid "${!running[@]}"
  local rc=$?
  ((rc != 0)) && failed+=("${running[$pid]}")
  unset "running[$pid]"
}
for t in "${targets[@]}"; do
  while ((${#running[@]} >= parallel)); do reap; done
  run_target "$t" &
  running[$!]=$t
done
while ((${#running[@]})); do reap; done

if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $build/fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) clean"
