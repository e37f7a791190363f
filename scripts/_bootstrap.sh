# Shared set-up for scripts/demo and scripts/test: uv (installed with pip when missing) and the venv.
export UV_PYTHON_DOWNLOADS=never
export NEMO_TELEMETRY_ENABLED=false
# A user install of uv lands in ~/.local/bin, which a fresh shell may not have on PATH yet.
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "uv not found: installing it with pip" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
