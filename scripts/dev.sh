#!/usr/bin/env bash
# Outside-In developer commands. Each works on a fresh machine from nothing:
#   scripts/dev.sh setup   create .venv (if missing), install the package + dev tools, register the kernel
#   scripts/dev.sh demo    setup, then run the demo client end to end and print where the report is
#   scripts/dev.sh test    setup (and Debian's chromium for the browser tests), then run the test
#                          suite (extra arguments go to pytest)
#   scripts/dev.sh lab     setup, then open JupyterLab with the project's kernel (extra arguments
#                          go to jupyter lab, e.g. --no-browser --port 8899)
#   scripts/dev.sh lock    refresh requirements.lock from pyproject.toml (uv, in .venv-tools)
#   scripts/dev.sh lowest  install the lowest versions pyproject.toml allows into .venv-lowest and
#                          run the tests that need no browser there (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
KERNEL=outside-in
LOCK=requirements.lock
TOOLS=${TOOLS_VENV:-.venv-tools}  # uv, for lock and lowest (not part of the project's environment)
LOWEST=${LOWEST_VENV:-.venv-lowest}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating the virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local want have=""
  want=$(cat pyproject.toml "$LOCK" | sha256sum | cut -d' ' -f1)
  [ -f "$VENV/.installed" ] && have=$(cat "$VENV/.installed")
  if [ "$want" != "$have" ] || ! "$VENV/bin/python" -c "import analysis" 2>/dev/null; then
    echo "Installing Outside-In and its locked dependencies ($LOCK) into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # Exactly the versions the lock pins (the tested ones), then the package itself on top.
    "$VENV/bin/python" -m pip install --quiet -r "$LOCK"
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    echo "$want" > "$VENV/.installed"
  fi
  # The report notebook runs in this kernel; registering it inside the venv keeps clones apart.
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL" \
    --display-name "Outside-In" >/dev/null
}

tools() {
  # uv resolves for every supported Python at once (pip-compile resolves for this one only).
  if [ ! -x "$TOOLS/bin/uv" ]; then
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet uv
  fi
}

lock() {
  tools
  # --fork-strategy fewest: one version of a package for every Python where it can be, so the
  # versions tested here are the ones pinned for the other Pythons too.
  "$TOOLS/bin/uv" pip compile --quiet --universal --fork-strategy fewest --python-version 3.11 \
    --extra dev --extra cluster --custom-compile-command "make lock" pyproject.toml -o "$LOCK" "$@"
  echo "Wrote $LOCK; run make test, then commit it with pyproject.toml."
}

lowest() {
  tools
  local pins="$LOWEST/lowest.txt"
  # --seed: pip in the environment too (the plain-install test builds a wheel with it)
  if ! "$LOWEST/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$LOWEST"
    "$TOOLS/bin/uv" venv --quiet --seed --python "$PYTHON" "$LOWEST"
  fi
  "$TOOLS/bin/uv" pip compile --quiet --resolution lowest-direct --python "$LOWEST/bin/python" \
    --extra dev --extra cluster pyproject.toml -o "$pins"
  VIRTUAL_ENV="$LOWEST" "$TOOLS/bin/uv" pip sync --quiet "$pins"
  VIRTUAL_ENV="$LOWEST" "$TOOLS/bin/uv" pip install --quiet --no-deps -e .
  "$LOWEST/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL" \
    --display-name "Outside-In (lowest)" >/dev/null
  echo "Lowest versions allowed by pyproject.toml ($pins):"
  grep -E '^(pandas|numpy|scipy|pandera|pyarrow|openpyxl|pytest)==' "$pins" | tr '\n' ' '; echo
  # The browser and print tests need Chromium and take minutes; everything else runs.
  PATH="$LOWEST/bin:$PATH" "$LOWEST/bin/python" -m pytest -p no:cacheprovider \
    --ignore=tests/test_browser.py --ignore=tests/test_print.py "$@"
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
  lock)
    shift
    lock "$@"
    ;;
  lowest)
    shift
    lowest "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh setup|demo|test|lab|lock|lowest" >&2
    exit 2
    ;;
esac
