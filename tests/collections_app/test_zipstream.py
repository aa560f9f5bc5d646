import hashlib
import io
import zipfile
import zlib

import pytest

from collections_app.services import zipstream
from collections_app.services.zipstream import ZipMember, stream_zip, zip_length


def _member_from_bytes_via_opener(name, data):
    return ZipMember(name=name, size=len(data), crc32=zlib.crc32(data), opener=lambda: io.BytesIO(data))


def test_stream_zip_round_trips_with_zipfile_and_length_is_exact():
    payloads = {f"study/series/1-{i:02d}.dcm": bytes([i]) * (1000 + i * 37) for i in range(1, 12)}
    members = [ZipMember.from_bytes("LICENSE", b"CC BY 3.0\n")] + [
        _member_from_bytes_via_opener(n, d) for n, d in payloads.items()
    ]
    blob = b"".join(stream_zip(members, chunk_size=256))
    assert len(blob) == zip_length(members)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["LICENSE", *payloads]
        for name, data in payloads.items():
            assert hashlib.sha256(zf.read(name)).digest() == hashlib.sha256(data).digest()


def test_unicode_names_are_flagged_utf8():
    members = [ZipMember.from_bytes("Études/ß.txt", b"x")]
    with zipfile.ZipFile(io.BytesIO(b"".join(stream_zip(members)))) as zf:
        assert zf.namelist() == ["Études/ß.txt"]


def test_zip64_end_records_for_more_than_65535_members():
    # A real ZIP64 case that needs no 4 GB file: more entries than the 16-bit count holds.
    members = [ZipMember.from_bytes(f"{i:06d}.dcm", b"d") for i in range(70_000)]
    blob = b"".join(stream_zip(members))
    assert len(blob) == zip_length(members)
    assert b"PK\x06\x06" in blob and b"PK\x06\x07" in blob
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = zf.namelist()
        assert len(names) == 70_000
        assert zf.read("069999.dcm") == b"d"


def test_zip64_header_for_a_member_over_4_gib():
    # The header alone is checked: a 4 GiB body is not streamed in a unit test.
    member = ZipMember(name="big.dcm", size=5 * 1024**3, crc32=123, opener=lambda: io.BytesIO(b""))
    header = zipstream._local_header(member, b"big.dcm", True)
    assert header[18:26] == b"\xff" * 8  # 32-bit sizes deferred to the zip64 extra field
    central = zipstream._central_header(member, b"big.dcm", 0)
    assert central[20:28] == b"\xff" * 8


def test_short_read_fails_loudly():
    member = ZipMember(name="a", size=10, crc32=0, opener=lambda: io.BytesIO(b"abc"))
    with pytest.raises(OSError, match="expected 10 bytes"):
        b"".join(stream_zip([member]))


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        list(stream_zip([ZipMember.from_bytes("a", b"1"), ZipMember.from_bytes("a", b"2")]))
