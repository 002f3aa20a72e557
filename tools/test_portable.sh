#!/usr/bin/env bash
# make test-portable: what a user on another machine meets. The committed repository is cloned into a fresh
# directory under /tmp, set up there with `make setup`, and its nbval run of every chapter and the grader
# tests are run offline with another CPU kernel set:
#   ATEN_CPU_CAPABILITY=default   PyTorch's plain vector kernels instead of AVX2/AVX-512 ones
#   MKL_CBWR=COMPATIBLE           MKL's conditional numerical reproducibility (no CPU-specific code paths)
#   torch.backends.mkldnn off     set in every kernel by an IPython start-up file
# so that outputs tied to this CPU or to this clone's path fail here before users see them.
# Extra arguments go to pytest (e.g. `make test-portable ARGS="-k 04_nade"`).
set -euo pipefail
source_repo=$(cd "$(dirname "$0")/.." && pwd)
mirror=${ARLIB_DATA_MIRROR:?point ARLIB_DATA_MIRROR at the offline data mirror, e.g. ../shared/data}
where=$(mktemp -d /tmp/arlib-portable.XXXXXX)
echo "clone: $where/repo"
git clone --quiet "$source_repo" "$where/repo"
cd "$where/repo"
make --no-print-directory setup

startup="$where/ipython/profile_default/startup"
mkdir -p "$startup"
printf 'import torch\ntorch.backends.mkldnn.enabled = False\n' > "$startup/00-no-mkldnn.py"

tests=(env ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE IPYTHONDIR="$where/ipython" TQDM_DISABLE=1
       ARLIB_DATA_MIRROR="$mirror" .venv/bin/python -m pytest chapters tests/test_grading.py "$@")
status=0
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  # no network at all, loopback up for the Jupyter kernels
  unshare -n bash -c 'ip link set lo up && exec "$@"' portable "${tests[@]}" || status=$?
else
  echo "(network left on: not root or no network namespaces; the tests' own guard still refuses it)"
  "${tests[@]}" || status=$?
fi
if [ "$status" = 0 ]; then
  rm -rf "$where"
  echo "portable run passed"
else
  echo "portable run failed (status $status); the clone is kept in $where/repo"
fi
exit "$status"
