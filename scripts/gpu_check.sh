#!/usr/bin/env bash
# On a machine with a GPU and no Rust toolchain (the device machine): the CUDA backend checked
# on the GPU itself, then issue 7's benchmark beside JAX on the same GPU. Build first, here:
#   cargo build --release -p hsc && cargo test --release -p hsc --test backend_cuda --no-run
# and copy target/release/hsc and the backend_cuda test binary to target/gpu/ (what `run`
# carries). Writes what it measured to $OUT (or out/gpu/). Every stage runs, under a time
# limit of its own, whatever the one before it gave, so one call reports everything; the
# exit status is the number of stages that failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/gpu}"
mkdir -p "$out"
hsc=target/gpu/hsc
failed=0
stage() { # stage NAME LIMIT_S COMMAND...: runs it, its output to the terminal and $out/NAME.txt
    local name="$1" limit="$2"
    shift 2
    echo "== $name (at most ${limit} s)"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "-- $name: exit $rc after $((SECONDS - start)) s"
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,driver_version --format=csv \
    | tee "$out/gpu.csv"
# NVRTC from the CUDA install (found by hsc in /usr/local/cuda/lib64, or named here).
# Else the first found under /usr, /opt, or Python's packages (the wheels of JAX and PyTorch).
lib="$(ls /usr/local/cuda/lib64/libnvrtc.so.* 2>/dev/null | head -1 || true)"
if [ -z "$lib" ]; then
    site="$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)"
    # shellcheck disable=SC2086
    lib="$(find /usr /opt $site -name 'libnvrtc.so.[0-9]*' 2>/dev/null | sort | head -1 || true)"
fi
[ -n "$lib" ] && export HSC_NVRTC="$lib"
echo "NVRTC: ${lib:-none found}"
export HSC_ROOT="$PWD"
stage differential 200 target/gpu/backend_cuda --nocapture --test-threads 1 gpu_
stage gradcheck 60 "$hsc" gradcheck examples/nonlin_hru.ham --backend cuda --steps 200
stage bench 100 "$hsc" bench examples/nonlin_hru.ham -D P=256 -D N=16 --batch 256 --steps 10000 \
    --precision f32 --backends cuda --no-baseline --passes forward,rhel --min-time 0
stage jax 120 python3 benches/cuda/jax_nonlin_hru.py --P 256 --N 16 --batch 256 --steps 10000
exit "$failed"
