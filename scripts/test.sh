#!/usr/bin/env bash
# The test command (README "Setup", and all that .ci/run calls): installs the C libraries
# kbd-sim links if they are missing, checks the formatting of every Swift file against the
# project's .swift-format, then runs the whole Swift Testing suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "swift format lint --strict (Sources, Tests)"
swift format lint --strict --recursive Sources Tests
swift test "$@"
