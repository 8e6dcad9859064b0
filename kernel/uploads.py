"""Uploaded files are judged by their content, never by their name or the client's Content-Type.

``check_upload`` answers the content type to store (PDF, PNG, JPEG or XLSX by magic bytes and, for
XLSX, the package's own structure), or refuses: 413 over the size limit, 415 for anything else,
including macro-enabled workbooks and archives that would unpack to far more than they weigh. Serve
stored files with ``download_headers`` so a browser never renders one as a page.
"""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote

from kernel.errors import PayloadTooLarge, UnsupportedMediaType

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCUMENT_TYPES = frozenset({PDF, PNG, JPEG, XLSX})
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# An XLSX that unpacks to more than this many times its size (or over 200 MiB) is refused: a zip bomb.
MAX_UNPACK_RATIO = 100
MAX_UNPACKED_BYTES = 200 * 1024 * 1024

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_NAMES = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG", XLSX: "XLSX"}


def _xlsx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
            unpacked = sum(i.file_size for i in infos)
            if unpacked > min(MAX_UNPACKED_BYTES, max(len(data), 1) * MAX_UNPACK_RATIO):
                return False
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                return False
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                return False  # macros: .xlsm dressed as .xlsx
            types = archive.read("[Content_Types].xml")
            return b"spreadsheetml.sheet.main+xml" in types
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return False


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (of the accepted kinds), or None."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(_PNG_MAGIC) and data[12:16] == b"IHDR":
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04") and _xlsx(data):
        return XLSX
    return None


def check_upload(data: bytes, *, allowed: frozenset[str] = DOCUMENT_TYPES,
                 max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """The content type to store for ``data``, or 413 / 415."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the file must not exceed {max_bytes} bytes")
    kind = sniff(data)
    if kind is None or kind not in allowed:
        names = ", ".join(sorted(_NAMES[t] for t in allowed))
        raise UnsupportedMediaType(f"the file's content is not one of: {names}")
    return kind


def download_headers(content_type: str, filename: str) -> dict[str, str]:
    """Headers for serving a stored upload: the sniffed type, as an attachment, never sniffed again."""
    return {"Content-Type": content_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox"}
