#!/usr/bin/env bash
# Create one virtual environment per peer under benchmarks/peers/.venvs/ (never tsgan's own .venv).
# Usage: bash benchmarks/peers/setup.sh [deepod] [pyod] [orion]   (default: all three)
# Each venv gets a pinned torch first (the CPU build 2.13.0 where the peer allows it, so pip never
# resolves a CUDA build on its own), then the peer, then tsgan itself without its dependencies plus the
# few that tsgan.datasets/evaluation/io need.
# pip's output goes to .venvs/<peer>.log and the installed versions to .venvs/<peer>.freeze.txt.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"

make_venv() {  # make_venv NAME REQUIREMENT... : one `pip install` per requirement, in order
    local name="$1"; shift
    local venv="$here/.venvs/$name" log="$here/.venvs/$name.log"
    mkdir -p "$here/.venvs"
    "$python" -m venv "$venv" || return 1
    (
        set -e
        "$venv/bin/pip" install --upgrade pip
        for requirement in "$@"; do "$venv/bin/pip" install $requirement; done  # unquoted: may hold flags
        "$venv/bin/pip" install --no-deps -e "$repo"
        "$venv/bin/pip" install numpy polars pyarrow scipy
    ) >"$log" 2>&1
    local rc=$?
    "$venv/bin/pip" freeze --exclude-editable >"$here/.venvs/$name.freeze.txt" 2>/dev/null
    echo "$name: exit $rc (log: $log)"
    return $rc
}

peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(deepod pyod orion)
status=0
for peer in "${peers[@]}"; do
    case "$peer" in
        # deepod 0.4.1 pins torch<1.13.1 (a CUDA build of ~2 GB): install it without dependencies on
        # the CPU torch and add the others it declares (numpy, scipy, scikit-learn, pandas, tqdm).
        deepod) make_venv deepod torch==2.13.0 "--no-deps deepod==0.4.1" "scikit-learn pandas tqdm" || status=1 ;;
        pyod) make_venv pyod torch==2.13.0 pyod==3.6.7 || status=1 ;;
        # orion-ml 0.7.1 needs torch<2.6 installed although TadGAN runs on TensorFlow: mlblocks loads
        # Orion's primitives through pkg_resources entry points, which check every declared requirement
        # recursively. PyPI has no CPU build of torch<2.6, so this pulls torch 2.5.1 with its CUDA
        # libraries (~3 GB). scikit-learn<1.6: pyts<0.14 passes `force_all_finite`, removed in 1.8.
        # setuptools<81 keeps pkg_resources, which mlblocks imports.
        orion) make_venv orion torch==2.5.1 "orion-ml==0.7.1 scikit-learn<1.6 setuptools<81" || status=1 ;;
        *) echo "unknown peer $peer (known: deepod, pyod, orion)"; status=2 ;;
    esac
done
exit $status
