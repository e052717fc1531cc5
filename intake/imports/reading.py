"""Reading a CSV file as people's tools write it: any of several encodings (a BOM, UTF-8,
else what charset-normalizer finds), any line ending (``\\r\\n``, ``\\r``, even
``\\r\\r\\n``), blank lines, quoted cells holding line breaks, a delimiter found out by
the csv module's sniffer (comma, semicolon, tab or bar)."""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer
from django.utils.translation import gettext_noop

from scoring.said import Said, said

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
DELIMITERS = ",;\t|"
# Any run of carriage returns, with or without a line feed after: one line break.
_LINE_BREAK = re.compile(r"\r+\n?")
_SNIFF_BYTES = 64 * 1024
WESTERN = "cp1252"
# A character past ASCII before or after a letter.
_PAST_ASCII_BY_LETTER = re.compile(r"(?<=[^\W\d_])[^\x00-\x7f]|[^\x00-\x7f](?=[^\W\d_])")
# A word: a run of letters.
_WORD = re.compile(r"[^\W\d_]+")
# The letters past ASCII of the languages written with the Latin code pages a file may
# tie in (Western, Central European, Baltic, Turkish): a word whose letters past ASCII
# are not all of one of them was read with the wrong code page.
_ALPHABETS = tuple(
    frozenset(letters)
    for letters in (
        "áéíóúüñ",  # Spanish
        "áâãàçéêíóôõúü",  # Portuguese
        "àâæçéèêëîïôœùûüÿ",  # French
        "àèéìíîòóùú",  # Italian
        "àçéèíïòóúü",  # Catalan
        "äöüß",  # German
        "éèêëïöü",  # Dutch
        "æøåéóô",  # Danish and Norwegian
        "åäöéü",  # Swedish
        "äöåšž",  # Finnish
        "áéíóúýþæöð",  # Icelandic
        "äöõüšž",  # Estonian
        "áčďéěíňóřšťúůýž",  # Czech
        "áäčďéíĺľňóôŕšťúýž",  # Slovak
        "ąćęłńóśźż",  # Polish
        "áéíóöőúüű",  # Hungarian
        "čćđšž",  # Slovene, Croatian, Bosnian
        "ăâîșțşţ",  # Romanian
        "çë",  # Albanian
        "ąčęėįšųūž",  # Lithuanian
        "āčēģīķļņšūž",  # Latvian
        "çğıöşüâî",  # Turkish
    )
)


class FileError(ValueError):
    """The file as a whole cannot be read (no row is imported); ``reason`` says why, in the
    active language (``said`` keeps it as a sentence, :mod:`scoring.said`). Its text is the
    English, as a log or the command line shows it."""

    def __init__(self, reason: Said) -> None:
        super().__init__(reason.english())
        self.said = reason

    @property
    def reason(self) -> str:
        return self.said.translated()


@dataclass(frozen=True)
class Table:
    header: list[str]
    # (the line the record starts on, counting the header as line 1; its cells)
    rows: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str


