"""The webhook spool: one file per delivery, written durably by the receiver, read by the run.

    <spool>/incoming/   deliveries the receiver stored, not yet loaded
    <spool>/done/       deliveries whose events a run committed to the warehouse
    <spool>/quarantine/ files a run could not load, each beside `<name>.reason.txt`

A file holds the delivery's raw body, byte for byte. Its name carries what the body does not:
`20261130T035321.369123Z-s1796010800-8f3a9c2e1b4d6f70.json` = when the receiver stored it
(UTC, microseconds), `s` + the Unix time Lune signed it at (the `Lune-HMAC` timestamp), and a
random token. Names sort by arrival.

The spool is a local directory or an fsspec URL (`s3://bucket/lune-webhooks`, `gs://...`,
`memory://...`). Locally, a delivery is written to a hidden temporary file, fsynced, renamed
into place and the directory fsynced before the receiver answers 2xx, so an acknowledged
delivery survives a crash or a power cut. On an object store a file is one PUT, which the
store makes visible only complete, and durable once it returns.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import LuneConfigError

INCOMING = "incoming"
DONE = "done"
QUARANTINE = "quarantine"
REASON_SUFFIX = ".reason.txt"
_NAME = re.compile(r"(\d{8}T\d{6})\.(\d{6})Z-s(\d{1,12})-[0-9a-f]{16}\.json")
# a temporary file older than this was left by a receiver killed mid-write (never acknowledged,
# so Lune redelivers it): safe to remove
_STALE_TEMP_SECONDS = 900


class SpoolError(LuneConfigError):
    """The spool cannot be used; `str()` is one sentence."""


@dataclass(frozen=True, order=True)
class SpoolFile:
    """A stored delivery, known by its name."""

    name: str

    @property
    def received_at(self) -> datetime:
        match = _NAME.fullmatch(self.name)
        assert match is not None
        seconds = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return seconds.replace(microsecond=int(match.group(2)))

    @property
    def signed_at(self) -> datetime:
        match = _NAME.fullmatch(self.name)
        assert match is not None
        return datetime.fromtimestamp(int(match.group(3)), UTC)

    @staticmethod
    def is_delivery(name: str) -> bool:
        return _NAME.fullmatch(name) is not None


def file_name(signed_at: int, received_at: float) -> str:
    """A new delivery's file name (see the module docstring)."""
    micros = round(received_at * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds))
    return f"{stamp}.{fraction:06d}Z-s{signed_at}-{secrets.token_hex(8)}.json"


