"""App bundles: safe inspection of uploads, reproducible packing and content-addressed storage.

A bundle is a tar archive, optionally gzip-compressed, whose root holds `lumbung.yaml` and
either a `Dockerfile` with its build context or `image.tar` (a `docker save` archive).

Inspection streams the archive once and never extracts anything. Every limit is checked
while reading, against the bytes actually decompressed, so a decompression bomb or a tar
header that understates its data is stopped as soon as a counter passes its limit.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import stat
import tarfile
import tempfile
import zlib
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from catalog.manifest import MANIFEST_FILENAME, MAX_MANIFEST_BYTES

DOCKERFILE = "Dockerfile"
IMAGE_ARCHIVE = "image.tar"
IMAGE_MANIFEST = "manifest.json"

KIND_DOCKERFILE = "dockerfile"
KIND_IMAGE = "image"

_CHUNK = 64 * 1024
_BLOCK = tarfile.BLOCKSIZE
# Tar data besides file contents (headers, padding, long-name and pax records) allowed per
# member on top of max_unpacked_bytes, plus end-of-archive padding for large blocking factors.
_METADATA_PER_MEMBER = 4096
_ARCHIVE_OVERHEAD = 1024 * 1024
# tarfile reads a pax or GNU long-name record into memory in one piece before returning
# the member, so such records are capped before tarfile reads them.
_MAX_EXTENDED_HEADER = 1024 * 1024
# How much of the decompressed stream is kept to examine what follows the last member;
# it must exceed the tarfile read buffer plus one block.
_TAIL = 4 * _CHUNK
# Linux gives up resolving a path after 40 symlinks (ELOOP).
_MAX_SYMLINK_HOPS = 40

_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_OTHER_FORMATS = (
    (b"BZh", "compressed with bzip2"),
    (b"\xfd7zXZ\x00", "compressed with xz"),
    (b"\x28\xb5\x2f\xfd", "compressed with zstd"),
    (b"PK\x03\x04", "a zip archive"),
)

_PACK_SKIP_NAMES = frozenset({".git", "__pycache__", ".DS_Store"})
_PACK_SKIP_SUFFIXES = (".pyc",)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BundleError(ValueError):
    """An upload that is not a safe, complete bundle."""


@dataclass(frozen=True)
class BundleLimits:
    """Limits applied while inspecting an uploaded bundle."""

    max_bytes: int = 200 * 1024 * 1024  # the upload as sent (compressed)
    max_members: int = 10_000
    max_unpacked_bytes: int = 1024 * 1024 * 1024  # sum of member sizes after decompression


@dataclass(frozen=True)
class BundleInfo:
    """What inspection learned about a bundle that passed every check."""

    sha256: str  # of the bytes as uploaded
    size: int
    kind: str  # "dockerfile" or "image"
    manifest_bytes: bytes  # raw lumbung.yaml
    members: int
    unpacked_bytes: int


# --------------------------------------------------------------------------- inspection


def inspect_bundle(path: Path, limits: BundleLimits) -> BundleInfo:
    """Check that the file at `path` is a safe, complete bundle and describe it.

    Raises BundleError, with a message naming the offending member or limit, otherwise.
    Nothing is extracted or written.
    """
    size = os.stat(path).st_size
    if size > limits.max_bytes:
        raise BundleError(f"The bundle is {size} bytes; the limit is {limits.max_bytes} bytes.")
    if size == 0:
        raise BundleError("The bundle is empty.")

    with open(path, "rb") as file:
        raw = _HashingReader(file, limits.max_bytes)
        visitor = _BundleVisitor(limits)
        walk = _walk_archive(raw, limits, _OUTER, visitor.visit)
        manifest = visitor.finish()
        # Hash anything the decompressor left unread (normally nothing).
        while raw.read(_CHUNK):
            pass

    return BundleInfo(
        sha256=raw.hexdigest(),
        size=raw.count,
        kind=visitor.kind,
        manifest_bytes=manifest,
        members=walk.members,
        unpacked_bytes=walk.unpacked_bytes,
    )


@dataclass(frozen=True)
class _Where:
    """How messages name an archive ("The bundle", "image.tar in the bundle")."""

    subject: str  # starts a sentence about the whole archive
    member: str  # precedes a member name
    root: str  # the archive as a place


_OUTER = _Where(subject="The bundle", member="Bundle member", root="the bundle")
_INNER = _Where(
    subject=f"{IMAGE_ARCHIVE} in the bundle", member=f"{IMAGE_ARCHIVE} member", root=IMAGE_ARCHIVE
)


@dataclass
class _WalkResult:
    members: int = 0
    unpacked_bytes: int = 0


_Visit = Callable[[tarfile.TarFile, tarfile.TarInfo, str], None]


class _BundleVisitor:
    """Looks at the root entries of the outer archive as they stream past."""

    def __init__(self, limits: BundleLimits) -> None:
        self._limits = limits
        self.manifest: bytes | None = None
        self._dockerfile = False
        self._image = False

    def visit(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        if name == MANIFEST_FILENAME:
            _require_regular(member, f"{MANIFEST_FILENAME} must be a regular file.")
            if member.size > MAX_MANIFEST_BYTES:
                raise BundleError(
                    f"{MANIFEST_FILENAME} is {member.size} bytes; "
                    f"the limit is {MAX_MANIFEST_BYTES} bytes."
                )
            self.manifest = _read_member(tar, member)
        elif name == DOCKERFILE:
            _require_regular(member, f"{DOCKERFILE} must be a regular file.")
            self._dockerfile = True
            self._check_single_kind()
        elif name == IMAGE_ARCHIVE:
            _require_regular(member, f"{IMAGE_ARCHIVE} must be a regular file.")
            self._image = True
            self._check_single_kind()
            inner = tar.extractfile(member)
            assert inner is not None  # regular members always have a file object
            _check_image_archive(inner, self._limits)

    def _check_single_kind(self) -> None:
        if self._dockerfile and self._image:
            raise BundleError(
                f"The bundle has both a {DOCKERFILE} and an {IMAGE_ARCHIVE}; include only one."
            )

    def finish(self) -> bytes:
        """Check what must have been seen once the archive has ended; the manifest."""
        if self.manifest is None:
            raise BundleError(f"The bundle has no {MANIFEST_FILENAME} at its root.")
        if not (self._dockerfile or self._image):
            raise BundleError(
                f"The bundle has neither a {DOCKERFILE} nor an {IMAGE_ARCHIVE} at its root."
            )
        return self.manifest

    @property
    def kind(self) -> str:
        return KIND_DOCKERFILE if self._dockerfile else KIND_IMAGE


def _check_image_archive(stream: _Readable, limits: BundleLimits) -> None:
    """Check that image.tar, streamed from the bundle, is a `docker save` archive."""
    found: list[tarfile.TarInfo] = []

    def visit(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        if name == IMAGE_MANIFEST:
            _require_regular(member, f"{IMAGE_MANIFEST} in {IMAGE_ARCHIVE} must be a regular file.")
            found.append(member)

    _walk_archive(stream, limits, _INNER, visit)
    if not found:
        raise BundleError(
            f"{IMAGE_ARCHIVE} has no {IMAGE_MANIFEST} at its root; "
            "it must be an archive written by `docker save`."
        )


def _require_regular(member: tarfile.TarInfo, message: str) -> None:
    if not member.isreg():
        raise BundleError(message)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = tar.extractfile(member)
    assert file is not None
    return file.read(member.size)


def _walk_archive(
    source: _Readable, limits: BundleLimits, where: _Where, visit: _Visit
) -> _WalkResult:
    """Stream a (possibly gzip-compressed) tar, checking every member, calling `visit`
    for each, then checking links and everything after the last member."""
    budget = (
        limits.max_unpacked_bytes + limits.max_members * _METADATA_PER_MEMBER + _ARCHIVE_OVERHEAD
    )
    try:
        with contextlib.ExitStack() as cleanup:
            data = _decompressed(source, where)
            if isinstance(data, gzip.GzipFile):
                cleanup.enter_context(data)
            counter = _CountingReader(
                data,
                budget,
                lambda: BundleError(
                    f"{where.subject} unpacks to more than {limits.max_unpacked_bytes} bytes."
                ),
            )
            try:
                tar = tarfile.open(  # type: ignore[call-overload]
                    fileobj=counter,
                    mode="r|",
                    bufsize=_CHUNK,
                    tarinfo=_GuardedTarInfo,
                    errors="surrogateescape",
                )
            except tarfile.ReadError:
                raise BundleError(f"{where.subject} is not a tar archive.") from None
            cleanup.enter_context(tar)
            checker = _MemberChecker(limits, where)
            while (member := tar.next()) is not None:
                visit(tar, member, checker.check(member))
            checker.check_links()
            # tarfile stops quietly at a header it cannot parse, so look at what
            # follows the last member: only the end-of-archive marker and zero padding.
            _check_archive_end(counter, tar.offset, where)
            return _WalkResult(members=checker.members, unpacked_bytes=checker.unpacked_bytes)
    except BundleError:
        raise
    except RecursionError:
        # tarfile recurses once per chained long-name or pax header.
        raise BundleError(
            f"{where.subject} is corrupt or truncated (too many chained extended headers)."
        ) from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        detail = str(exc).rstrip(".") or type(exc).__name__
        raise BundleError(f"{where.subject} is corrupt or truncated ({detail}).") from None


def _decompressed(source: _Readable, where: _Where) -> _Readable:
    """`source` itself if it starts like a tar, or a gzip decompressor over it."""
    magic = source.read(6)
    for prefix, description in _OTHER_FORMATS:
        if magic.startswith(prefix):
            raise BundleError(
                f"{where.subject} is {description}; "
                "only tar archives, optionally gzip-compressed, are accepted."
            )
    rejoined = _PrefixedReader(magic, source)
    if magic.startswith(b"\x1f\x8b"):
        # GzipFile wants seek() only to rewind, which never happens here.
        gz: _Readable = gzip.GzipFile(filename="", mode="rb", fileobj=rejoined)  # type: ignore[call-overload]
        return gz
    return rejoined


def _check_archive_end(counter: _CountingReader, end: int, where: _Where) -> None:
    """Everything from `end` (where tarfile expected the next header) to the end of the
    stream must be zeros, at least one block of them."""
    if end > counter.count:
        raise BundleError(f"{where.subject} is corrupt or truncated (unexpected end of data).")
    rest = counter.since(end)
    if rest is None:
        raise BundleError(f"{where.subject} is corrupt or truncated (unreadable end of archive).")
    if rest[:_BLOCK].count(0) != len(rest[:_BLOCK]):
        raise BundleError(
            f"{where.subject} is corrupt or truncated (invalid tar header at byte {end})."
        )
    zeros = len(rest)
    if rest.count(0) != len(rest):
        raise BundleError(
            f"{where.subject} is corrupt or truncated (data after the end-of-archive marker)."
        )
    while chunk := counter.read(_CHUNK):
        if chunk.count(0) != len(chunk):
            raise BundleError(
                f"{where.subject} is corrupt or truncated (data after the end-of-archive marker)."
            )
        zeros += len(chunk)
    if zeros < _BLOCK:
        raise BundleError(f"{where.subject} is corrupt or truncated (no end-of-archive marker).")


class _MemberChecker:
    """Per-member safety rules, and the link rules that need every member to decide."""

    def __init__(self, limits: BundleLimits, where: _Where) -> None:
        self._limits = limits
        self._where = where
        self.members = 0
        self.unpacked_bytes = 0
        self._seen: dict[str, None] = {}  # a dict keeps archive order for messages
        self._symlinks: dict[str, str] = {}
        self._hardlinks: dict[str, str] = {}

    def check(self, member: tarfile.TarInfo) -> str:
        """Check one member; return its normalised name ("" for the root directory)."""
        where = self._where
        self.members += 1
        if self.members > self._limits.max_members:
            raise BundleError(f"{where.subject} has more than {self._limits.max_members} members.")
        label = f"{where.member} {_show(member.name)}"
        name = _normalise_name(member.name, label)

        if member.ischr():
            raise BundleError(f"{label} is a character device; devices are not allowed.")
        if member.isblk():
            raise BundleError(f"{label} is a block device; devices are not allowed.")
        if member.isfifo():
            raise BundleError(f"{label} is a FIFO; FIFOs are not allowed.")
        if member.sparse is not None:
            raise BundleError(f"{label} is a sparse file, which is not supported.")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise BundleError(f"{label} has an unsupported tar member type {member.type!r}.")
        if member.size < 0:
            raise BundleError(
                f"{where.subject} is corrupt or truncated ({label} has a negative size)."
            )
        if name == "" and not member.isdir():
            raise BundleError(f"{label} has an empty name.")

        if name in self._seen:
            raise BundleError(f"{label} appears more than once in {where.root}.")
        self._seen[name] = None

        if member.isreg():
            self.unpacked_bytes += member.size
            if self.unpacked_bytes > self._limits.max_unpacked_bytes:
                raise BundleError(
                    f"{where.subject} unpacks to more than "
                    f"{self._limits.max_unpacked_bytes} bytes (reached at {label})."
                )
        elif member.issym():
            self._symlinks[name] = self._check_link_text(member, label, "symlink")
        elif member.islnk():
            self._hardlinks[name] = self._check_link_text(member, label, "hardlink")
        return name

    def _check_link_text(self, member: tarfile.TarInfo, label: str, kind: str) -> str:
        target = member.linkname
        if not target:
            raise BundleError(f"{label} is a {kind} with an empty target.")
        if _CONTROL_RE.search(target) or "\\" in target or _DRIVE_RE.match(target):
            raise BundleError(f"{label} is a {kind} with a malformed target {_show(target)}.")
        if not _is_utf8(target):
            raise BundleError(f"{label} is a {kind} whose target is not valid UTF-8.")
        if target.startswith("/"):
            self._outside(label, kind, target)
        return target

    def _outside(self, label: str, kind: str, target: str) -> None:
        raise BundleError(
            f"{label} is a {kind} to {_show(target)}, which is outside {self._where.root}."
        )

    def check_links(self) -> None:
        """Resolve every link through the archive's own symlinks, as an extractor would."""
        # A member under a symlink would be written wherever the symlink points, possibly
        # over another member that was already checked (x -> ".", then x/Dockerfile).
        for name in self._seen:
            parent = name.rpartition("/")[0]
            while parent:
                if parent in self._symlinks:
                    raise BundleError(
                        f"{self._where.member} {_show(name)} is inside {_show(parent)}, "
                        "which is a symlink."
                    )
                parent = parent.rpartition("/")[0]
        for name, target in self._symlinks.items():
            parent = name.rpartition("/")[0]
            problem = _resolve(f"{parent}/{target}" if parent else target, self._symlinks)
            if problem:
                label = f"{self._where.member} {_show(name)}"
                if problem == "loop":
                    raise BundleError(f"{label} is a symlink to {_show(target)}, which loops.")
                self._outside(label, "symlink", target)
        for name, target in self._hardlinks.items():
            problem = _resolve(target, self._symlinks)
            if problem:
                label = f"{self._where.member} {_show(name)}"
                if problem == "loop":
                    raise BundleError(f"{label} is a hardlink to {_show(target)}, which loops.")
                self._outside(label, "hardlink", target)


