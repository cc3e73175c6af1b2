"""A JSONL file as lines and as byte ranges that start at line starts, and files that are not text."""

from __future__ import annotations

from collections.abc import Iterator

MAX_LINE_BYTES = 64 * 1024 * 1024
_READ_BLOCK = 1024 * 1024
BOM = b"\xef\xbb\xbf"
_BINARY_SIGNATURES = {
    b"\x1f\x8b": "a gzip archive",
    b"PK\x03\x04": "a zip archive",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
    b"PAR1": "a Parquet file",
}
# What iter_lines yields in place of a line over MAX_LINE_BYTES.
TOO_LONG = object()
# Bytes a text file is made of: tab, line ends and everything from space up, but DEL.
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(128, 256)])


def iter_lines(path: str, start: int, end: int) -> Iterator[bytes | object]:
    """The lines of a byte range without their newline; a line over MAX_LINE_BYTES yields TOO_LONG."""
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        partial: list[bytes] = []
        partial_size = 0
        too_long = False
        while remaining > 0:
            block = handle.read(min(_READ_BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            pieces = block.split(b"\n")
            if len(pieces) == 1:
                if not too_long:
                    partial.append(block)
                    partial_size += len(block)
                    if partial_size > MAX_LINE_BYTES:
                        too_long, partial, partial_size = True, [], 0
                continue
            if too_long:
                yield TOO_LONG
                too_long = False
            elif partial:
                partial.append(pieces[0])
                yield b"".join(partial)
            else:
                yield pieces[0]
            partial, partial_size = [], 0
            last = pieces.pop()
            yield from pieces[1:]
            if last:
                partial, partial_size = [last], len(last)
        if too_long:
            yield TOO_LONG
        elif partial:
            yield b"".join(partial)


def split_ranges(path: str, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about chunk_bytes that each start at the beginning of a line."""
    ranges = []
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            boundary = start + chunk_bytes
            if boundary >= size:
                ranges.append((start, size))
                break
            handle.seek(boundary)
            while True:
                block = handle.read(64 * 1024)
                if not block:
                    boundary = size
                    break
                newline = block.find(b"\n")
                if newline >= 0:
                    boundary += newline + 1
                    break
                boundary += len(block)
            ranges.append((start, boundary))
            start = boundary
    return ranges


def sniff_binary(path: str) -> str | None:
    """A message when the file is plainly not text (an archive, an image, UTF-16...)."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return f"This is {what}, not a JSONL text file."
    # A stray NUL in text is reported on its line; NULs among many control bytes are a binary file.
    if b"\x00" in head and len(head.translate(None, _TEXT_BYTES)) * 100 > len(head):
        return "This is a binary file, not a JSONL text file."
    return None
