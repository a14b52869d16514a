"""Bundle inspection, packing, storage and upload spooling.

Every hostile archive is built for real with `tarfile` (or by hand, where tarfile would
refuse to write it) and inspected through the public API.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import ntpath
import os
import posixpath
import sys
import tarfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from catalog.bundles import (
    BundleError,
    BundleInfo,
    BundleLimits,
    BundleStore,
    inspect_bundle,
    pack_directory,
    spool_upload,
    spool_upload_async,
)

MiB = 1024 * 1024
SMALL = BundleLimits(max_bytes=10 * MiB, max_members=100, max_unpacked_bytes=1 * MiB)
MANIFEST = b"slug: surat-masuk\nname: Surat Masuk\nversion: 1.0.0\n"
DOCKERFILE = b"FROM scratch\nCOPY app /app\n"


# --------------------------------------------------------------------------- watching for writes

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_WRITE_EVENTS = frozenset(
    {
        "os.mkdir",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "os.symlink",
        "os.link",
        "os.chmod",
        "os.chown",
        "os.truncate",
        "os.utime",
        "os.mknod",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "shutil.copyfile",
        "shutil.move",
    }
)


@dataclass
class _Audit:
    active: bool = False
    opened: list[str] = field(default_factory=list)
    writes: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)


_AUDIT = _Audit()


def _audit_hook(event: str, args: tuple[object, ...]) -> None:
    if not _AUDIT.active:
        return
    if event == "open":
        path, mode, flags = args
        _AUDIT.opened.append(os.fsdecode(path) if isinstance(path, (str, bytes)) else str(path))
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            _AUDIT.writes.append((event, args))
    elif event in _WRITE_EVENTS:
        _AUDIT.writes.append((event, args))


# Audit hooks cannot be removed; this one does nothing unless a test switches it on.
sys.addaudithook(_audit_hook)


@contextlib.contextmanager
def watching_filesystem() -> Iterator[_Audit]:
    _AUDIT.opened.clear()
    _AUDIT.writes.clear()
    _AUDIT.active = True
    try:
        yield _AUDIT
    finally:
        _AUDIT.active = False


def test_the_write_watcher_sees_writes(tmp_path: Path) -> None:
    with watching_filesystem() as audit:
        (tmp_path / "file").write_bytes(b"x")
        os.mkdir(tmp_path / "dir")
        (tmp_path / "file").read_bytes()
    assert [event for event, _ in audit.writes] == ["open", "os.mkdir"]


def _listing(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def inspect(path: Path, limits: BundleLimits = SMALL) -> BundleInfo:
    """inspect_bundle, asserting that it wrote nothing, whatever the outcome."""
    before = _listing(path.parent)
    with watching_filesystem() as audit:
        try:
            return inspect_bundle(path, limits)
        finally:
            audit.active = False
            assert audit.writes == []
            assert _listing(path.parent) == before


def refused(path: Path, match: str, limits: BundleLimits = SMALL) -> BundleError:
    with pytest.raises(BundleError, match=match) as caught:
        inspect(path, limits)
    return caught.value


# --------------------------------------------------------------------------- building archives


def reg(name: str, data: bytes = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def directory(name: str) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def link(
    name: str, target: str, kind: bytes = tarfile.SYMTYPE
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, None


Member = tuple[tarfile.TarInfo, bytes | None]


def tar_bytes(members: list[Member], *, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def tar_body(members: list[Member]) -> bytes:
    """The members of a tar without the end-of-archive marker, to append to by hand."""
    buffer = io.BytesIO()
    tar = tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT)
    for info, data in members:
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()[: tar.offset]


def base(*, dockerfile: bool = True) -> list[Member]:
    members = [reg("lumbung.yaml", MANIFEST)]
    if dockerfile:
        members += [
            reg("Dockerfile", DOCKERFILE),
            directory("app"),
            reg("app/main.py", b"print(1)\n"),
        ]
    return members


def write(tmp_path: Path, data: bytes, name: str = "upload.bundle") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def bundle(tmp_path: Path, members: list[Member], *, compress: bool = True) -> Path:
    return write(tmp_path, tar_bytes(members, compress=compress))


def image_tar(*, with_manifest: bool = True, extra: list[Member] | None = None) -> bytes:
    members: list[Member] = [
        directory("3f1e0a"),
        reg("3f1e0a/layer.tar", tar_bytes([reg("etc/hostname", b"x\n")])),
    ]
    if with_manifest:
        members.insert(
            0,
            reg(
                "manifest.json",
                b'[{"Config":"c.json","RepoTags":["app:1"],"Layers":["3f1e0a/layer.tar"]}]',
            ),
        )
    return tar_bytes(members + (extra or []))


# --------------------------------------------------------------------------- happy paths


def test_dockerfile_bundle_is_described(tmp_path: Path) -> None:
    data = tar_bytes(base() + [link("app/current", "main.py")], compress=True)
    path = write(tmp_path, data)

    info = inspect(path)

    assert info == BundleInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        kind="dockerfile",
        manifest_bytes=MANIFEST,
        members=5,
        unpacked_bytes=len(MANIFEST) + len(DOCKERFILE) + len(b"print(1)\n"),
    )


def test_uncompressed_bundle_with_dot_slash_names(tmp_path: Path) -> None:
    members = [directory("."), reg("./lumbung.yaml", MANIFEST), reg("./Dockerfile", DOCKERFILE)]
    info = inspect(bundle(tmp_path, members, compress=False))
    assert info.kind == "dockerfile"
    assert info.manifest_bytes == MANIFEST
    assert info.members == 3


def test_image_bundle_is_described(tmp_path: Path) -> None:
    inner = image_tar()
    info = inspect(bundle(tmp_path, base(dockerfile=False) + [reg("image.tar", inner)]))
    assert info.kind == "image"
    assert info.manifest_bytes == MANIFEST
    assert info.unpacked_bytes == len(MANIFEST) + len(inner)


def test_image_archive_may_be_gzip_compressed_and_use_internal_symlinks(tmp_path: Path) -> None:
    inner = image_tar(extra=[directory("9b2c"), link("9b2c/layer.tar", "../3f1e0a/layer.tar")])
    path = bundle(tmp_path, base(dockerfile=False) + [reg("image.tar", gzip.compress(inner))])
    assert inspect(path).kind == "image"


def test_links_that_stay_inside_are_accepted(tmp_path: Path) -> None:
    members = base() + [
        directory("app/static"),
        link("app/static/up", ".."),
        link("app/static/main.py", "../main.py"),
        link("app/static/root", "../.."),
        link("app/hard.py", "app/main.py", tarfile.LNKTYPE),
        link("dangling", "nowhere/at/all"),
    ]
    assert inspect(bundle(tmp_path, members)).members == len(members)


def test_end_of_archive_padding_is_accepted(tmp_path: Path) -> None:
    data = tar_bytes(base()) + bytes(64 * 1024)
    assert inspect(write(tmp_path, data)).kind == "dockerfile"


# --------------------------------------------------------------------------- size limits


def test_file_over_max_bytes_is_refused_without_being_read(tmp_path: Path) -> None:
    path = bundle(tmp_path, base())
    limits = BundleLimits(max_bytes=path.stat().st_size - 1)
    with (
        watching_filesystem() as audit,
        pytest.raises(BundleError, match=r"the limit is \d+ bytes"),
    ):
        inspect_bundle(path, limits)
    assert str(path) not in audit.opened


def test_empty_file_is_refused(tmp_path: Path) -> None:
    refused(write(tmp_path, b""), "The bundle is empty")


def test_too_many_members(tmp_path: Path) -> None:
    members = base() + [reg(f"app/f{i}.txt", b"x") for i in range(10)]
    refused(
        bundle(tmp_path, members),
        "The bundle has more than 5 members",
        BundleLimits(max_members=5),
    )


def test_unpacked_size_over_limit_names_the_member(tmp_path: Path) -> None:
    members = base() + [reg("app/a.bin", bytes(600 * 1024)), reg("app/b.bin", bytes(600 * 1024))]
    refused(
        bundle(tmp_path, members),
        r"The bundle unpacks to more than 1048576 bytes \(reached at Bundle member 'app/b.bin'\)",
    )


def _zeros_gzip_members(total: int) -> bytes:
    """`total` zero bytes as concatenated gzip members, cheap to build at any size."""
    piece = gzip.compress(bytes(10 * MiB), compresslevel=9, mtime=0)
    count, remainder = divmod(total, 10 * MiB)
    return piece * count + gzip.compress(bytes(remainder), mtime=0)


def test_gzip_bomb_is_stopped_at_the_member_header(tmp_path: Path) -> None:
    header = tarfile.TarInfo("app/zeros.bin")
    header.size = 300 * MiB
    data = (
        gzip.compress(tar_body(base()), mtime=0)
        + gzip.compress(header.tobuf(tarfile.PAX_FORMAT), mtime=0)
        + _zeros_gzip_members(300 * MiB)
        + gzip.compress(bytes(1024), mtime=0)
    )
    assert len(data) < 1 * MiB
    refused(
        write(tmp_path, data),
        r"The bundle unpacks to more than 1048576 bytes \(reached at Bundle member 'app/zeros.bin'\)",
    )


def test_gzip_bomb_after_the_archive_is_stopped_by_counting_decompressed_bytes(
    tmp_path: Path,
) -> None:
    # The tar itself is small and honest; 300 MB of zeros follow its end marker.
    data = tar_bytes(base(), compress=True) + _zeros_gzip_members(300 * MiB)
    refused(write(tmp_path, data), r"^The bundle unpacks to more than 1048576 bytes\.$")


def test_pax_records_cannot_hide_data_from_the_size_limit(tmp_path: Path) -> None:
    # Every member is empty, so member sizes add up to nothing; the pax records are large.
    members = base()
    for i in range(5):
        info, data = reg(f"app/empty{i}")
        info.pax_headers = {"comment": "x" * (600 * 1024)}
        members.append((info, data))
    refused(bundle(tmp_path, members), r"^The bundle unpacks to more than 1048576 bytes\.$")


def test_oversized_extended_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    info, data = reg("app/x")
    info.pax_headers = {"comment": "x" * (2 * MiB)}
    refused(
        bundle(tmp_path, base() + [(info, data)]),
        r"An extended tar header at byte \d+ is \d+ bytes; the limit is 1048576 bytes",
        BundleLimits(),
    )


def test_header_that_understates_its_data_is_corrupt(tmp_path: Path) -> None:
    header = tarfile.TarInfo("app/liar.txt")
    header.size = 10  # but 2000 bytes follow
    body = b"y" * 2000
    raw = (
        tar_body(base())
        + header.tobuf(tarfile.PAX_FORMAT)
        + body
        + bytes(-len(body) % 512)
        + bytes(1024)
    )
    refused(
        write(tmp_path, raw),
        r"The bundle is corrupt or truncated \(invalid tar header at byte \d+\)",
    )


def test_members_hidden_after_the_end_marker_are_refused(tmp_path: Path) -> None:
    # Extractors that skip zero blocks (tar --ignore-zeros) would see the second archive.
    raw = tar_bytes(base()) + tar_bytes([reg("app/hidden.sh", b"rm -rf /\n")])
    refused(write(tmp_path, raw), r"corrupt or truncated \(data after the end-of-archive marker\)")


# --------------------------------------------------------------------------- not a (whole) tar


def test_not_a_tar(tmp_path: Path) -> None:
    refused(
        write(tmp_path, b"hello, this is not an archive\n" * 40),
        r"^The bundle is not a tar archive\.$",
    )


def test_gzip_of_not_a_tar(tmp_path: Path) -> None:
    refused(
        write(tmp_path, gzip.compress(b"plain text\n" * 100)),
        r"^The bundle is not a tar archive\.$",
    )


def test_zip_is_named_as_such(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lumbung.yaml", MANIFEST)
    refused(write(tmp_path, buffer.getvalue()), "The bundle is a zip archive")


def test_truncated_gzip(tmp_path: Path) -> None:
    members = base() + [reg("app/data.bin", os.urandom(64 * 1024))]
    data = tar_bytes(members, compress=True)
    refused(write(tmp_path, data[: len(data) // 2]), "The bundle is corrupt or truncated")


def test_gzip_with_bad_checksum(tmp_path: Path) -> None:
    data = bytearray(tar_bytes(base(), compress=True))
    data[-8] ^= 0xFF  # CRC32 in the gzip trailer
    refused(write(tmp_path, bytes(data)), "The bundle is corrupt or truncated")


def test_truncated_inside_member_data(tmp_path: Path) -> None:
    data = tar_bytes(base() + [reg("app/data.bin", bytes(8192))])
    cut = data.index(b"app/data.bin") + 4096
    refused(write(tmp_path, data[:cut]), "The bundle is corrupt or truncated")


def test_truncated_between_members(tmp_path: Path) -> None:
    refused(write(tmp_path, tar_body(base())), r"corrupt or truncated \(no end-of-archive marker\)")


# --------------------------------------------------------------------------- member paths


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/etc/passwd", r"Bundle member '/etc/passwd' has an absolute path"),
        ("../evil", r"Bundle member '../evil' contains a '..' component"),
        ("app/../../evil", r"contains a '..' component"),
        ("app/..", r"contains a '..' component"),
        ("C:/Windows/evil", r"starts with a Windows drive letter"),
        ("c:evil", r"starts with a Windows drive letter"),
        ("app\\..\\..\\evil", r"contains a backslash"),
        ("\\\\server\\share", r"contains a backslash"),
        ("evil\x00.txt", r"contains a NUL byte"),
        ("evil\n.txt", r"contains a control character"),
        ("//etc/passwd", r"has an absolute path"),
    ],
)
def test_unsafe_member_names(tmp_path: Path, name: str, message: str) -> None:
    info, data = reg("placeholder", b"x")
    info.pax_headers = {"path": name}  # pax carries any name, NUL included
    refused(bundle(tmp_path, base() + [(info, data)]), message)


@pytest.mark.parametrize(("name", "shown"), [("", "''"), ("./", "'.'"), (".//.", "'.//.'")])
def test_empty_name_is_refused(tmp_path: Path, name: str, shown: str) -> None:
    info, data = reg("placeholder", b"x")
    info.pax_headers = {"path": name}
    refused(bundle(tmp_path, base() + [(info, data)]), f"^Bundle member {shown} has an empty name")


def test_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    info, data = reg("placeholder", b"x")
    raw = bytearray(tar_bytes(base() + [(info, data)]))
    offset = raw.index(b"placeholder")
    raw[offset : offset + 3] = b"\xff\xfe\xfd"
    # Recompute the header checksum after editing the name.
    header_start = offset - offset % 512
    header = raw[header_start : header_start + 512]
    header[148:156] = b" " * 8
    raw[header_start + 148 : header_start + 156] = b"%06o\0 " % sum(header)
    refused(write(tmp_path, bytes(raw)), "is not valid UTF-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([reg("app/main.py", b"evil")], r"Bundle member 'app/main.py' appears more than once"),
        (
            [reg("./lumbung.yaml", b"slug: other\n")],
            r"Bundle member './lumbung.yaml' appears more than once",
        ),
        ([directory("app/")], r"Bundle member 'app' appears more than once"),
    ],
)
def test_duplicate_names(tmp_path: Path, extra: list[Member], message: str) -> None:
    refused(bundle(tmp_path, base() + extra), message)


# --------------------------------------------------------------------------- links and special files


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (
            link("app/passwd", "/etc/passwd"),
            r"Bundle member 'app/passwd' is a symlink to '/etc/passwd', which is outside the bundle",
        ),
        (
            link("app/up", "../.."),
            r"Bundle member 'app/up' is a symlink to '../..', which is outside the bundle",
        ),
        (link("up", ".."), r"is a symlink to '..', which is outside the bundle"),
        (link("app/x", "C:\\Windows"), r"is a symlink with a malformed target"),
        (link("app/x", ""), r"is a symlink with an empty target"),
        (
            link("app/passwd", "/etc/passwd", tarfile.LNKTYPE),
            r"Bundle member 'app/passwd' is a hardlink to '/etc/passwd', which is outside the bundle",
        ),
        (
            link("app/passwd", "../etc/passwd", tarfile.LNKTYPE),
            r"is a hardlink to '../etc/passwd', which is outside the bundle",
        ),
        (special("app/null", tarfile.CHRTYPE), r"Bundle member 'app/null' is a character device"),
        (special("app/sda", tarfile.BLKTYPE), r"Bundle member 'app/sda' is a block device"),
        (special("app/pipe", tarfile.FIFOTYPE), r"Bundle member 'app/pipe' is a FIFO"),
        (
            special("app/weird", b"Z"),
            r"Bundle member 'app/weird' has an unsupported tar member type",
        ),
    ],
)
def test_unsafe_links_and_special_files(tmp_path: Path, member: Member, message: str) -> None:
    refused(bundle(tmp_path, base() + [member]), message)


def test_pax_sparse_file_is_refused(tmp_path: Path) -> None:
    info, data = reg("app/holes", b"x")
    info.pax_headers = {"GNU.sparse.map": "0,1", "GNU.sparse.size": "100"}
    refused(bundle(tmp_path, base() + [(info, data)]), r"'app/holes' is a sparse file")


def test_gnu_sparse_file_is_refused(tmp_path: Path) -> None:
    header = tarfile.TarInfo("app/holes")
    header.type = tarfile.GNUTYPE_SPARSE
    raw = tar_body(base()) + header.tobuf(tarfile.GNU_FORMAT) + bytes(1024)
    refused(write(tmp_path, raw), r"'app/holes' is a sparse file")


def test_symlink_chain_that_escapes_is_refused(tmp_path: Path) -> None:
    # Each target looks harmless on its own: "x" -> "." and "y" -> "x/..", but y is "..".
    members = base() + [link("x", "."), link("y", "x/..")]
    members += [link("app/deeper", "../y/..")]
    refused(bundle(tmp_path, members), r"is a symlink to '.*', which is outside the bundle")


def test_hardlink_through_an_escaping_directory_symlink_is_refused(tmp_path: Path) -> None:
    members = base() + [link("etc", "../../etc"), link("app/passwd", "etc/passwd", tarfile.LNKTYPE)]
    refused(bundle(tmp_path, members), r"which is outside the bundle")


@pytest.mark.parametrize("symlink_first", [True, False])
def test_member_written_through_a_symlink_is_refused(tmp_path: Path, symlink_first: bool) -> None:
    # Extracting x/Dockerfile through x -> "." would replace the Dockerfile already checked.
    through = [link("x", "."), reg("x/Dockerfile", b"FROM evil\n")]
    members = base() + (through if symlink_first else through[::-1])
    refused(
        bundle(tmp_path, members),
        r"^Bundle member 'x/Dockerfile' is inside 'x', which is a symlink\.$",
    )


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    members = base() + [link("a", "b/x"), link("b", "a/y")]
    refused(bundle(tmp_path, members), r"which loops")


# --------------------------------------------------------------------------- required root files


def test_missing_manifest(tmp_path: Path) -> None:
    members = [reg("Dockerfile", DOCKERFILE), reg("app/lumbung.yaml", MANIFEST)]
    refused(bundle(tmp_path, members), r"^The bundle has no lumbung.yaml at its root\.$")


def test_manifest_must_be_a_regular_file(tmp_path: Path) -> None:
    members = [
        reg("real.yaml", MANIFEST),
        link("lumbung.yaml", "real.yaml"),
        reg("Dockerfile", DOCKERFILE),
    ]
    refused(bundle(tmp_path, members), r"^lumbung.yaml must be a regular file\.$")


def test_manifest_size_limit(tmp_path: Path) -> None:
    members = [reg("lumbung.yaml", b"#" * (256 * 1024 + 1)), reg("Dockerfile", DOCKERFILE)]
    refused(
        bundle(tmp_path, members), r"^lumbung.yaml is 262145 bytes; the limit is 262144 bytes\.$"
    )


def test_missing_dockerfile_and_image(tmp_path: Path) -> None:
    members = base(dockerfile=False) + [reg("app/Dockerfile", DOCKERFILE)]
    refused(
        bundle(tmp_path, members),
        r"^The bundle has neither a Dockerfile nor an image.tar at its root\.$",
    )


def test_dockerfile_must_be_a_regular_file(tmp_path: Path) -> None:
    members = base(dockerfile=False) + [directory("Dockerfile")]
    refused(bundle(tmp_path, members), r"^Dockerfile must be a regular file\.$")


def test_both_dockerfile_and_image(tmp_path: Path) -> None:
    members = base() + [reg("image.tar", image_tar())]
    refused(
        bundle(tmp_path, members),
        r"^The bundle has both a Dockerfile and an image.tar; include only one\.$",
    )


def test_image_without_manifest_json(tmp_path: Path) -> None:
    members = base(dockerfile=False) + [reg("image.tar", image_tar(with_manifest=False))]
    refused(bundle(tmp_path, members), r"^image.tar has no manifest.json at its root")


def test_image_that_is_not_a_tar(tmp_path: Path) -> None:
    members = base(dockerfile=False) + [reg("image.tar", b"not a tar at all\n" * 64)]
    refused(bundle(tmp_path, members), r"^image.tar in the bundle is not a tar archive\.$")


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (
            reg("../../etc/cron.d/evil", b"x"),
            r"image.tar member '../../etc/cron.d/evil' contains a '..' component",
        ),
        (
            link("3f1e0a/evil", "/etc/shadow"),
            r"image.tar member '3f1e0a/evil' is a symlink to '/etc/shadow', which is outside image.tar",
        ),
        (special("dev", tarfile.CHRTYPE), r"image.tar member 'dev' is a character device"),
    ],
)
def test_image_members_are_checked_too(tmp_path: Path, member: Member, message: str) -> None:
    members = base(dockerfile=False) + [reg("image.tar", image_tar(extra=[member]))]
    refused(bundle(tmp_path, members), message)


def test_truncated_image_archive(tmp_path: Path) -> None:
    inner = image_tar()
    members = base(dockerfile=False) + [reg("image.tar", inner[: inner.index(b"layer.tar") + 700])]
    refused(bundle(tmp_path, members), r"image.tar in the bundle is corrupt or truncated")


# --------------------------------------------------------------------------- properties

_COMPONENTS = st.sampled_from(
    ["..", ".", "", "a", "b", "C:", "c:x", "x\\..", "\\", "lumbung.yaml", "…"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(components=st.lists(_COMPONENTS, min_size=1, max_size=5), leading_slash=st.booleans())
def test_accepted_member_names_never_escape(
    tmp_path_factory: pytest.TempPathFactory, components: list[str], leading_slash: bool
) -> None:
    name = ("/" if leading_slash else "") + "/".join(components)
    info, data = reg("placeholder", b"x")
    info.pax_headers = {"path": name}
    path = write(tmp_path_factory.mktemp("names"), tar_bytes(base() + [(info, data)]))
    try:
        inspect(path)
    except BundleError:
        event("refused")
        return
    event("accepted")
    posix = posixpath.normpath(posixpath.join("/srv/root", name))
    windows = ntpath.normpath(ntpath.join("C:\\srv\\root", name))
    assert posix.startswith("/srv/root/")
    assert windows.startswith("C:\\srv\\root\\")


_LINK_NAMES = ["a", "b", "d/c", "d/e"]


def _within(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root) + os.sep)


_TARGET_PARTS = st.sampled_from(["..", ".", "a", "b", "c", "d", "e"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    targets=st.dictionaries(
        st.sampled_from(_LINK_NAMES),
        st.lists(_TARGET_PARTS, min_size=1, max_size=4).map("/".join),
        min_size=1,
    )
)
def test_accepted_symlinks_resolve_inside_on_a_real_filesystem(
    tmp_path_factory: pytest.TempPathFactory, targets: dict[str, str]
) -> None:
    members = base() + [directory("d")] + [link(name, target) for name, target in targets.items()]
    work = tmp_path_factory.mktemp("links")
    path = write(work, tar_bytes(members))
    reason = ""
    try:
        inspect(path)
    except BundleError as exc:
        reason = str(exc)
    accepted = not reason

    # Recreate the links on disk and resolve them there.
    root = Path(os.path.realpath(work / "root"))
    (root / "d").mkdir(parents=True)
    for name, target in targets.items():
        os.symlink(target, root / name)
    escapes = {name for name in targets if not _within(os.path.realpath(root / name), root)}
    event("accepted" if accepted else "refused")
    if accepted:
        assert escapes == set()
    elif "outside" in reason:
        assert escapes, reason


# --------------------------------------------------------------------------- pack_directory


def _source_tree(root: Path) -> Path:
    (root / "app" / "static").mkdir(parents=True)
    (root / "lumbung.yaml").write_bytes(MANIFEST)
    (root / "Dockerfile").write_bytes(DOCKERFILE)
    (root / "app" / "main.py").write_text("print('halo')\n")
    (root / "app" / "run.sh").write_text("#!/bin/sh\nexec python main.py\n")
    (root / "app" / "run.sh").chmod(0o700)
    (root / "app" / "secret.txt").write_text("x\n")
    (root / "app" / "secret.txt").chmod(0o600)
    (root / "app" / "static" / "index.html").write_text("<p>halo</p>\n")
    (root / "app" / "empty").mkdir()
    os.symlink("../main.py", root / "app" / "static" / "main.py")
    for junk in [
        ".git/config",
        "app/__pycache__/main.cpython-311.pyc",
        "app/old.pyc",
        ".DS_Store",
        "app/.DS_Store",
    ]:
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("junk\n")
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pack_directory_is_reproducible(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "src")
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake busybox")
    busybox.chmod(0o755)

    pack_directory(source, tmp_path / "one.bundle", extra_files={"bin/busybox": busybox})
    os.utime(source / "app" / "main.py", (1_700_000_000, 1_700_000_000))
    (source / "app" / "secret.txt").chmod(0o640)
    pack_directory(source, tmp_path / "two.bundle", extra_files={"bin/busybox": busybox})

    assert _sha(tmp_path / "one.bundle") == _sha(tmp_path / "two.bundle")
    assert (tmp_path / "one.bundle").read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime


def test_pack_directory_contents(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "src")
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake busybox")
    busybox.chmod(0o755)
    out = tmp_path / "out" / "app.bundle"

    pack_directory(source, out, extra_files={"bin/busybox": busybox})

    with tarfile.open(out, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "Dockerfile",
        "app",
        "app/empty",
        "app/main.py",
        "app/run.sh",
        "app/secret.txt",
        "app/static",
        "app/static/index.html",
        "app/static/main.py",
        "bin",
        "bin/busybox",
        "lumbung.yaml",
    ]
    by_name = {m.name: m for m in members}
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert by_name["app/run.sh"].mode == 0o755
    assert by_name["app/secret.txt"].mode == 0o644
    assert by_name["app"].mode == 0o755
    assert (
        by_name["bin/busybox"].mode == 0o755
        and by_name["bin/busybox"].size == busybox.stat().st_size
    )
    assert (
        by_name["app/static/main.py"].issym()
        and by_name["app/static/main.py"].linkname == "../main.py"
    )

    info = inspect(out, BundleLimits())
    assert info.kind == "dockerfile" and info.manifest_bytes == MANIFEST


def test_pack_directory_refuses_symlink_leaving_the_directory(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "src")
    os.symlink("../../outside", source / "app" / "escape")
    with pytest.raises(BundleError, match=r"points outside"):
        pack_directory(source, tmp_path / "out.bundle")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_pack_directory_refuses_absolute_symlink(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "src")
    os.symlink(source / "app" / "main.py", source / "abs")
    with pytest.raises(BundleError, match=r"is absolute"):
        pack_directory(source, tmp_path / "out.bundle")


def test_pack_directory_skips_its_own_destination(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "src")
    pack_directory(source, source / "app.bundle")
    first = _sha(source / "app.bundle")
    pack_directory(source, source / "app.bundle")
    assert _sha(source / "app.bundle") == first


def test_pack_directory_refuses_bad_extra_file_names(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "src")
    with pytest.raises(BundleError, match=r"contains a '..' component"):
        pack_directory(
            source, tmp_path / "out.bundle", extra_files={"../busybox": source / "Dockerfile"}
        )
    with pytest.raises(BundleError, match=r"is already in"):
        pack_directory(
            source, tmp_path / "out.bundle", extra_files={"Dockerfile": source / "Dockerfile"}
        )


# --------------------------------------------------------------------------- BundleStore

SHA = "ab" + "c" * 62


def test_store_layout_and_validation(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    assert store.path_for(SHA) == tmp_path / "store" / "ab" / f"{SHA}.bundle"
    assert store.path_for(SHA.upper()) == store.path_for(SHA)
    for bad in [
        "",
        "abc",
        "g" * 64,
        "a" * 63,
        "a" * 65,
        "../" + "a" * 61,
        "a" * 63 + "/",
        " " + "a" * 63,
    ]:
        with pytest.raises(ValueError):
            store.path_for(bad)


def test_store_put_twice_keeps_one_file(tmp_path: Path) -> None:
    source = write(tmp_path, b"bundle bytes")
    sha = hashlib.sha256(b"bundle bytes").hexdigest()
    store = BundleStore(tmp_path / "store")

    assert not store.exists(sha)
    first = store.put(source, sha)
    second = store.put(source, sha)

    assert first == second == store.path_for(sha)
    assert store.exists(sha)
    assert _listing(tmp_path / "store") == {sha[:2], f"{sha[:2]}/{sha}.bundle"}
    with store.open(sha) as stored:
        assert stored.read() == b"bundle bytes"
    assert source.exists()

    store.delete(sha)
    store.delete(sha)
    assert not store.exists(sha)
    with pytest.raises(FileNotFoundError):
        store.open(sha)


def test_store_refuses_content_that_does_not_match(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    with pytest.raises(ValueError, match="does not have sha256"):
        store.put(write(tmp_path, b"something"), SHA)
    assert not store.exists(SHA)
    assert list((tmp_path / "store" / "ab").iterdir()) == []


def test_store_put_leaves_nothing_behind_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(tmp_path, b"bundle bytes")
    sha = hashlib.sha256(b"bundle bytes").hexdigest()
    store = BundleStore(tmp_path / "store")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk gone"):
        store.put(source, sha)
    assert not store.exists(sha)
    assert list((tmp_path / "store" / sha[:2]).iterdir()) == []


# --------------------------------------------------------------------------- spool_upload


def test_spool_upload_hashes_and_sizes(tmp_path: Path) -> None:
    chunks = [b"abc", b"", b"def" * 1000]
    path, sha, size = spool_upload(chunks, tmp_path, max_bytes=10_000)
    assert path.parent == tmp_path
    assert path.read_bytes() == b"".join(chunks)
    assert sha == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert size == 3003


def test_spool_upload_from_file_object(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    path, sha, size = spool_upload(io.BytesIO(data), tmp_path, max_bytes=len(data))
    assert (path.read_bytes(), sha, size) == (data, hashlib.sha256(data).hexdigest(), len(data))


def test_spool_upload_cuts_off_a_too_large_upload(tmp_path: Path) -> None:
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * 1024

    with pytest.raises(
        BundleError, match=r"^The upload is larger than the limit of 10240 bytes\.$"
    ):
        spool_upload(endless(), tmp_path, max_bytes=10 * 1024)
    assert pulled == 11
    assert list(tmp_path.iterdir()) == []


def test_spool_upload_removes_the_file_when_the_stream_fails(tmp_path: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        spool_upload(broken(), tmp_path, max_bytes=1024)
    assert list(tmp_path.iterdir()) == []


async def test_spool_upload_async(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        for part in (b"lum", b"bung"):
            yield part

    path, sha, size = await spool_upload_async(body(), tmp_path, max_bytes=7)
    assert (path.read_bytes(), sha, size) == (b"lumbung", hashlib.sha256(b"lumbung").hexdigest(), 7)


async def test_spool_upload_async_cut_off(tmp_path: Path) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 4096

    with pytest.raises(BundleError, match="larger than the limit"):
        await spool_upload_async(endless(), tmp_path, max_bytes=10_000)
    assert list(tmp_path.iterdir()) == []


def test_spool_then_inspect_then_store(tmp_path: Path) -> None:
    data = tar_bytes(base(), compress=True)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    path, sha, size = spool_upload(io.BytesIO(data), uploads, max_bytes=SMALL.max_bytes)
    info = inspect(path)
    assert (info.sha256, info.size) == (sha, size)
    stored = BundleStore(tmp_path / "store").put(path, info.sha256)
    assert stored.read_bytes() == data