class Spool:
    """A spool at `location` (a directory path or an fsspec URL)."""

    def __init__(self, location: str) -> None:
        if not location or not str(location).strip():
            raise SpoolError("The webhook spool location is empty.")
        self.location = str(location).strip()
        try:
            fs, root = fsspec.core.url_to_fs(self.location)
        except (ImportError, ValueError) as e:
            raise SpoolError(
                f"The webhook spool {self.description} cannot be opened ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''})."
            ) from None
        self._fs = fs
        self._local = isinstance(fs, LocalFileSystem)
        self._root = str(root).rstrip("/") or "/"

    @property
    def description(self) -> str:
        """The location for messages and logs: no user, password or query (credentials)."""
        parts = urlsplit(self.location)
        if not parts.scheme or len(parts.scheme) == 1:  # a plain path (or C:\...)
            return self.location
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{parts.path}"

    def _path(self, folder: str, name: str = "") -> str:
        base = f"{self._root}/{folder}" if self._root != "/" else f"/{folder}"
        return f"{base}/{name}" if name else base

    # --- setup -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Creates the three folders; raises SpoolError when the spool is not writable."""
        try:
            for folder in (INCOMING, DONE, QUARANTINE):
                if self._local:
                    Path(self._path(folder)).mkdir(parents=True, exist_ok=True)
                else:
                    self._fs.makedirs(self._path(folder), exist_ok=True)
            if self._local and not os.access(self._path(INCOMING), os.W_OK):
                raise PermissionError("not writable")
        except OSError as e:
            raise SpoolError(
                f"The webhook spool {self.description} is not usable ({type(e).__name__}: "
                f"{e.strerror or e})."
            ) from None

    # --- the receiver's side -----------------------------------------------------------------

    def store(self, body: bytes, signed_at: int, received_at: float | None = None) -> SpoolFile:
        """Writes one delivery durably; returns its file once it is safe to acknowledge."""
        name = file_name(signed_at, time.time() if received_at is None else received_at)
        if self._local:
            self._store_local(name, body)
        else:
            self._fs.pipe_file(self._path(INCOMING, name), body)
        return SpoolFile(name)

    def _store_local(self, name: str, body: bytes) -> None:
        folder = self._path(INCOMING)
        temporary = f"{folder}/.{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        os.close(fd)
        os.replace(temporary, f"{folder}/{name}")
        _fsync_dir(folder)

    # --- the run's side ----------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[SpoolFile]:
        """Stored deliveries not yet loaded, oldest first (at most `limit`)."""
        names = self._names(INCOMING)
        files = sorted(SpoolFile(n) for n in names if SpoolFile.is_delivery(n))
        if self._local:
            self._remove_stale_temporaries(names)
        return files[:limit] if limit is not None else files

    def _names(self, folder: str) -> list[str]:
        path = self._path(folder)
        try:
            if self._local:
                return os.listdir(path)
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []

    def _remove_stale_temporaries(self, names: Iterable[str]) -> None:
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                path = self._path(INCOMING, name)
                with contextlib.suppress(OSError):
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)

    def count(self, folder: str) -> int:
        """Deliveries in `folder` (incoming, done or quarantine)."""
        return sum(1 for n in self._names(folder) if SpoolFile.is_delivery(n))

    def files(self, folder: str) -> list[SpoolFile]:
        return sorted(SpoolFile(n) for n in self._names(folder) if SpoolFile.is_delivery(n))

    def read(self, file: SpoolFile, folder: str = INCOMING) -> bytes:
        path = self._path(folder, file.name)
        if self._local:
            with open(path, "rb") as handle:
                return handle.read()
        return self._fs.cat_file(path)

    def mark_done(self, files: Iterable[SpoolFile]) -> int:
        """Moves loaded deliveries to done/ (call only once their events are committed)."""
        moved = 0
        for file in files:
            if self._move(file.name, INCOMING, DONE):
                moved += 1
        if self._local and moved:
            _fsync_dir(self._path(DONE))
            _fsync_dir(self._path(INCOMING))
        return moved

    def quarantine(self, file: SpoolFile, reason: str) -> None:
        """Sets a file aside in quarantine/ with `<name>.reason.txt` beside it."""
        reason_path = self._path(QUARANTINE, file.name + REASON_SUFFIX)
        text = (reason.strip() + "\n").encode()
        if self._local:
            Path(self._path(QUARANTINE)).mkdir(parents=True, exist_ok=True)
            Path(reason_path).write_bytes(text)
        else:
            self._fs.pipe_file(reason_path, text)
        self._move(file.name, INCOMING, QUARANTINE)
        if self._local:
            _fsync_dir(self._path(QUARANTINE))
            _fsync_dir(self._path(INCOMING))

    def reason(self, file: SpoolFile) -> str:
        """Why a quarantined file was set aside."""
        path = self._path(QUARANTINE, file.name + REASON_SUFFIX)
        if self._local:
            return Path(path).read_text().strip()
        return self._fs.cat_file(path).decode().strip()

    def _move(self, name: str, source: str, target: str) -> bool:
        """Moves one file; False when it is already gone (an earlier run moved it)."""
        src, dst = self._path(source, name), self._path(target, name)
        try:
            if self._local:
                os.replace(src, dst)
            else:
                self._fs.mv(src, dst)
        except FileNotFoundError:
            return False
        return True


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
