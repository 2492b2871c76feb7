#!/usr/bin/env bash
# The project's one test command (README, .ci/run): formatting, lints, then every test of the
# workspace: unit, CLI, snapshot and fuzz. Run it from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
