#!/usr/bin/env bash
# A newcomer's first hour, timed: bench a GGUF in one line, the same model through transformers,
# one report over both runs, then every error a newcomer meets first (each must be one line).
# Run from a checkout whose .venv is set up (`make test` or `make demo` did it):
#   bash benchmarks/first_hour.sh [work folder, default /tmp/first-hour]
# Prints the wall time of each step and its exit code; fails if any output holds a traceback.
set -u
cd "$(dirname "$0")/.."
DTA=".venv/bin/dta"
WORK="${1:-/tmp/first-hour}"
rm -rf "$WORK" && mkdir -p "$WORK"
LOG="$WORK/log.txt"
tracebacks=0

step() {  # step NAME EXPECTED_EXIT COMMAND...
  local name="$1" want="$2"; shift 2
  local started ended code
  started=$(date +%s%N)
  "$@" > "$WORK/out.txt" 2>&1
  code=$?
  ended=$(date +%s%N)
  cat "$WORK/out.txt" >> "$LOG"
  if grep -q "Traceback" "$WORK/out.txt"; then tracebacks=$((tracebacks + 1)); fi
  local first_error
  first_error=$(grep -m1 "^error:" "$WORK/out.txt" | cut -c1-110)
  local ms=$(( (ended - started) / 1000000 ))
  printf "%-48s %4d.%01d s  exit %s (want %s)  %s\n" "$name" $((ms / 1000)) $((ms % 1000 / 100)) \
    "$code" "$want" "$first_error"
}

printf "%-48s %8s  %s\n" "step" "wall" "result"
step "export the tiny model to GGUF Q8_0" 0 \
  $DTA export --target cpu-gguf-q8_0 --model embedded:tiny --out "$WORK/export"
step "one-line bench of the GGUF (--limit 5)" 0 \
  $DTA bench --model "$WORK/export/cpu-gguf-q8_0.gguf" --limit 5 --out "$WORK/gguf"
step "the same model through transformers" 0 \
  $DTA bench --model embedded:tiny --limit 5 --out "$WORK/hf"
step "one report over both runs" 0 \
  $DTA report "$WORK/gguf" "$WORK/hf" --out "$WORK/report"
step "error: model check on a missing folder" 2 \
  $DTA model check "$WORK/no-such-model" --out "$WORK/check"
step "error: model check on a GGUF file" 2 \
  $DTA model check "$WORK/export/cpu-gguf-q8_0.gguf" --out "$WORK/check"
step "error: an uncached hub id, offline" 2 \
  env HF_HUB_OFFLINE=1 HF_HOME="$WORK/hf-home" $DTA bench --model dta-test/not-cached \
  --limit 5 --out "$WORK/offline"
step "error: dta train --data nope.jsonl" 2 \
  $DTA train --recipe train-demo --data nope.jsonl --out "$WORK/train"
cat > "$WORK/typo.yaml" <<'YAML'
kind: bench-suite
name: typo
problems: {generate: {n: 2}}
systems:
  - {name: a, backend: openai, model: m, options: {base_url: "http://127.0.0.1:9/v1", conncurrency: 2}}
YAML
step "error: an unknown backend option" 2 $DTA config validate "$WORK/typo.yaml"
step "error: a mistyped shipped suite" 2 $DTA bench --suite dmeo --out "$WORK/typo-suite"
step "error: a mistyped shipped profile" 2 \
  $DTA bench --suite demo --profile cpuu --out "$WORK/typo-profile"
step "error: a mistyped shipped recipe" 2 \
  $DTA train --recipe train-dmeo --data nope.jsonl --out "$WORK/typo-recipe"
step "error: a mistyped shipped target" 2 \
  $DTA export --target cpu-gguf-q8 --model embedded:tiny --out "$WORK/typo-target"
echo "tracebacks: $tracebacks (full output in $LOG)"
[ "$tracebacks" -eq 0 ]
