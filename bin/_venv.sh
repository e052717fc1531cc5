# Sourced by bin/run and bin/test: make .venv and install Leadflow into it when
# pyproject.toml changed since the last install. Needs only Python 3.11+.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$PYTHON" --version)…"
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$("$PYTHON" -c 'import hashlib,sys;print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:16])')-${LEADFLOW_EXTRAS:-none}"
if [ ! -f "$stamp" ]; then
    echo "Installing Leadflow and its dependencies into .venv…"
    .venv/bin/python -m pip install --quiet --upgrade pip
    if [ -n "${LEADFLOW_EXTRAS:-}" ]; then
        .venv/bin/python -m pip install --quiet -e ".[${LEADFLOW_EXTRAS}]"
    else
        .venv/bin/python -m pip install --quiet -e .
    fi
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