def _normalise_name(raw: str, label: str) -> str:
    """The member path with `.` and empty components removed, or BundleError if it could
    land outside the extraction root on any platform."""
    if raw == "":
        raise BundleError(f"{label} has an empty name.")
    if "\x00" in raw:
        raise BundleError(f"{label} contains a NUL byte.")
    if _CONTROL_RE.search(raw):
        raise BundleError(f"{label} contains a control character.")
    if not _is_utf8(raw):
        raise BundleError(f"{label} is not valid UTF-8.")
    if "\\" in raw:
        raise BundleError(f"{label} contains a backslash.")
    if raw.startswith("/"):
        raise BundleError(f"{label} has an absolute path.")
    if _DRIVE_RE.match(raw):
        raise BundleError(f"{label} starts with a Windows drive letter.")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BundleError(f"{label} contains a '..' component.")
    return "/".join(parts)


def _resolve(path: str, symlinks: Mapping[str, str]) -> str | None:
    """Resolve a root-relative path through `symlinks` (name -> target) the way the kernel
    would; "outside" or "loop" if resolution leaves the root or never ends, else None.

    Components that are not symlinks are treated as directories, so `missing/..` is
    resolved lexically, which is the stricter reading.
    """
    resolved: list[str] = []
    pending = deque(path.split("/"))
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return "outside"
            resolved.pop()
            continue
        resolved.append(part)
        target = symlinks.get("/".join(resolved))
        if target is not None:
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                return "loop"
            if target.startswith("/"):
                return "outside"
            resolved.pop()
            pending.extendleft(reversed(target.split("/")))
    return None


