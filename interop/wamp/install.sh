#!/usr/bin/env bash
# Idempotent: creates interop/.venv-wamp (if missing) and installs the pinned autobahn-python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../.venv-wamp"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# Keep the venv out of git without touching any shared .gitignore.
[ -f "$venv/.gitignore" ] || echo '*' > "$venv/.gitignore"
if ! "$venv/bin/python" -c 'import autobahn, sys; sys.exit(0 if autobahn.__version__ == "26.10.2" else 1)' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
fi
"$venv/bin/python" -c 'import autobahn; print("autobahn", autobahn.__version__)'
