# Shared by scripts/test and scripts/demo: a virtual environment with the project
# installed from the pinned constraints (reinstalled only when they change).
PYTHON="${PYTHON:-python3}"
VENV="${CLAIMS_VENV:-.venv}"

# Each step's name and start (seconds since the script began), for step_times.
STEP_NAMES=()
STEP_STARTS=()
step() {
  STEP_NAMES+=("$*")
  STEP_STARTS+=("$SECONDS")
  printf '\n==> %s (at %ss)\n' "$*" "$SECONDS"
}
# How long each step took, printed last so a truncated CI log still shows it.
step_times() {
  local i end
  printf '\n==> time per step (total %ss)\n' "$SECONDS"
  for i in "${!STEP_NAMES[@]}"; do
    end="${STEP_STARTS[$((i + 1))]:-$SECONDS}"
    printf '  %5ss  %s\n' "$((end - STEP_STARTS[i]))" "${STEP_NAMES[$i]}"
  done
}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed"
want="$(cat constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "installing the project and its development tools into $VENV"
  # dependency groups (PEP 735) need pip 25.1 or newer: the pinned pip first
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt --group dev -e .
  echo "$want" > "$stamp"
fi
