#!/usr/bin/env bash
# On a machine with a GPU and no Rust toolchain (the device machine): the CUDA backend checked
# on the GPU itself, then issue 7's benchmark beside JAX on the same GPU. Build first, here:
#   cargo build --release -p hsc && cargo test --release -p hsc --test backend_cuda --no-run
# and copy target/release/hsc and the backend_cuda test binary to target/gpu/ (what `run`
# carries). Writes what it measured to $OUT (or out/gpu/).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/gpu}"
mkdir -p "$out"
hsc=target/gpu/hsc
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$out/gpu.csv"
# NVRTC from the CUDA install (found by hsc in /usr/local/cuda/lib64, or named here).
lib="$(ls /usr/local/cuda/lib64/libnvrtc.so.* 2>/dev/null | head -1 || true)"
[ -n "$lib" ] && export HSC_NVRTC="$lib"
echo "== every pass of every example on the GPU against the interpreter (f64 and f32)"
HSC_ROOT="$PWD" target/gpu/backend_cuda --nocapture --test-threads 1 gpu_ 2>&1 | tee "$out/differential.txt"
echo "== gradcheck on the GPU"
"$hsc" gradcheck examples/nonlin_hru.ham --backend cuda --steps 200 | tee "$out/gradcheck.txt"
echo "== the benchmark: NonlinHRU, P = 256, N = 16, batch 256, f32, T = 10 000"
"$hsc" bench examples/nonlin_hru.ham -D P=256 -D N=16 --batch 256 --steps 10000 --precision f32 \
    --backends cuda --no-baseline --passes forward,rhel --min-time 0 | tee "$out/bench.txt"
echo "== the same model in JAX on the same GPU"
python3 benches/cuda/jax_nonlin_hru.py --P 256 --N 16 --batch 256 --steps 10000 | tee "$out/jax.txt"
