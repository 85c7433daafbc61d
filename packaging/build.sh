#!/usr/bin/env bash
# Build the Linux one-folder bundle from a clean checkout:
#     packaging/build.sh
# makes a virtual environment under build/venv (the project and PyInstaller, pinned),
# then dist/tradeoff-studio/ with the programs `tradeoff-studio` and `tradeoff`.
# Nothing outside build/ and dist/ is written.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv build/venv
build/venv/bin/pip install -q -e . "pyinstaller==6.22.3"
build/venv/bin/pyinstaller --noconfirm --clean \
    --distpath dist --workpath build/pyinstaller packaging/tradeoff-studio.spec
echo "built: dist/tradeoff-studio/ ($(du -sh dist/tradeoff-studio | cut -f1))"
