"""Uploads are accepted by content: PDF, PNG, JPEG and XLSX; anything else, whatever its name, is 415."""

import io
import zipfile

import pytest

from kernel.errors import PayloadTooLarge, UnsupportedMediaType
from kernel.uploads import JPEG, PDF, PNG, XLSX, check_upload, download_headers, sniff

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20 + b"\xff\xd9"
PDF_BYTES = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SHEET_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def _zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def _xlsx(extra=None, content_types=SHEET_TYPE):
    return _zip({"[Content_Types].xml": b"<Types><Override ContentType='" + content_types + b"'/></Types>",
                 "xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"<worksheet/>", **(extra or {})})


def test_accepted_kinds_by_magic_bytes():
    assert check_upload(PDF_BYTES) == PDF
    assert check_upload(PNG_BYTES) == PNG
    assert check_upload(JPEG_BYTES) == JPEG
    assert check_upload(_xlsx()) == XLSX


@pytest.mark.parametrize("data", [
    b"<html><script>alert(1)</script></html>",
    b"MZ\x90\x00 an executable",
    b"GIF89a....",
    b"",
    b" %PDF-1.7 not at the start",
    b"\x89PNG\r\n\x1a\n but no header chunk",
    _zip({"word/document.xml": b"<doc/>", "[Content_Types].xml": b"<Types/>"}),       # a .docx
    _xlsx({"xl/vbaProject.bin": b"macro"}),                                             # .xlsm in disguise
    _xlsx(content_types=b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"),
    _zip({"[Content_Types].xml": SHEET_TYPE, "xl/workbook.xml": b"\x00" * 5_000_000}),  # unpacks 100x+
    b"PK\x03\x04 a broken zip",
])
def test_anything_else_is_415(data):
    with pytest.raises(UnsupportedMediaType):
        check_upload(data)


def test_size_limit_and_narrower_allowed_set():
    with pytest.raises(PayloadTooLarge):
        check_upload(PDF_BYTES + b"x" * 100, max_bytes=50)
    with pytest.raises(UnsupportedMediaType) as err:
        check_upload(PDF_BYTES, allowed=frozenset({XLSX}))
    assert "XLSX" in err.value.detail
    assert sniff(PNG_BYTES) == PNG


def test_download_headers_never_let_a_browser_render_an_upload():
    headers = download_headers(PDF, "合同 v1.pdf")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Content-Type"] == PDF
    assert headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    assert " " not in headers["Content-Disposition"].split("''")[1]
