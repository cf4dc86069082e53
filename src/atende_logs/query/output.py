"""The output parameters: a JSON page (the default) or the whole result as NDJSON or CSV.

``format`` chooses, and wins over what the request's Accept header asked for (the HTTP layer
reads that header and passes its choice as the default). ``delimiter``, ``bom`` and
``csv_formulas`` shape CSV; with another format they are refused rather than ignored, so a
mistyped ``format`` cannot go unnoticed.
"""

from __future__ import annotations

from atende_logs.errors import ParameterError
from atende_logs.formats import CSV_FORMULAS, CsvFormulas, Format, Output

OUTPUT_PARAMETERS: dict[str, str] = {
    "format": "Formato da resposta: json (uma página, o padrão), ndjson ou csv (o resultado "
    "inteiro, em fluxo)",
    "delimiter": "Separador do CSV: , (o padrão), ; ou tab",
    "bom": "true: o CSV começa com a marca BOM do UTF-8, para o Excel reconhecer a codificação",
    "csv_formulas": "escape (o padrão): células que começam como fórmula (=, +, -, @) ganham "
    "um ' inicial, para a planilha não executá-las; raw: células como armazenadas",
}
CSV_PARAMETERS = ("delimiter", "bom", "csv_formulas")
"""The parameters only a CSV export takes."""
FORMATS = (Format.JSON, Format.NDJSON, Format.CSV)
"""The formats a search answers in: a JSON page, or the whole result (an export)."""
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t"}
"""What ``delimiter`` accepts, and the character each means."""
_BOOLEANS = {"true": True, "false": False}
_PLAIN = {fmt: Output(fmt) for fmt in FORMATS}
"""The output of each format without CSV options: made once, not per request."""


def parse_output(values: dict[str, str], default_format: Format) -> Output:
    """The ``format``, ``delimiter``, ``bom`` and ``csv_formulas`` of a request (already
    single-valued).

    Raises ParameterError naming the parameter that is malformed, or that only CSV takes.
    """
    raw_format = values.get("format")
    chosen = default_format if raw_format is None else _format(raw_format)
    delimiter, bom, formulas = (values.get(name) for name in CSV_PARAMETERS)
    if chosen != Format.CSV:
        for name in CSV_PARAMETERS:
            if values.get(name) is not None:
                raise ParameterError(
                    name, f"{name} só se aplica ao formato csv (format=csv ou Accept: text/csv)"
                )
        return _PLAIN[chosen]
    return Output(
        Format.CSV,
        delimiter="," if delimiter is None else _delimiter(delimiter),
        bom=False if bom is None else _bom(bom),
        formulas="escape" if formulas is None else _formulas(formulas),
    )


def _format(raw: str) -> Format:
    text = raw.strip().lower()
    for fmt in FORMATS:
        if text == fmt:
            return fmt
    raise ParameterError("format", f"format deve ser json, ndjson ou csv: {raw!r}")


def _delimiter(raw: str) -> str:
    found = DELIMITERS.get(raw) or DELIMITERS.get(raw.strip().lower())
    if found is None:
        raise ParameterError("delimiter", f"delimiter deve ser ',', ';' ou tab: {raw!r}")
    return found


def _bom(raw: str) -> bool:
    found = _BOOLEANS.get(raw.strip().lower())
    if found is None:
        raise ParameterError("bom", f"bom deve ser true ou false: {raw!r}")
    return found


def _formulas(raw: str) -> CsvFormulas:
    text = raw.strip().lower()
    for name in CSV_FORMULAS:
        if text == name:
            return name
    raise ParameterError("csv_formulas", f"csv_formulas deve ser escape ou raw: {raw!r}")
