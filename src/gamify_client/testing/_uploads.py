"""The files that task submissions upload, kept in a temporary directory of one backend.

The real service's multer writes to ``uploads/`` under its working directory, which does not
exist, so every upload fails (defect ``upload_dir``). Fixed, each backend has a folder of its
own, made on the first upload and removed when the backend closes (or is collected), and
``GET /uploads/<name>`` serves what it holds.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
from datetime import datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadFolder:
    """A backend's uploaded files: a temporary directory made on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    def _path(self) -> Path:
        with self._lock:
            if self._directory is None:
                self._directory = tempfile.TemporaryDirectory(prefix="gamify-uploads-")
            return Path(self._directory.name)

    def store(self, filename: str, content: bytes, now: datetime) -> str:
        """Keep ``content`` and return the name it is served under: the upload time in
        milliseconds, a random number and the original name, as multer names it (without
        anything that could leave the folder)."""
        original = _UNSAFE.sub("_", Path(filename.replace("\\", "/")).name).lstrip(".") or "file"
        name = f"{int(now.timestamp() * 1000)}-{secrets.randbelow(10**9)}-{original}"
        (self._path() / name).write_bytes(content)
        return name

    def read(self, name: str) -> bytes | None:
        """The content stored under ``name``, or None (also for a name that is not one)."""
        with self._lock:
            directory = self._directory
        if directory is None or name != Path(name).name or name.startswith("."):
            return None
        path = Path(directory.name) / name
        return path.read_bytes() if path.is_file() else None

    def close(self) -> None:
        """Remove the folder and everything in it."""
        with self._lock:
            directory, self._directory = self._directory, None
        if directory is not None:
            directory.cleanup()
