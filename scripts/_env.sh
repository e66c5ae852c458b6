# Sourced by scripts/serve and scripts/test: finds (or installs) uv and syncs the
# locked environment into .venv. Needs only Python 3.11+ and network access to PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION="0.13.8"
if command -v uv >/dev/null 2>&1; then
  UV="$(command -v uv)"
elif [ -x "$ROOT/.tools/bin/uv" ]; then
  UV="$ROOT/.tools/bin/uv"
else
  echo "==> installing uv $UV_VERSION into .tools/ (first run only)" >&2
  python3 -m venv "$ROOT/.tools"
  "$ROOT/.tools/bin/pip" install --quiet "uv==$UV_VERSION"
  UV="$ROOT/.tools/bin/uv"
fi
export UV
# Bytecode compiled at install: this machine sets PYTHONDONTWRITEBYTECODE, and without
# .pyc files every process (each worker, each CLI call) recompiles its imports,
# several CPU-seconds per start.
"$UV" sync --frozen --quiet --compile-bytecode
export PATH="$ROOT/.venv/bin:$PATH"
