#!/usr/bin/env bash
# Outside-In developer commands. Each works on a fresh machine from nothing:
#   scripts/dev.sh setup   create .venv (if missing), install the package + dev tools, register the kernel
#   scripts/dev.sh demo    setup, then run the demo client end to end and print where the report is
#   scripts/dev.sh test    setup (and Debian's chromium for the browser tests), then run the test
#                          suite (extra arguments go to pytest)
#   scripts/dev.sh lab     setup, then open JupyterLab with the project's kernel
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
KERNEL=outside-in

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating the virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local want have=""
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  [ -f "$VENV/.installed" ] && have=$(cat "$VENV/.installed")
  if [ "$want" != "$have" ] || ! "$VENV/bin/python" -c "import analysis" 2>/dev/null; then
    echo "Installing Outside-In and its dependencies into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
    echo "$want" > "$VENV/.installed"
  fi
  # The report notebook runs in this kernel; registering it inside the venv keeps clones apart.
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL" \
    --display-name "Outside-In" >/dev/null
}

ensure_chromium() {
  # The browser tests open the report in Debian's headless Chromium.
  command -v chromium >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || $sudo true 2>/dev/null; }; then
    echo "Installing Debian's chromium for the browser tests"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is not installed and cannot be installed here: the browser tests will be skipped" >&2
  fi
}

case "${1:-}" in
  setup) setup ;;
  demo)
    setup
    "$VENV/bin/outside-in" run params/demo.yaml
    echo "Open reports/demo/report.html in a browser."
    ;;
  test)
    setup
    ensure_chromium
    shift
    "$VENV/bin/python" -m pytest "$@"
    ;;
  lab)
    setup
    shift
    extra=()
    [ "$(id -u)" = 0 ] && extra+=(--allow-root)  # Jupyter refuses root unless told
    exec "$VENV/bin/jupyter" lab "${extra[@]}" "$@" notebooks/gap_report.ipynb
    ;;
  *)
    echo "usage: scripts/dev.sh setup|demo|test|lab" >&2
    exit 2
    ;;
esac
