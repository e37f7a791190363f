# Shared set-up for scripts/demo and scripts/test: uv (installed with pip when missing) and the venv.
export UV_PYTHON_DOWNLOADS=never
export NEMO_TELEMETRY_ENABLED=false
if ! command -v uv >/dev/null 2>&1; then
  echo "uv not found: installing it with pip" >&2
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
