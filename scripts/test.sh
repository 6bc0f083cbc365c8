#!/usr/bin/env bash
# One command: install what the tests need (system packages included) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh test
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check xrayviewer tests bench scripts
.venv/bin/lint-imports --no-cache  # layer contracts in pyproject.toml (README: Architecture)
.venv/bin/mypy  # type-checks the package (files listed in pyproject.toml)
exec .venv/bin/python -m pytest -q "$@"