def _is_utf8(text: str) -> bool:
    # tarfile decodes names with surrogateescape; undecodable bytes survive as surrogates.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(name: str) -> str:
    """A member name for a message: quoted, escaped, and not too long."""
    shown = repr(name)
    return shown if len(shown) <= 200 else shown[:197] + "..."


class _GuardedTarInfo(tarfile.TarInfo):
    """TarInfo that refuses oversized extended headers and old-style sparse members
    before tarfile reads them."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise BundleError(
                f"Tar member {_show(self.name)} is a sparse file, which is not supported."
            )
        extended = (
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.SOLARIS_XHDTYPE,
        )
        if self.type in extended and self.size > _MAX_EXTENDED_HEADER:
            raise BundleError(
                f"An extended tar header at byte {self.offset} is {self.size} bytes; "
                f"the limit is {_MAX_EXTENDED_HEADER} bytes."
            )
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]
        return member


class _HashingReader:
    """Reads a file, hashing and counting the bytes and refusing to pass `limit`."""

    def __init__(self, file: _Readable, limit: int) -> None:
        self._file = file
        self._limit = limit
        self._hash = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        data = self._file.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise BundleError(f"The bundle is larger than the limit of {self._limit} bytes.")
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _PrefixedReader:
    """Gives back bytes already read from a stream, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: _Readable) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._rest.read(), b""
            return data
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._rest.read(size - len(data))
            return data
        return self._rest.read(size)


