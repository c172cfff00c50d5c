#!/usr/bin/env bash
# Make .venv hold the project (editable) with the given extras: `scripts/ensure_env.sh devstack,client`.
#
# Installs with uv when it can be had (on PATH, or from PyPI into .venv: about 3 s, repaid many
# times over), with pip otherwise or when USE_UV=0. Measured on a 2-core machine with empty
# caches, creating the environment and installing the devstack and client extras took 23-33 s
# with venv + pip and 6-8 s with uv (README, "First run"). Each step says what it does first.
#
# The dependencies are installed with their bytecode (pip's default; uv's --compile-bytecode):
# every process the stack and the tests start imports them, and where nothing may write it
# (PYTHONDONTWRITEBYTECODE, a read-only image) each start would compile Flask, psycopg and the
# rest again: 0.3-0.5 s a process on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:?usage: ensure_env.sh EXTRAS}
venv=.venv
python=${PYTHON:-python3}
say() { printf '[setup] %s\n' "$*"; }

find_uv() {
  [ "${USE_UV:-1}" = 0 ] && return 1
  if [ -x "$venv/bin/uv" ]; then echo "$venv/bin/uv"; return 0; fi
  command -v uv
}

if [ ! -x "$venv/bin/python" ]; then
  say "creating the environment in $venv"
  if uv=$(find_uv); then
    # With pip (--seed): scripts/build_lambda_layer.py asks pip for the runtime's wheels.
    "$uv" venv --quiet --seed --python "$python" "$venv"
  elif [ "${USE_UV:-1}" != 0 ] && "$python" -m pip --python "$python" --version >/dev/null 2>&1; then
    # Without its own pip (5 s less); the interpreter's pip puts uv into it.
    "$python" -m venv --without-pip "$venv"
    say "installing uv from PyPI into $venv (faster installs)"
    "$python" -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check uv \
      || say "uv could not be installed; using pip"
  else
    "$python" -m venv "$venv"
  fi
fi

if [ "${USE_UV:-1}" != 0 ] && ! find_uv >/dev/null && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  say "installing uv from PyPI into $venv (faster installs)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv \
    || say "uv could not be installed; using pip"
fi

if uv=$(find_uv); then
  say "installing supajobs[$extras] with uv"
  "$uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" -e ".[$extras]"
else
  say "installing supajobs[$extras] with pip (slower; uv is used when present)"
  # A venv made without pip (by uv, or for uv) gets one.
  "$venv/bin/python" -m pip --version >/dev/null 2>&1 || "$venv/bin/python" -m ensurepip --upgrade >/dev/null
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
fi

# The project's own packages too (editable: read from the checkout). A file edited later is
# compiled on import again, as Python checks each cached file against its source.
"$venv/bin/python" -m compileall -q -j0 functions devstack client >/dev/null
