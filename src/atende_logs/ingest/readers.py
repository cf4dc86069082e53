"""Turn an uploaded byte stream (NDJSON, JSON array or CSV) into records, in constant memory."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import ijson
import orjson

from atende_logs.formats import Format

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "READABLE",
    "Record",
    "detect_format",
    "FileRange",
    "ndjson_blocks",
    "ndjson_ranges",
    "read_ndjson_block",
    "read_ndjson_range",
    "read_records",
]

READABLE = (Format.NDJSON, Format.JSON, Format.CSV)
"""The formats an import reads; ``None`` in their place means "detect NDJSON or a JSON array"."""

_BOM = b"\xef\xbb\xbf"
# JSON's own whitespace; bytes.strip() would also eat \x0b and \x0c, which JSON rejects.
_WS = b" \t\r\n"
_CHUNK = io.DEFAULT_BUFFER_SIZE
_CSV_DELIMITERS = (",", ";", "\t")
# Bytes that are not valid UTF-8 come back from "surrogateescape" as U+DC80..U+DCFF.
_BAD_UTF8 = re.compile("[\udc80-\udcff]")
_BOOLS = {"true": True, "1": True, "sim": True, "false": False, "0": False, "não": False}

MAX_DEPTH = 64
"""Most levels of objects and arrays a record may nest, itself included. Real logs nest
four; past 254 a record could not be written back as JSON (orjson's limit), so an erasure
or an export of it would fail."""
TOO_DEEP = f"o registro aninha objetos e listas em mais de {MAX_DEPTH} níveis"

_NOT_OBJECT = "o registro não é um objeto JSON"
_NOT_ARRAY = "o corpo deve ser um array JSON ou NDJSON"
_NOT_UTF8 = "texto não é UTF-8 válido"


@dataclass(frozen=True)
class Record:
    """One input record: its 1-based position and either the parsed object or an error."""

    position: int
    value: dict[str, Any] | None
    error: str | None
    raw: bytes | None = field(default=None, compare=False)
    """The record's JSON exactly as it came (NDJSON only), stored as is to skip re-encoding:
    UTF-8, which orjson checked, never decoded here.

    Left out of comparisons: two records are the same when they hold the same object."""


def detect_format(head: bytes) -> Format:
    """JSON (an array) when the first significant byte is '[', else NDJSON."""
    return Format.JSON if head.removeprefix(_BOM).lstrip(_WS).startswith(b"[") else Format.NDJSON


def read_records(stream: BinaryIO, fmt: Format | None = None) -> Iterator[Record]:
    """Read `stream` lazily as `fmt` (None: detect it); the stream is never closed here."""
    if fmt is not None and fmt not in READABLE:
        raise ValueError(f"formato desconhecido: {fmt!r}")
    if fmt == Format.CSV:
        return _read_csv(stream)
    return _read_json_family(stream, fmt)


def _read_json_family(stream: BinaryIO, fmt: Format | None) -> Iterator[Record]:
    head, skipped_lines = _skip_leading_whitespace(stream)
    if fmt is None:
        fmt = detect_format(head)
    if fmt == Format.JSON and not head.startswith(b"["):
        yield Record(1, None, _NOT_ARRAY)
        return
    # The bytes consumed while sniffing are served again before the rest of the stream.
    body = io.BufferedReader(_Prepended(head, stream))
    if fmt == Format.JSON:
        yield from _read_array(body)
    else:
        yield from _read_ndjson(body, first_line=skipped_lines + 1)


def _skip_leading_whitespace(stream: BinaryIO) -> tuple[bytes, int]:
    """Consume the BOM and leading whitespace; return what follows and the newlines skipped.

    Whitespace is dropped rather than kept so a huge blank prefix cannot grow memory.
    """
    buf = b""
    newlines = 0
    bom_checked = False
    while chunk := _read_some(stream, _CHUNK):
        buf += chunk
        if not bom_checked:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                continue  # the BOM may arrive split across reads
            bom_checked = True
            buf = buf.removeprefix(_BOM)
        rest = buf.lstrip(_WS)
        newlines += buf.count(b"\n", 0, len(buf) - len(rest))
        buf = rest
        if buf:
            break
    return buf, newlines


def _read_some(stream: BinaryIO, size: int) -> bytes:
    # read1 returns what is already available, so a slow upload still yields records early.
    read1 = getattr(stream, "read1", None)
    data = read1(size) if read1 is not None else stream.read(size)
    return bytes(data) if data else b""


class _Prepended(io.RawIOBase):
    """A raw stream serving `head` and then the rest of `tail`, without closing `tail`."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        out = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(out), len(self._head))
            out[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = _read_some(self._tail, len(out))
        out[: len(data)] = data
        return len(data)


def ndjson_blocks(stream: BinaryIO, size: int = 4 << 20) -> Iterator[tuple[bytes, int]]:
    """NDJSON in blocks of whole lines of about ``size`` bytes, each with its first line's
    number: ``read_ndjson_block`` on each, in order, gives what ``read_records`` gives."""
    head, skipped_lines = _skip_leading_whitespace(stream)
    carry, line = head, skipped_lines + 1
    while True:
        data = stream.read(size)
        if not data:
            break
        carry += data
        end = carry.rfind(b"\n") + 1
        if end:
            block, carry = carry[:end], carry[end:]
            yield block, line
            line += block.count(b"\n")
    if carry:
        yield carry, line


FileRange = tuple[str, int, int]
"""Part of a file: its path, the offset of its first byte, the offset past its last."""


def ndjson_ranges(
    stream: BinaryIO, path: str, size: int = 4 << 20
) -> Iterator[tuple[FileRange, int | None]]:
    """What ``ndjson_blocks`` gives, as ranges of the file at ``path`` that ``stream`` reads,
    from where it is to the end the file has now: only the bytes around each range's end
    are read here. The first range comes with its first line's number; the others with
    None, their lines before not being counted here (``read_ndjson_range`` counts them)."""
    head, skipped = _skip_leading_whitespace(stream)
    start = stream.tell() - len(head)
    file_end = os.fstat(stream.fileno()).st_size
    first_line: int | None = skipped + 1
    while start < file_end:
        end = _line_end(stream, min(start + size, file_end), file_end)
        yield (path, start, end), first_line
        start, first_line = end, None


def _line_end(stream: BinaryIO, at: int, file_end: int) -> int:
    """The offset past the first newline at ``at - 1`` or after (``file_end`` if none)."""
    stream.seek(at - 1)
    while chunk := stream.read(_CHUNK):
        found = chunk.find(b"\n")
        if found >= 0:
            return min(at + found, file_end)
        at += len(chunk)
    return file_end


def read_ndjson_range(part: FileRange) -> tuple[bytes, int]:
    """The bytes of ``part`` and how many newlines they hold."""
    path, start, end = part
    with open(path, "rb") as file:
        file.seek(start)
        block = file.read(end - start)
    return block, block.count(b"\n")


def read_ndjson_block(block: bytes, first_line: int) -> Iterator[Record]:
    """The records of one block from ``ndjson_blocks``."""
    return _read_ndjson(io.BytesIO(block), first_line)


def _read_ndjson(body: io.BufferedIOBase, first_line: int) -> Iterator[Record]:
    for position, line in enumerate(body, start=first_line):
        if not line.strip(_WS):
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            # orjson stops at 1,024 levels; ingest refuses records past MAX_DEPTH anyway.
            deep = exc.msg.startswith("depth limit")
            yield Record(position, None, TOO_DEEP if deep else f"JSON inválido: {exc.msg}")
            continue
        if isinstance(value, dict):
            # orjson has validated the line, so it is UTF-8 and one JSON object.
            yield Record(position, value, None, line.strip(_WS))
        else:
            yield _object_record(position, value)


def _read_array(body: io.BufferedIOBase) -> Iterator[Record]:
    # ijson's events without their prefixes, each element built here: ijson.items keeps a
    # prefix of one part per level ("item.a.item.item…"), so a deeply nested element cost
    # time in the square of its depth (docs/ingest.md#what-is-rejected).
    events = ijson.basic_parse(body, use_float=True)
    position, inside = 0, False
    try:
        next(events)  # the array's start: the caller saw its "["
        for event, value in events:
            if event == "end_array":
                break
            position, inside = position + 1, True
            if event not in _STARTS:
                yield _object_record(position, value)
            elif (built := _element(events, event)) is _TOO_DEEP:
                yield Record(position, None, TOO_DEEP)
            else:
                yield _object_record(position, built)
            inside = False
        for _ in events:  # what follows the array can only be an error
            pass
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        position += 0 if inside else 1  # an error between records is the next one's
        message = f"JSON inválido a partir do registro {position}: {_short_ijson_message(exc)}"
        yield Record(position, None, message)


_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})
_TOO_DEEP = object()