class _CountingReader:
    """Counts the decompressed bytes read, raising once they pass `limit`, and keeps the
    most recent ones so the end of the archive can be examined."""

    def __init__(self, inner: _Readable, limit: int, over: Callable[[], BundleError]) -> None:
        self._inner = inner
        self._limit = limit
        self._over = over
        self.count = 0
        self._tail = bytearray()
        self._tail_start = 0

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        data = self._inner.read(size)
        self.count += len(data)
        if self.count > self._limit:
            raise self._over()
        self._tail += data
        if len(self._tail) > 2 * _TAIL:
            drop = len(self._tail) - _TAIL
            del self._tail[:drop]
            self._tail_start += drop
        return data

    def since(self, offset: int) -> bytes | None:
        """The bytes read from `offset` on, if they are still kept."""
        if offset < self._tail_start:
            return None
        return bytes(self._tail[offset - self._tail_start :])


# --------------------------------------------------------------------------- packing


def pack_directory(
    source: Path, destination: Path, *, extra_files: Mapping[str, Path] = {}
) -> None:
    """Write a reproducible gzip-compressed tar of `source` to `destination`.

    Names are sorted; times, owners and gzip header are zeroed; modes become 0644 or 0755.
    `.git`, `__pycache__`, `.DS_Store` and `*.pyc` are skipped. Symlinks are kept if they
    stay inside `source`. `extra_files` maps archive names to host files to add.
    """
    root = Path(source).resolve(strict=True)
    if not root.is_dir():
        raise BundleError(f"{source} is not a directory.")
    destination = Path(destination)
    skip = destination.resolve()

    entries: dict[str, _PackEntry] = {}
    _collect(root, root, "", skip, entries)
    for archive_name, host_path in extra_files.items():
        name = _normalise_name(archive_name, f"Extra file {_show(archive_name)}")
        if not name:
            raise BundleError(f"Extra file {_show(archive_name)} has an empty name.")
        if name in entries:
            raise BundleError(f"Extra file {_show(archive_name)} is already in {source}.")
        info = os.stat(host_path)
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"Extra file {host_path} is not a regular file.")
        entries[name] = _PackEntry("file", Path(host_path), _file_mode(info.st_mode))
        parent = name.rpartition("/")[0]
        while parent:
            existing = entries.setdefault(parent, _PackEntry("dir", None, 0o755))
            if existing.kind != "dir":
                raise BundleError(
                    f"Extra file {_show(archive_name)} needs {parent} to be a directory."
                )
            parent = parent.rpartition("/")[0]

    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=".pack-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
                with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for name in sorted(entries, key=lambda n: n.split("/")):
                        _add_entry(tar, name, entries[name])
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, destination)
    except BaseException:
        _unlink_quietly(Path(temp_name))
        raise


