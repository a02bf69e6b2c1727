# Shared set-up for bin/demo and bin/test: sourced, not run.
# Creates .venv with everything in requirements.txt when it is missing or
# when requirements.txt changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "== Creating virtualenv in .venv"
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.requirements.sha"
    local sum
    sum="$(cat requirements.txt addons/*/pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        echo "== Installing Python packages (requirements.txt)"
        mkdir -p "$ROOT/var/log"
        if ! "$VENV/bin/pip" install -r requirements.txt \
                > "$ROOT/var/log/pip.log" 2>&1; then
            tail -30 "$ROOT/var/log/pip.log" >&2
            echo "pip install failed: see var/log/pip.log" >&2
            exit 1
        fi
        echo "$sum" > "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}

ensure_sao() {
    # The sao web client, version 8.0, from npm, served by trytond.
    local www="$ROOT/var/sao/www"
    if [ ! -f "$www/dist/tryton-sao.js" ] || [ ! -d "$www/node_modules/jquery" ]; then
        command -v npm >/dev/null || { echo "npm is required (Node.js)" >&2; exit 1; }
        echo "== Installing the sao 8.0 web client from npm"
        rm -rf "$ROOT/var/sao" && mkdir -p "$ROOT/var/sao"
        ( cd "$ROOT/var/sao" \
            && npm pack --silent tryton-sao@8.0 >/dev/null \
            && tar xzf tryton-sao-*.tgz && mv package www && rm tryton-sao-*.tgz \
            && cd www && npm install --silent --omit=dev --legacy-peer-deps \
                --no-audit --no-fund >/dev/null )
    fi
}