def _element(events: Iterator[tuple[str, Any]], first: str) -> Any:
    """The object or array ``first`` starts, built from the events up to its end; or
    ``_TOO_DEEP`` when it nests more than ``MAX_DEPTH`` levels (its events are consumed)."""
    root: Any = {} if first == "start_map" else []
    stack: list[Any] = [root]
    keys: list[Any] = []
    key: Any = None
    for event, value in events:
        if event == "map_key":
            key = value
            continue
        if event in _ENDS:
            stack.pop()
            if not stack:
                return root
            key = keys.pop()
            continue
        if event in _STARTS:
            if len(stack) == MAX_DEPTH:
                _skip(events, len(stack) + 1)
                return _TOO_DEEP
            value = {} if event == "start_map" else []
        top = stack[-1]
        if type(top) is dict:
            top[key] = value
        else:
            top.append(value)
        if event in _STARTS:
            stack.append(value)
            keys.append(key)
    return root  # unreachable: the parser raises at the end of input inside an element


def _skip(events: Iterator[tuple[str, Any]], depth: int) -> None:
    """Consume events until ``depth`` open containers have closed."""
    for event, _ in events:
        if event in _STARTS:
            depth += 1
        elif event in _ENDS:
            depth -= 1
            if not depth:
                return


def _short_ijson_message(exc: Exception) -> str:
    # yajl appends the offending input (user data) and a caret on further lines, and some
    # of its errors arrive as the repr of a bytes object; keep only the reason.
    text = str(exc)
    if text[:2] in ("b'", 'b"'):
        text = text[2:]
    return text.split("\n", 1)[0].split("\\n", 1)[0].strip()


