#!/usr/bin/env bash
# `make bench`: our push against skopeo, crane, oras and a curl floor, side by side in one run,
# on a real distribution registry (TLS, basic auth) on 127.0.0.1 and an nginx proxy in front
# of it with client_max_body_size 16m. Prints one table (median of RUNS runs: wall seconds,
# CPU seconds, peak RSS, ratios to ours) and writes it into BENCHMARKS.md.
#
# Environment: RUNS (default 3), BENCH_DIR (fixtures, kept between runs; default
# /var/tmp/idp-push-bench), TOOLS_DIR (pinned crane and oras; default ~/.cache/idp-push/tools).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/idp-push-bench}
TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/idp-push/tools}
CRANE_VERSION=v0.22.1
ORAS_VERSION=v1.3.6
MIB=$((1024 * 1024))

log() { printf '%s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
mkdir -p "$TOOLS_DIR"
if [ ! -x "$TOOLS_DIR/crane-$CRANE_VERSION" ]; then
  log "building crane $CRANE_VERSION"
  GOBIN=$TOOLS_DIR go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
  mv "$TOOLS_DIR/crane" "$TOOLS_DIR/crane-$CRANE_VERSION"
fi
if [ ! -x "$TOOLS_DIR/oras-$ORAS_VERSION" ]; then
  log "building oras $ORAS_VERSION"
  GOBIN=$TOOLS_DIR go install "oras.land/oras/cmd/oras@$ORAS_VERSION"
  mv "$TOOLS_DIR/oras" "$TOOLS_DIR/oras-$ORAS_VERSION"
fi
CRANE=$TOOLS_DIR/crane-$CRANE_VERSION
ORAS=$TOOLS_DIR/oras-$ORAS_VERSION
command -v /usr/bin/time >/dev/null || { log "GNU time is needed: apt-get install time"; exit 1; }

# --- fixtures ------------------------------------------------------------------------------
mkdir -p "$BENCH_DIR"
log "fixtures in $BENCH_DIR (made once)"
bench/make_layout.py "$BENCH_DIR/case1" 8 $((128 * MIB))      # 1 GiB in 8 layers
bench/make_layout.py "$BENCH_DIR/case2" 1 $((2048 * MIB))     # one 2 GiB layer
bench/make_layout.py "$BENCH_DIR/case3" 200 $((256 * 1024))   # 200 layers of 256 KiB
bench/make_layout.py "$BENCH_DIR/case6" 8 $((512 * MIB))      # 4 GiB, for memory only

# --- registry and proxy ------------------------------------------------------------------
# shellcheck source=tests/support/lib.sh
. tests/support/lib.sh
state=$(mktemp -d /tmp/idp-push-bench.XXXXXX)
cleanup() { stop_test_services "$state" >/dev/null 2>&1; }
trap cleanup EXIT
start_registry "$state" >&2
REG=$IDP_TEST_REGISTRY
PROXY=$IDP_TEST_PROXY
USER_=$IDP_TEST_USERNAME
PASS=$IDP_TEST_PASSWORD
mkdir -p "$state/certs" "$state/docker"
cp "$IDP_TEST_CA" "$state/certs/ca.crt"
auth=$(printf '%s:%s' "$USER_" "$PASS" | base64 -w0)
printf '{"auths":{"%s":{"auth":"%s"},"%s":{"auth":"%s"}}}' "$REG" "$auth" "$PROXY" "$auth" \
  >"$state/docker/config.json"
export DOCKER_CONFIG=$state/docker
# crane and oras (Go) take extra roots from SSL_CERT_FILE.
export SSL_CERT_FILE=$IDP_TEST_CA

if [ -x bin/idpbuilder ]; then
  OURS_NAME="idpbuilder push"
else
  OURS_NAME="push-c"
fi

# --- one push of one tool ------------------------------------------------------------------
# push TOOL LAYOUT HOST REPO  -> runs the tool once
push() {
  local tool=$1 layout=$2 host=$3 repo=$4
  case $tool in
    ours)
      if [ -x bin/idpbuilder ]; then
        printf '%s' "$PASS" | bin/idpbuilder push "oci:$layout:v1" --dest "$host/$repo:v1" \
          -u "$USER_" --password-stdin --ca-file "$IDP_TEST_CA" --quiet --output json
      else
        IDP_USERNAME=$USER_ IDP_PASSWORD=$PASS IDP_CA_FILE=$IDP_TEST_CA \
          bin/push-c "oci:$layout:v1" "$host/$repo:v1" 2>/dev/null
      fi ;;
    skopeo)
      skopeo copy --quiet --preserve-digests --dest-cert-dir "$state/certs" \
        --dest-creds "$USER_:$PASS" "oci:$layout:v1" "docker://$host/$repo:v1" ;;
    crane)
      "$CRANE" push "$layout" "$host/$repo:v1" >/dev/null 2>&1 ;;
    oras)
      "$ORAS" cp --from-oci-layout "$layout:v1" "$host/$repo:v1" >/dev/null 2>&1 ;;
    curl)
      # The floor: every blob at once, POST + one PUT each, then the manifest.
      local blob pids=()
      for blob in "$layout"/blobs/sha256/*; do
        (
          loc=$(curl -sS --fail --cacert "$IDP_TEST_CA" -u "$USER_:$PASS" -X POST -D - -o /dev/null \
            "https://$host/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
          case $loc in http*) ;; *) loc="https://$host$loc" ;; esac
          sep='?'; case $loc in *\?*) sep='&' ;; esac
          curl -sS --fail --cacert "$IDP_TEST_CA" -u "$USER_:$PASS" -X PUT \
            -H 'Content-Type: application/octet-stream' --upload-file "$blob" \
            "$loc${sep}digest=sha256:$(basename "$blob")" -o /dev/null
        ) &
        pids+=($!)
      done
      local ok=0 p
      for p in "${pids[@]}"; do wait "$p" || ok=1; done
      return $ok ;;
  esac
}

# Clear the peers' and our blob records, so a cold push cannot mount from an earlier run.
forget_blobs() {
  rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb \
    "$HOME/.local/share/containers/cache/blob-info-cache-v1.boltdb"
  export IDP_PUSH_CACHE_DIR=$state/ours-cache-$RANDOM$RANDOM
}

results=$state/results.tsv
: >"$results"
# measure CASE TOOL LAYOUT HOST MODE ; MODE: cold | warm | mount
measure() {
  local case=$1 tool=$2 layout=$3 host=$4 mode=$5 run repo base
  base="b$RANDOM$RANDOM-$tool"
  if [ "$mode" != cold ]; then
    forget_blobs
    push "$tool" "$layout" "$host" "$base/first" >/dev/null 2>&1 || true
  fi
  for run in $(seq 1 "$RUNS"); do
    case $mode in
      cold) forget_blobs; repo="$base/cold-$run" ;;
      warm) repo="$base/first" ;;
      mount) repo="$base/mount-$run" ;;
    esac
    local out=$state/out status=ok
    if ! /usr/bin/time -f '%e %U %S %M' -o "$state/time" bash -c "$(declare -f push); push $tool $layout $host $repo" \
      >"$out" 2>"$state/err"; then
      status=FAILED
    fi
    read -r wall user sys rss < <(tail -1 "$state/time")
    local sent=""
    [ "$tool" = ours ] && [ -x bin/idpbuilder ] && sent=$(jq -r '.bytes // empty' <"$out" 2>/dev/null || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$wall" "$user" "$sys" "$rss" "$status" "$sent" >>"$results"
    log "  $case $tool run $run: ${wall}s $status"
  done
}

export -f push
export IDP_TEST_CA USER_ PASS CRANE ORAS state

TOOLS=(ours skopeo crane oras curl)
log "case 1: cold push, 1 GiB in 8 layers"
for t in "${TOOLS[@]}"; do measure "1 cold 1GiB/8" "$t" "$BENCH_DIR/case1" "$REG" cold; done
log "case 2: cold push, one 2 GiB layer through nginx (16m body limit)"
for t in "${TOOLS[@]}"; do measure "2 2GiB via proxy" "$t" "$BENCH_DIR/case2" "$PROXY" cold; done
measure "2b 2GiB direct" ours "$BENCH_DIR/case2" "$REG" cold
log "case 3: cold push, 200 layers of 256 KiB"
for t in "${TOOLS[@]}"; do measure "3 200x256KiB" "$t" "$BENCH_DIR/case3" "$REG" cold; done
log "case 4: warm push (everything there)"
for t in ours skopeo crane oras; do measure "4 warm 1GiB" "$t" "$BENCH_DIR/case1" "$REG" warm; done
log "case 5: same image to a second repository (mount)"
for t in ours skopeo crane oras; do measure "5 mount 1GiB" "$t" "$BENCH_DIR/case1" "$REG" mount; done
log "memory: cold push of 4 GiB in 8 layers (ours only)"
measure "6 cold 4GiB/8" ours "$BENCH_DIR/case6" "$REG" cold

python3 bench/report.py "$results" "$OURS_NAME" "$RUNS" | tee "$state/table.md"
python3 bench/report.py "$results" "$OURS_NAME" "$RUNS" --markdown-file BENCHMARKS.md
log "wrote BENCHMARKS.md"
