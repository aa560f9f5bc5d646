"""A streaming ZIP writer for archive downloads, in constant memory.

Members are stored, not compressed (DICOM pixel data barely compresses and the CPU is better
spent elsewhere). Every member's size and CRC-32 are known before streaming — StoredFile keeps
them — so each local header carries them and no byte is hashed while sending: throughput is
bound by reading the files. ZIP64 records are written only when a size, an offset or the
member count needs them, so small archives stay readable by every unzip tool.

The total length is known up front (`zip_length`), so responses can send Content-Length.
"""
import datetime as dt
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

CHUNK = 1024 * 1024
ZIP32_LIMIT = 0xFFFFFFFF
COUNT_LIMIT = 0xFFFF
VERSION_ZIP64 = 45
VERSION_DEFAULT = 20
FLAG_UTF8 = 0x0800


@dataclass
class ZipMember:
    name: str
    size: int
    crc32: int
    opener: Callable[[], BinaryIO] | None = None
    data: bytes | None = None
    mtime: dt.datetime = field(default_factory=lambda: dt.datetime(2020, 1, 1))

    @classmethod
    def from_bytes(cls, name: str, data: bytes, mtime: dt.datetime | None = None) -> "ZipMember":
        return cls(name=name, size=len(data), crc32=zlib.crc32(data) & 0xFFFFFFFF, data=data,
                   mtime=mtime or dt.datetime(2020, 1, 1))

    def chunks(self, chunk_size: int) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        sent = 0
        with self.opener() as fh:
            while chunk := fh.read(chunk_size):
                sent += len(chunk)
                yield chunk
        if sent != self.size:
            raise OSError(f"{self.name}: expected {self.size} bytes, read {sent}")


def _dos_time(moment: dt.datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    date = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return time, date


def _local_header(member: ZipMember, name: bytes, zip64: bool) -> bytes:
    time, date = _dos_time(member.mtime)
    extra = b""
    size32 = member.size
    if zip64:
        extra = struct.pack("<HHQQ", 0x0001, 16, member.size, member.size)
        size32 = ZIP32_LIMIT
    return struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, VERSION_ZIP64 if zip64 else VERSION_DEFAULT, FLAG_UTF8, 0, time, date,
        member.crc32, size32, size32, len(name), len(extra),
    ) + name + extra


def _central_header(member: ZipMember, name: bytes, offset: int) -> bytes:
    time, date = _dos_time(member.mtime)
    values = []
    size32 = member.size
    offset32 = offset
    if member.size >= ZIP32_LIMIT:
        values += [member.size, member.size]
        size32 = ZIP32_LIMIT
    if offset >= ZIP32_LIMIT:
        values.append(offset)
        offset32 = ZIP32_LIMIT
    extra = struct.pack("<HH", 0x0001, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values) if values else b""
    version = VERSION_ZIP64 if values else VERSION_DEFAULT
    return struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | version, version, FLAG_UTF8, 0, time, date, member.crc32,
        size32, size32, len(name), len(extra), 0, 0, 0, 0o100644 << 16, offset32,
    ) + name + extra


def _end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    out = b""
    if count >= COUNT_LIMIT or cd_offset >= ZIP32_LIMIT or cd_size >= ZIP32_LIMIT:
        zip64_eocd_offset = cd_offset + cd_size
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, VERSION_ZIP64, VERSION_ZIP64, 0, 0, count, count, cd_size, cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, zip64_eocd_offset, 1)
    out += struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, min(count, COUNT_LIMIT), min(count, COUNT_LIMIT),
        min(cd_size, ZIP32_LIMIT), min(cd_offset, ZIP32_LIMIT), 0,
    )
    return out


def stream_zip(members: Iterable[ZipMember], chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Yield the bytes of a ZIP holding `members`, in order. Names must be unique."""
    offset = 0
    central = []
    seen = set()
    for member in members:
        if member.name in seen:
            raise ValueError(f"duplicate zip entry name: {member.name}")
        seen.add(member.name)
        name = member.name.encode("utf-8")
        header = _local_header(member, name, member.size >= ZIP32_LIMIT)
        central.append(_central_header(member, name, offset))
        yield header
        yield from member.chunks(chunk_size)
        offset += len(header) + member.size
    cd = b"".join(central)
    yield cd
    yield _end_records(len(central), offset, len(cd))


def zip_length(members: Iterable[ZipMember]) -> int:
    """The exact byte length stream_zip will produce, without reading any member."""
    offset = 0
    cd_size = 0
    count = 0
    for member in members:
        name = member.name.encode("utf-8")
        offset_before = offset
        offset += len(_local_header(member, name, member.size >= ZIP32_LIMIT)) + member.size
        cd_size += len(_central_header(member, name, offset_before))
        count += 1
    return offset + cd_size + len(_end_records(count, offset, cd_size))
