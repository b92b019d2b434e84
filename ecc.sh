#!/usr/bin/env bash
# Set up (idempotently) and run pyomo_ecc from a fresh clone.
#   bash ecc.sh run [ARGS]   solve the embedded default case (or: pyomo-ecc run ARGS)
#   bash ecc.sh test [ARGS]  install what the tests need and run them (ARGS go to pytest)
#   bash ecc.sh bench NAME   run benchmarks/NAME.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${ECC_VENV:-$here/.venv}"
py="$venv/bin/python"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PKG...: install the Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "ecc.sh: installing Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null  # env: sudo drops it
}

ensure_venv() {
  if [ ! -x "$py" ]; then
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  fi
}

ensure_package() {  # ensure_package EXTRAS: editable install, redone only when setup.cfg changes
  local extras="$1" stamp="$venv/.ecc-installed-$1"
  local want; want="$(cat "$here/setup.cfg" "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$py" -m pip install -q --upgrade pip >/dev/null
    "$py" -m pip install -q -e "$here[$extras]"
    echo "$want" > "$stamp"
  fi
}

ensure_ipopt() {  # Ipopt through Pyomo's cyipopt interface needs PyNumero's ASL library
  if ! "$py" -c "from pyomo.contrib.pynumero.asl import AmplInterface as A; raise SystemExit(0 if A.available() else 1)" 2>/dev/null; then
    apt_install libamplsolver-dev cmake g++ make
    # where Debian put the ASL (the library directory depends on the architecture)
    local lib inc
    lib="$(dpkg -L libamplsolver-dev | grep '/libamplsolver\.so$' | tail -n1)"
    inc="$(dirname "$(dpkg -L libamplsolver-dev | grep '/asl\.h$' | tail -n1)")"
    ECC_ASL_LIB="$lib" ECC_ASL_INC="$inc" "$py" - <<'PY'
import os
from pyomo.contrib.pynumero.build import build_pynumero
build_pynumero(['-DASL_INCLUDE_DIR=' + os.environ['ECC_ASL_INC'],
                '-DASL_LIBRARY=' + os.environ['ECC_ASL_LIB']])
PY
  fi
}

cmd="${1:-run}"; shift || true
case "$cmd" in
  run)
    ensure_venv; ensure_package plot
    exec "$venv/bin/pyomo-ecc" run "$@" ;;
  test)
    ensure_venv; ensure_package test; ensure_ipopt
    cd "$here"
    exec "$py" -m pytest "$@" ;;
  bench)
    ensure_venv; ensure_package "test,bench"; ensure_ipopt
    name="${1:?usage: bash ecc.sh bench NAME}"; shift
    exec "$py" "$here/benchmarks/$name.py" "$@" ;;
  *) echo "usage: bash ecc.sh run|test|bench [ARGS]" >&2; exit 2 ;;
esac
