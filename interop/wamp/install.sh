#!/usr/bin/env bash
# Idempotent: creates interop/.venv-wamp (if missing) and installs the pinned autobahn-python,
# then installs autobahn-js into interop/wamp/js/node_modules from the committed lockfile.
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

# autobahn-js: `npm ci` from js/package-lock.json, skipped while node_modules holds an install of
# the same package.json + lockfile by the same Node (stamp file inside node_modules).
js="$here/js"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "install.sh: node and npm are needed for the autobahn-js interop (interop/wamp/js)" >&2
    exit 1
fi
stamp="$js/node_modules/.interop-install-stamp"
want="$(cat "$js/package.json" "$js/package-lock.json" | sha256sum | cut -d' ' -f1) node $(node --version)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    if ! (cd "$js" && timeout 600 npm ci --no-audit --no-fund --loglevel=error); then
        echo "install.sh: npm ci in interop/wamp/js FAILED (autobahn-js not installed)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
(cd "$js" && node -e 'console.log("autobahn-js", require("autobahn/package.json").version, "node", process.version)')
