#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer, AddressSanitizer).
#
#   fuzz/run.sh [TARGET...]            each target for FUZZ_SECONDS (default 60) seconds
#   FUZZ_RUNS=N fuzz/run.sh [TARGET..]  each target for N executions instead (a smoke run)
#   fuzz/run.sh repro TARGET FILE      run one input (a crash artifact, a regression)
#
# Needs cargo-fuzz (installed from crates.io on first use) and a nightly compiler, or the
# stable one with RUSTC_BOOTSTRAP=1 (what this script uses when no nightly is installed: the
# stable toolchain ships the sanitizer runtimes). Prints one line per target (executions, time,
# corpus size) and appends them to fuzz/results.txt. A crash stops the run with the input saved
# in fuzz/artifacts/TARGET/; once fixed, copy it into fuzz/regressions/TARGET/, where
# `cargo test --test reliability_fuzz` replays it from then on.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export PATH=$HOME/.cargo/bin:$PATH
# The fuzz builds (instrumented) apart from the ordinary ones.
fuzz_target=${FUZZ_TARGET_DIR:-$here/target}
fuzz() { CARGO_TARGET_DIR=$fuzz_target cargo "${toolchain[@]}" fuzz "$@"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked --quiet
fi
toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
sanitizer=${FUZZ_SANITIZER:-address}
all=(reference www_authenticate oci_manifest oci_layout docker_config helper_output tar_archive docker_archive)

if [ "${1:-}" = repro ]; then
  target=${2:?usage: run.sh repro TARGET FILE} file=${3:?usage: run.sh repro TARGET FILE}
  fuzz run -O -s "$sanitizer" "$target" "$file"
  exit
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Seeds (fuzz/src/harness.rs) into the corpus directories.
(cd .. && IDP_FUZZ_WRITE_SEEDS=1 IDP_FUZZ_SMOKE_RUNS=0 cargo test --quiet --test reliability_fuzz >/dev/null)

fuzz build -O -s "$sanitizer"

limit=()
if [ -n "${FUZZ_RUNS:-}" ]; then
  limit=(-runs="$FUZZ_RUNS")
  what="$FUZZ_RUNS runs"
else
  limit=(-max_total_time="${FUZZ_SECONDS:-60}")
  what="${FUZZ_SECONDS:-60}s"
fi
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  start=$(date +%s)
  # -timeout: an input taking over 10 s is reported as a hang; -rss_limit_mb: memory bombs.
  if fuzz run -O -s "$sanitizer" "$t" "corpus/$t" -- \
      "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  line="$(date -u +%Y-%m-%dT%H:%MZ) $t: $result, ${execs:-?} executions in ${took}s ($what, sanitizer $sanitizer), corpus $corpus"
  echo "$line" | tee -a results.txt
  if [ "$result" != ok ]; then
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
    echo "full log: $log" >&2
  else
    rm -f "$log"
  fi
done
exit $status
