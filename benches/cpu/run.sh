#!/usr/bin/env bash
# Workload W1 on one CPU core: NonlinHRU (examples/nonlin_hru.ham), P 64, N 16, batch 16, f32,
# leapfrog dt 0.05, loss sum_t g_t . q_t. Runs the hand-written C baseline (nonlin_hru.c), the
# expert JAX baseline (jax_nonlin_hru.py) and `hsc bench` on the given backends, each pinned to
# core 0, and prints one markdown table of median ns per sequence·step·P (hsc bench's unit).
#
# Usage: benches/cpu/run.sh [backends, comma-separated (default c,cranelift)] [steps (default 1000)]
# Needs gcc, python3 with jax[cpu], and target/release/hsc (built beforehand).
set -euo pipefail
cd "$(dirname "$0")/../.."
backends=${1:-c,cranelift}
steps=${2:-1000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
pin="taskset -c 0"

gcc -O3 -march=native -fopenmp-simd benches/cpu/nonlin_hru.c -o "$out/nonlin_hru" -lm
for pass in forward rhel; do
    $pin "$out/nonlin_hru" --pass "$pass" --steps "$steps" --batch 16 --dt 0.05 >>"$out/results.jsonl"
done
$pin python3 benches/cpu/jax_nonlin_hru.py --steps "$steps" --batch 16 --dt 0.05 2>"$out/jax.err" |
    tee -a "$out/results.jsonl" | grep -v '^{' >&2 || { cat "$out/jax.err" >&2; exit 1; }
# hsc bench takes dt from the file (0.1 there) and -D sets dims only: bench a copy with dt 0.05.
sed 's/leapfrog(dt = 0.1)/leapfrog(dt = 0.05)/' examples/nonlin_hru.ham >"$out/nonlin_hru.ham"
grep -q 'dt = 0.05' "$out/nonlin_hru.ham"
$pin target/release/hsc bench "$out/nonlin_hru.ham" --precision f32 --steps "$steps" --batch 16 \
    --threads 1 --backends "$backends" --passes forward,rhel,bptt --no-baseline --json >"$out/hsc.json"

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), core 0 only"
echo "$(gcc --version | head -1); $(target/release/hsc --version); $(python3 -c 'import jax; print("jax", jax.__version__)')"
echo "NonlinHRU P 64, N 16, batch 16, $steps steps, f32, dt 0.05, RHEL eps 1e-3 (two echoes with dL/du_t)"
echo
python3 - "$out" <<'EOF'
import json, sys
rows = {}
for line in open(f"{sys.argv[1]}/results.jsonl"):
    if line.startswith("{"):
        r = json.loads(line)
        name = "C, hand-written (gcc -O3 -march=native)" if r["baseline"] == "c" else f"JAX {r['jax']}, expert (XLA CPU)"
        rows.setdefault(name, {})[r["pass"]] = r["ns_per_element"]
for r in json.load(open(f"{sys.argv[1]}/hsc.json"))["rows"]:
    rows.setdefault(f"hsc {r['backend']}", {})[r["pass"]] = r["ns_per_seq_step_state"]
print("| ns per sequence·step·P | forward | RHEL | BPTT |")
print("|---|---:|---:|---:|")
for name, ns in rows.items():
    print(f"| {name} | " + " | ".join(f"{ns[p]:.2f}" if p in ns else "—" for p in ("forward", "rhel", "bptt")) + " |")
EOF