def _object_record(position: int, value: Any) -> Record:
    if isinstance(value, dict):
        return Record(position, value, None)
    return Record(position, None, _NOT_OBJECT)


def _read_csv(stream: BinaryIO) -> Iterator[Record]:
    # surrogateescape instead of strict: a strict decoder fails on whole read-ahead chunks,
    # so the error could not be pinned to the line that holds the bad bytes.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from _csv_records(text)
    finally:
        # Detach so the wrapper, once collected, does not close the caller's stream.
        with contextlib.suppress(ValueError):
            text.detach()


def _csv_records(text: io.TextIOWrapper) -> Iterator[Record]:
    skipped = 0
    for header_line in text:
        if header_line.strip():
            break
        skipped += 1
    else:
        return
    delimiter = max(_CSV_DELIMITERS, key=header_line.count)  # ties go to ","
    reader = csv.reader(itertools.chain([header_line], text), delimiter=delimiter)
    header: list[str] | None = None
    while True:
        position = skipped + reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(position, None, f"CSV inválido: {exc}")
            return
        if any(_BAD_UTF8.search(cell) for cell in row):
            yield Record(position, None, _NOT_UTF8)
            return
        if header is None:
            header = [name.strip() for name in row]
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            message = f"a linha tem {len(row)} colunas, o cabeçalho tem {len(header)}"
            yield Record(position, None, message)
            continue
        value = {name: _csv_cell(name, cell) for name, cell in zip(header, row, strict=True)}
        yield Record(position, value, None)


def _csv_cell(name: str, cell: str) -> Any:
    if cell == "":
        return None
    if name == "is_scheduled":
        key = unicodedata.normalize("NFC", cell.strip()).casefold()
        return _BOOLS.get(key, cell)
    return cell