@dataclass(frozen=True)
class _PackEntry:
    kind: str  # "file", "dir" or "symlink"
    path: Path | None  # host file for "file"
    mode: int
    target: str = ""  # for "symlink"


def _collect(
    root: Path, directory: Path, prefix: str, skip: Path, out: dict[str, _PackEntry]
) -> None:
    with os.scandir(directory) as it:
        children = sorted(it, key=lambda e: e.name)
    for child in children:
        if child.name in _PACK_SKIP_NAMES or child.name.endswith(_PACK_SKIP_SUFFIXES):
            continue
        path = Path(child.path)
        if path == skip:
            continue
        name = f"{prefix}{child.name}"
        if "\\" in name or _CONTROL_RE.search(name) or not _is_utf8(name):
            raise BundleError(f"{path} has a name that cannot go into a bundle.")
        info = child.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(path)
            if os.path.isabs(target):
                raise BundleError(f"Symlink {path} -> {target} is absolute; use a relative target.")
            real = Path(os.path.realpath(path))
            if real != root and root not in real.parents:
                raise BundleError(f"Symlink {path} -> {target} points outside {root}.")
            # Symlink permissions are ignored by Linux; 0777 is what tar tools record.
            out[name] = _PackEntry("symlink", None, 0o777, target)
        elif stat.S_ISDIR(info.st_mode):
            out[name] = _PackEntry("dir", None, 0o755)
            _collect(root, path, f"{name}/", skip, out)
        elif stat.S_ISREG(info.st_mode):
            out[name] = _PackEntry("file", path, _file_mode(info.st_mode))
        else:
            raise BundleError(f"{path} is not a regular file, directory or symlink.")


