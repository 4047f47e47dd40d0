#!/usr/bin/env bash
# The test suite: offline, CPU only. Installs requirements into .venv on first use. Extra args go to pytest.
set -euo pipefail
EXTRAS="${EXTRAS:-train,test}"
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"
python -m pytest -q "$@"
