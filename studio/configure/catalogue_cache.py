"""The catalogue as the engine last listed it, kept in the user cache folder.

Asking the engine (`tradeoff list --json`) means a child process that imports torch and
every lab: two seconds on an idle machine, far more on a loaded one. The studio lists
the cached answer at once and asks the engine anyway, in the background.

The cache is keyed by the installed version and a fingerprint of the files that declare
the catalogue (path, size and modification time of every `.py` under `engine/labs`, and
`engine/registry.py` and `engine/params.py`), taken without importing any of them. A key
that does not match, a file that is not JSON, or JSON of another shape is no cache at
all: it is never trusted, never executed, and the next answer of the engine replaces it
(written to a temporary file, then moved over the old one).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import engine

CACHE_FORMAT = "tradeoff-studio catalogue cache"
CACHE_FORMAT_VERSION = 1
CACHE_FILE = "catalogue.json"
# A catalogue is tens of kilobytes; a file far larger is not ours to parse.
MAX_CACHE_BYTES = 16 * 2**20
ENGINE_FOLDER = Path(engine.__file__).resolve().parent
DECLARING_FILES = ("registry.py", "params.py")


def default_cache_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("tradeoff-studio", appauthor=False)) / CACHE_FILE


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradeoff-studio")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


def registry_fingerprint(engine_folder: Path = ENGINE_FOLDER) -> str:
    """A digest of the path, size and mtime of every file that declares the catalogue."""
    files = [engine_folder / name for name in DECLARING_FILES]
    files += sorted((engine_folder / "labs").rglob("*.py"))
    lines = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            lines.append(f"{path.relative_to(engine_folder).as_posix()} missing")
            continue
        lines.append(
            f"{path.relative_to(engine_folder).as_posix()} {stat.st_size} {stat.st_mtime_ns}"
        )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


class CatalogueCache:
    """One cache file; `read()` gives the cached `tradeoff list --json` document or None."""

    def __init__(self, path: Path | None = None, engine_folder: Path = ENGINE_FOLDER):
        self.path = Path(path) if path is not None else default_cache_path()
        self.engine_folder = engine_folder

    def key(self) -> dict:
        return {
            "version": installed_version(),
            "engine": str(self.engine_folder),
            "files": registry_fingerprint(self.engine_folder),
        }

    def read(self, key: dict | None = None) -> list | None:
        """The cached document when the file is ours and its key is `key` (default: now's)."""
        key = self.key() if key is None else key
        try:
            with open(self.path, "rb") as file:
                data = file.read(MAX_CACHE_BYTES + 1)
            if len(data) > MAX_CACHE_BYTES:
                return None
            document = json.loads(data)
        except (OSError, ValueError, RecursionError):
            # Missing, unreadable, not UTF-8, not JSON, or nested past the parser's depth.
            return None
        if (
            not isinstance(document, dict)
            or document.get("format") != CACHE_FORMAT
            or document.get("format_version") != CACHE_FORMAT_VERSION
            or document.get("key") != key
        ):
            return None
        catalogue = document.get("catalogue")
        return catalogue if isinstance(catalogue, list) else None

    def write(self, catalogue: list, key: dict) -> bool:
        """Store the engine's answer under `key`, atomically; False when it could not be written.

        A cache that cannot be written only costs the next start its speed, so the
        failure is not the user's concern.
        """
        text = json.dumps(
            {
                "format": CACHE_FORMAT,
                "format_version": CACHE_FORMAT_VERSION,
                "key": key,
                "catalogue": catalogue,
            }
        )
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w",
                encoding="utf-8",
                dir=self.path.parent,
                prefix=".catalogue-",
                suffix=".tmp",
                delete=False,
            ) as file:
                temporary = file.name
                file.write(text)
            os.replace(temporary, self.path)
        except (OSError, ValueError):
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
            return False
        return True
