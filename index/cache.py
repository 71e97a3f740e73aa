"""Built plan versions kept on disk, so a new process answers without rebuilding.

Building a version tags every plan text and thesaurus word (about a quarter of a
second, and most of the tagger dictionary read into memory); a short-lived
`python -m bot ask` would spend most of its life on it. A built bundle is pickled
under a key made of the plan's content and this code's own fingerprint (the index
package's source, the tagger and its dictionary), so a changed plan or a new
release never reads an old build. The cache is a convenience: when its folder
cannot be written or a file cannot be read, the bundle is simply built.

`PLANBOT_CACHE_DIR` names the folder (default `$XDG_CACHE_HOME/asaka-planbot`, that
is `~/.cache/asaka-planbot`); set it to an empty value to switch the cache off. Each
plan version and each release adds a file of about 1.5 MB, so the folder keeps the
KEEP most recently used builds and removes the rest when it writes a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["cache_dir", "cached"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
KEEP = 32  # builds kept: every version a rollback may need, across a few releases
_PACKAGE = Path(__file__).parent


def cache_dir() -> Path | None:
    """The cache folder, or None when switched off."""
    configured = os.environ.get("PLANBOT_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asaka-planbot"


def _fingerprint() -> str:
    """This code's identity: the index package's source, the tagger and its dictionary."""
    hasher = hashlib.sha256(sys.version.encode())
    for name in ("fugashi", "unidic-lite", "rank-bm25", "numpy"):
        hasher.update(f"{name}={importlib.metadata.version(name)}".encode())
    for path in sorted(_PACKAGE.glob("*.py")):
        hasher.update(path.name.encode() + b"\0" + path.read_bytes())
    return hasher.hexdigest()


# Read when the package is imported (this is its first module), not at the first build: a process
# that outlives a deploy would otherwise file a build of its old code under the new code's key.
_FINGERPRINT = _fingerprint()


def cached(digest: str, build: Callable[[], T]) -> T:
    """The value built for content `digest` by this code: from the cache, or built and stored."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / f"bundle-{hashlib.sha256((digest + _FINGERPRINT).encode()).hexdigest()[:32]}.pickle"
    try:
        with path.open("rb") as file:
            value: T = pickle.load(file)
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be removed
        return value
    except FileNotFoundError:
        pass
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as error:
        logger.warning("ignoring unreadable plan cache %s: %s", path, error)
    value = build()
    _store(path, value)
    return value


def _store(path: Path, value: object) -> None:
    """Write whole or not at all (a reader meanwhile sees the old file or none)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as file:
            temporary = Path(file.name)
            try:
                pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
            except pickle.PicklingError:
                temporary.unlink()
                raise
        os.replace(temporary, path)
    except (OSError, pickle.PicklingError) as error:
        logger.info("plan cache not written to %s: %s", path.parent, error)
        return
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Remove all but the KEEP most recently used builds (another process may remove them too)."""
    builds = []
    for build in folder.glob("bundle-*.pickle"):
        with contextlib.suppress(OSError):
            builds.append((build.stat().st_mtime, build))
    for _used, build in sorted(builds, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            build.unlink()
