# shellcheck shell=bash
# The Python venv with Confluent's client (confluent-kafka, fastavro and the
# schema registry client), for the interop test: a client nobody here wrote.
# Sourced by common.sh. stack/bootstrap builds it; tests ask for its python
# with `source stack/lib/common.sh && interop_python`.

PYTHON_REQUIREMENTS="$STACK_LIB_DIR/python-requirements.txt"
PYTHON_VENV="$CACHE_DIR/python-venv"
# Holds the requirements file's hash once every package is installed: an
# interrupted install leaves no marker, a changed pin rebuilds the venv.
PYTHON_VENV_MARKER="$PYTHON_VENV/.tideline-complete"

# Debian's python3 first: a pyenv or other python earlier on PATH may lack venv
# or be a version the pinned wheels do not cover.
system_python() {
  if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; return 0; fi
  command -v python3 2>/dev/null
}

# Can the system python make a venv with pip? (Debian splits ensurepip into python3-venv.)
system_python_has_venv() {
  local python
  python="$(system_python)" || return 1
  "$python" -c 'import ensurepip, venv' >/dev/null 2>&1
}

python_requirements_hash() {
  sha256sum "$PYTHON_REQUIREMENTS" | cut -d' ' -f1
}

python_venv_ready() {
  [[ -x "$PYTHON_VENV/bin/python" && -f "$PYTHON_VENV_MARKER" &&
    "$(<"$PYTHON_VENV_MARKER")" == "$(python_requirements_hash)" ]]
}

# Prints the venv's python, or fails naming stack/bootstrap.
interop_python() {
  python_venv_ready ||
    die "the Python venv with confluent-kafka ($PYTHON_VENV) is missing or outdated: run stack/bootstrap"
  echo "$PYTHON_VENV/bin/python"
}
