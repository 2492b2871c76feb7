#!/usr/bin/env bash
# Instructions each pass of NonlinHRU (P = 64, N = 16, f32) executes per sequence, step and
# state element, counted by valgrind's callgrind: deterministic where times on a shared
# machine are not. Each pass runs at 200 and at 400 steps (batch 4, 3 timed runs each, as
# `hsc bench --min-time 0` does them); the difference leaves out compiling and set-up.
#   scripts/count_instructions.sh [path/to/hsc]     (default: target/release/hsc)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/hsc}"
command -v valgrind >/dev/null || { echo "needs valgrind (apt install valgrind)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for pass in forward rhel tangent bptt; do
    counts=()
    for steps in 200 400; do
        valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" bench examples/nonlin_hru.ham \
            --passes "$pass" --no-baseline --steps "$steps" --batch 4 --min-time 0 >/dev/null 2>"$tmp/log"
        counts+=("$(grep -o 'Collected : [0-9]*' "$tmp/log" | awk '{print $3}')")
    done
    awk -v p="$pass" -v a="${counts[0]}" -v b="${counts[1]}" \
        'BEGIN { printf "%-8s %8.1f instructions per (seq·step·x)\n", p, (b - a) / (3 * 200 * 4 * 64) }'
done