def _file_mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644


def _add_entry(tar: tarfile.TarFile, name: str, entry: _PackEntry) -> None:
    member = tarfile.TarInfo(name)
    member.mtime = 0
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    member.mode = entry.mode
    if entry.kind == "dir":
        member.type = tarfile.DIRTYPE
        tar.addfile(member)
    elif entry.kind == "symlink":
        member.type = tarfile.SYMTYPE
        member.linkname = entry.target
        tar.addfile(member)
    else:
        assert entry.path is not None
        with open(entry.path, "rb") as file:
            member.size = os.fstat(file.fileno()).st_size
            tar.addfile(member, file)


# --------------------------------------------------------------------------- storage


class BundleStore:
    """Bundles stored by sha256 under a directory; the same bundle is stored once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the bundle with this sha256 lives: root/ab/abcdef....bundle."""
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
            raise ValueError(f"Not a sha256 hex digest: {sha256!r}")
        digest = sha256.lower()
        return self.root / digest[:2] / f"{digest}.bundle"

    def exists(self, sha256: str) -> bool:
        """Whether the bundle is stored."""
        return self.path_for(sha256).is_file()

    def put(self, source: Path, sha256: str) -> Path:
        """Store a copy of `source` under `sha256`, atomically; nothing happens if it is
        already stored. Raises ValueError if the content does not match `sha256`."""
        target = self.path_for(sha256)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".put-", suffix=".part")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256.lower():
                raise ValueError(f"{source} does not have sha256 {sha256}.")
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, target)
        except BaseException:
            _unlink_quietly(Path(temp_name))
            raise
        _fsync_directory(target.parent)
        return target

    def delete(self, sha256: str) -> None:
        """Remove the bundle; a bundle that is not stored is fine."""
        self.path_for(sha256).unlink(missing_ok=True)

    def open(self, sha256: str) -> BinaryIO:
        """Open the stored bundle for reading; FileNotFoundError if it is not stored."""
        return open(self.path_for(sha256), "rb")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- uploads


