# Sourced by the other scripts: a project virtualenv in .venv with the given extras installed.
set -o errexit -o pipefail -o nounset
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "parking-hub needs Python 3.11 or newer; set PYTHON=/path/to/python3.11 and run this again" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
spec="."
if [ -n "${1:-}" ]; then spec=".[$1]"; fi
echo "==> installing parking-hub${1:+[$1]} into .venv (first time: a minute or two)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --editable "$spec"