def text_decode(data: bytes, *, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding it was read with: ``encoding`` if given, else its
    BOM's, else UTF-8 if it is valid UTF-8, else the one charset-normalizer finds;
    of those it finds equally clean, the one putting the fewest signs inside words."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise FileError(
                said(
                    gettext_noop("the file is not {encoding} (byte {byte} cannot be read)"),
                    encoding=encoding,
                    byte=exc.start,
                )
            ) from None
        except UnicodeError:  # a codec that fails without saying where ("undefined" always does)
            raise FileError(said(gettext_noop("the file cannot be read as {encoding}"), encoding=encoding)) from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise FileError(
                    said(
                        gettext_noop("the file starts as {encoding} but byte {byte} is not {encoding}"),
                        encoding=name,
                        byte=exc.start,
                    )
                ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise FileError(
            said(gettext_noop("the file's encoding cannot be found out: save it as UTF-8, or name it in the mapping"))
        )
    # Excel's CSV on Spanish, English, French, German or Portuguese Windows is Windows-1252.
    # Its bytes read as cleanly in Central European and other code pages (ñ as ń, º as ş),
    # which the detector ranks as high; and a Polish file's read as cleanly in Windows-1252
    # (Paweł as Pawe³, Łukasz as £ukasz). Among the readings the detector ties at the top,
    # the right code page puts letters inside words where a wrong one puts signs: the one
    # with the fewest wins. A Czech file's read as letters in Windows-1252 too (Jiří as
    # Jiøí, Růžička as Rùžièka), letters no one language writes together in a word: then
    # the one with the fewest such words wins; then the one whose letters are most of one
    # language's (Ondøej, Èeské and Budìjovice are each a word of some language, but of
    # three); Windows-1252 first on a tie, then the detector's order.
    tied = [m for m in matches if m.chaos <= best.chaos]
    texts = {m.encoding: str(m) for m in tied}
    chosen = min(
        tied,
        key=lambda m: (
            _signs_in_words(texts[m.encoding]),
            _words_of_no_language(texts[m.encoding]),
            _letters_of_other_languages(texts[m.encoding]),
            m.encoding != WESTERN,
            tied.index(m),
        ),
    )
    return texts[chosen.encoding], chosen.encoding


def _signs_in_words(text: str) -> int:
    """How many characters past ASCII that are no letter (³ £ ¹ ¿) touch a letter."""
    return sum(not unicodedata.category(m.group()).startswith("L") for m in _PAST_ASCII_BY_LETTER.finditer(text))


def _words_of_no_language(text: str) -> int:
    """How many different words mix letters past ASCII that no one language of
    :data:`_ALPHABETS` writes (ø with í, ž with è). Only letters with a case count:
    º and ª are signs here."""
    words = {word.lower() for word in _WORD.findall(text) if not word.isascii()}
    return sum(
        not any(letters <= alphabet for alphabet in _ALPHABETS)
        for letters in ({c for c in word if not c.isascii() and c != c.upper()} for word in words)
    )


def _letters_of_other_languages(text: str) -> int:
    """How many of the text's different letters past ASCII (with a case) the language of
    :data:`_ALPHABETS` holding most of them lacks."""
    letters = {c for c in text.lower() if not c.isascii() and c != c.upper() and c.isalpha()}
    return min(len(letters - alphabet) for alphabet in _ALPHABETS)


def lines_normalize(text: str) -> str:
    """Every line break as ``\\n`` (``\\r\\n``, a lone ``\\r`` and ``\\r\\r\\n`` alike), and
    no BOM left at the start."""
    return _LINE_BREAK.sub("\n", text.removeprefix("\ufeff"))


def delimiter_sniff(text: str) -> str:
    """The delimiter of the file's first lines, by the csv module's sniffer; failing that
    the candidate the header holds most of; a comma when it holds none."""
    sample = text[:_SNIFF_BYTES]
    if len(text) > _SNIFF_BYTES:
        sample = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.split("\n", 1)[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def table_read(data: bytes, *, encoding: str | None = None, delimiter: str | None = None) -> Table:
    """The header and records of a CSV file; blank lines (and rows of empty cells) skipped."""
    if not data.strip():
        raise FileError(said(gettext_noop("the file is empty")))
    text, used = text_decode(data, encoding=encoding)
    text = lines_normalize(text)
    delimiter = delimiter or delimiter_sniff(text)
    # newline="": line breaks inside quoted cells stay in the cell.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            line = start
            start = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                continue
            rows.append((line, cells))
    except csv.Error as exc:
        raise FileError(said(gettext_noop("line {line}: {error}"), line=reader.line_num, error=str(exc))) from None
    if header is None:
        raise FileError(said(gettext_noop("the file has no header row")))
    return Table(header=header, rows=rows, encoding=used, delimiter=delimiter)
