#!/usr/bin/env bash
# Renders a kbd-sim HTML report to a PNG with headless Chromium, offline.
#
#   tools/render_report.sh REPORT.html OUT.png [WIDTH [HEIGHT]]
#
# Installs Chromium with apt-get if it is missing (idempotent). The page is rendered with
# networking disabled (a private network namespace via `unshare -n` when the kernel allows
# it, and a proxy that cannot connect in any case), which shows the report is self-contained.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH [HEIGHT]]" >&2
    exit 64
fi
report=$1
out=$2
width=${3:-1200}
height=${4:-3000}

if [[ ! -f $report ]]; then
    echo "$0: no report at $report (make one with: kbd-sim report RUN_ID… --out $report)" >&2
    exit 66
fi

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
    echo "installing chromium (apt-get)…" >&2
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    browser=$(command -v chromium)
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
abs_out=$(mkdir -p "$(dirname "$out")" && cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

args=(
    --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
    --user-data-dir="$profile" --proxy-server=127.0.0.1:9 --virtual-time-budget=5000
    --window-size="$width,$height" --screenshot="$abs_out" "file://$abs_report"
)

offline=()
if unshare -n true 2>/dev/null; then
    offline=(unshare -n)
elif unshare -r -n true 2>/dev/null; then
    offline=(unshare -r -n)
else
    echo "$0: unshare -n is not permitted here; rendering with an unreachable proxy instead" >&2
fi

"${offline[@]}" "$browser" "${args[@]}" >/dev/null 2>"$profile/chromium.log" || {
    cat "$profile/chromium.log" >&2
    exit 1
}
[[ -s $abs_out ]] || { echo "$0: chromium wrote no screenshot" >&2; cat "$profile/chromium.log" >&2; exit 1; }
echo "$abs_out"