class _Spool:
    """A temporary file being filled with an upload, hashed and size-checked."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        fd, name = tempfile.mkstemp(dir=directory, prefix="upload-", suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max_bytes:
            raise BundleError(f"The upload is larger than the limit of {self._max_bytes} bytes.")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> tuple[Path, str, int]:
        self._file.close()
        return self.path, self._hash.hexdigest(), self.size

    def discard(self) -> None:
        self._file.close()
        _unlink_quietly(self.path)


def _chunks_of(source: Iterable[bytes] | BinaryIO) -> Iterator[bytes]:
    if hasattr(source, "read"):
        reader = cast(BinaryIO, source)
        return iter(lambda: reader.read(_CHUNK), b"")
    return iter(source)


def spool_upload(
    chunks: Iterable[bytes] | BinaryIO, directory: Path, max_bytes: int
) -> tuple[Path, str, int]:
    """Write an upload to a temporary file in `directory`, hashing it and stopping as soon
    as it passes `max_bytes` (BundleError). Returns (path, sha256, size); the caller owns
    the file. On any error the file is removed."""
    spool = _Spool(directory, max_bytes)
    try:
        for chunk in _chunks_of(chunks):
            spool.write(chunk)
        return spool.finish()
    except BaseException:
        spool.discard()
        raise


async def spool_upload_async(
    chunks: AsyncIterable[bytes], directory: Path, max_bytes: int
) -> tuple[Path, str, int]:
    """spool_upload for an async stream of chunks, e.g. a request body.

    Chunk writes go straight to a local temporary file; they are small enough not to
    need a worker thread.
    """
    spool = _Spool(directory, max_bytes)
    try:
        async for chunk in chunks:
            spool.write(chunk)
        return spool.finish()
    except BaseException:
        spool.discard()
        raise


__all__ = [
    "BundleError",
    "BundleInfo",
    "BundleLimits",
    "BundleStore",
    "inspect_bundle",
    "pack_directory",
    "spool_upload",
    "spool_upload_async",
]
