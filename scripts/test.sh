#!/usr/bin/env bash
# The project's one test command (README, .ci/run): formatting, lints, then every test of the
# workspace: unit, CLI, snapshot, fuzz and property tests. Run it from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== a build script that compiles models (examples/embed) links neither the CLI, nor the GPU, nor training"
tree="$(cargo tree --locked -p hsc-example-embed -e normal,build)"
if grep -E '\b(plotters|safetensors|clap|indicatif|cudarc) v' <<<"$tree"; then
    echo "examples/embed depends on the crates above: see hsc's features (compiler/Cargo.toml)" >&2
    exit 1
fi
echo "== the hsc library without its default features (cuda, cli)"
cargo check --locked -p hsc --no-default-features --lib
echo "== NVRTC for the CUDA backend's PTX test (the nvidia-cuda-nvrtc wheel, into .ci/nvrtc)"
nvrtc=".ci/nvrtc/nvidia/cu13/lib/libnvrtc.so.13"
if [ ! -e "$nvrtc" ]; then
    python3 -m pip install --quiet --no-deps --target .ci/nvrtc "nvidia-cuda-nvrtc==13.0.88" \
        || echo "could not install it (no pip?): the PTX test will say it skipped"
fi
if [ -e "$nvrtc" ]; then
    export HSC_NVRTC="$PWD/$nvrtc"
fi
echo "== cargo test (all but the long randomised tests)"
cargo test --workspace --locked -- --skip never_panic --skip on_random_models --skip agrees_with_the_interpreter \
    --skip agree_with_the_interpreter --skip compiles_to_ptx
echo "== randomised tests (they print how many inputs they tried)"
cargo test -p hsc --locked --test fuzz_front_end --test symbolic_fd --test passes_random -- --nocapture --test-threads 2
echo "== the Cranelift backend against the interpreter (every example and 200 random models, JIT and AOT)"
cargo test -p hsc --locked --test backend_cranelift -- --nocapture --test-threads 2
echo "== the C backend against the interpreter (every example and 120 random models with each C"
echo "   compiler here: GCC, Clang)"
cargo test -p hsc --locked --test backend_c -- agree --nocapture --test-threads 2
echo "== the CUDA backend: every example to PTX with NVRTC; the CUDA C built for the host (blocks of"
echo "   threads, real barriers) against the interpreter on every example and 40 random models; the GPU"
echo "   itself where there is one"
cargo test -p hsc --locked --test backend_cuda -- --nocapture --test-threads 2
echo "== a crate that compiles a model in its build.rs and links the kernels (examples/embed)"
cargo run --locked -q -p hsc-example-embed
echo "== against the reference NumPy implementation (../shared/spec/rhel_reference.py)"
if python3 -c "import numpy" 2>/dev/null; then
    dump="$(mktemp -d)"
    cargo run --locked -q -p hsc -- gradcheck examples/rhel_reference.ham --steps 200 --dump "$dump" >/dev/null
    python3 scripts/check_reference.py "$dump"
    rm -rf "$dump"
else
    echo "skipped: python3 has no numpy (CI installs it; locally: pip install numpy)"
fi
echo "== a checkpoint of hsc train read from Python (safetensors)"
if python3 -c "import numpy, safetensors" 2>/dev/null; then
    run="$(mktemp -d)"
    cargo run --locked -q -p hsc -- train examples/nonlin_hru.ham -D P=8 -D N=4 --hidden 8 --epochs 2 \
        --data train/tests/data/Ragged --out "$run/run" >/dev/null
    python3 scripts/check_checkpoint.py "$run/run"
    rm -rf "$run"
else
    echo "skipped: python3 has no numpy and safetensors (CI installs them; locally: pip install numpy safetensors)"
fi
echo "== hsc from Python (python/): its Rust formatted and linted, the wheel built as the README's"
echo "   install command builds it, installed into a fresh virtual environment where a gradient runs,"
echo "   then the module's tests (pytest: against the CLI, plain JAX and torch.autograd.gradcheck)"
cargo fmt --manifest-path python/Cargo.toml -- --check
# The Python crate is a workspace of its own; the workspace's target folder shares what both build.
export CARGO_TARGET_DIR="$PWD/target"
cargo clippy --manifest-path python/Cargo.toml --all-targets --locked -- -D warnings
if python3 -c "import numpy, pytest" 2>/dev/null; then
    repo="$PWD"
    work="$(mktemp -d)"
    python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" ./python
    python3 -m venv "$work/fresh"
    "$work/fresh/bin/pip" install --quiet "$work"/dist/hsc-*.whl
    (cd "$work" && fresh/bin/python -c "
import hsc, numpy as np
m = hsc.load('$repo/examples/nonlin_hru.ham', dims={'P': 8, 'N': 3})
g = m.rhel_grad(m.init(0), {'u': np.ones((2, 20, 3))}, cotangents={'q': np.ones((2, 20, 8))})
print('a fresh virtual environment: hsc', hsc.__version__, 'on', m.backend, '- RHEL dL/dalpha =', g['params']['alpha'])")
    # The tests run with python3's own packages (JAX, PyTorch), the wheel unpacked beside them.
    python3 -m pip install --quiet --no-deps --target "$work/site" "$work"/dist/hsc-*.whl
    missing="$(python3 -c "import importlib.util as u; print(' '.join(m for m in ('jax', 'torch') if not u.find_spec(m)))")"
    if [ -n "$missing" ] && [ -n "${HSC_REQUIRE_PYTHON_TESTS:-}" ]; then
        echo "the Python tests need $missing (.ci/run installs them)" >&2
        exit 1
    fi
    (cd "$work" && PYTHONPATH="$work/site" HSC_BIN="$repo/target/debug/hsc" \
        python3 -m pytest -q -rs -p no:cacheprovider "$repo/python/tests")
    rm -rf "$work"
else
    echo "skipped: python3 has no numpy and pytest (CI installs them; locally: pip install numpy pytest jax torch)"
fi
