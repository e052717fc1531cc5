"""Reading a CSV file as people's tools write it: any of several encodings (a BOM, UTF-8,
else the European code page reading it cleanly, else what charset-normalizer finds), any
line ending (``\\r\\n``, ``\\r``, even ``\\r\\r\\n``), blank lines, quoted cells holding
line breaks, a delimiter found out by the csv module's sniffer (comma, semicolon, tab or
bar)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer
from django.utils.translation import gettext_noop

from scoring import sentences
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
# The code pages the site's users' tools write a CSV file in without saying which, in the
# order a tie between their readings goes: Excel on Western, Central European, Baltic and
# Turkish Windows, then the ISO pages of Unix tools for Central European and for Western
# languages with the euro (Latin-1's letters are Windows-1252's). A short file of names is
# mostly ASCII, and the detector finds its few other bytes read as cleanly by a DOS or Mac
# code page, or by Korean or Chinese: it is asked only when none of these reads the file
# cleanly, and its choices come after these.
EUROPEAN = (WESTERN, "cp1250", "cp1257", "cp1254", "iso8859_2", "iso8859_15")
# A character past ASCII before or after a letter.
_PAST_ASCII_BY_LETTER = re.compile(r"(?<=[^\W\d_])[^\x00-\x7f]|[^\x00-\x7f](?=[^\W\d_])")
# The letters' categories but the modifier letters (ˇ, a caron standing alone).
_LETTERS = frozenset({"Lu", "Ll", "Lt", "Lo"})
# The signs past ASCII people write against a word, and where: (after a letter, before a
# letter). An apostrophe or a dash anywhere (O'Brien, Rádio-Kladno, typographic); quotes,
# an ellipsis and Spanish's opening marks at either end of a word («Hola», „Rádio“, ¿Qué);
# a trade mark after one (Bílá™); Catalan's middle dot inside one (col·legi).
_SIGNS_BY_WORDS = (
    (
        "\N{RIGHT SINGLE QUOTATION MARK}\N{LEFT SINGLE QUOTATION MARK}\N{MODIFIER LETTER APOSTROPHE}"
        "\N{HYPHEN}\N{NON-BREAKING HYPHEN}\N{EN DASH}\N{EM DASH}",
        {(True, False), (False, True), (True, True)},
    ),
    (
        "«»“”„…¿¡\N{SINGLE LOW-9 QUOTATION MARK}"
        "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}",
        {(True, False), (False, True)},
    ),
    ("™®©", {(True, False)}),
    ("·", {(True, True)}),
)
# The signs of units written against a letter: a square or cubic metre's (m², km², cm³),
# degrees Celsius or Fahrenheit (20°C) and micro (µg, µm), which a German or any Western
# file writes, are no sign of a wrong code page (nor µ a Greek letter in a Latin word). Only
# after the unit's own letters: Windows-1252 reads a Polish ł as ³ after any letter (Pawe³).
_UNIT_SIGNS = re.compile(
    r"(?:(?<=(?<![^\W\d_])m)|(?<=(?<![^\W\d_])[kcdmµ]m))[²³](?![^\W\d_])"
    r"|°(?=[CF](?![^\W\d_]))"
    r"|(?<![^\W\d_])µ(?=(?:g|m|l|s|V|A|F|mol)(?![^\W\d_]))"
)
# A word: a run of letters.
_WORD = re.compile(r"[^\W\d_]+")
# The letters past ASCII of the languages written with the Latin code pages a file may
# tie in (Western, Central European, Baltic, Turkish): a word whose letters past ASCII
# are not all of one of them was read with the wrong code page. Of two readings whose
# letters are each all of one language's, the one of the language listed first wins. A
# Central European code page reads a Western letter as one of its own (ñ as ń, ã as ă, è as
# č, ø as ř) that its language writes less often than the Western one writes its letter:
# the Western languages come first, Spanish, the site's, at their head. But Windows-1252
# reads ő and ű, which Hungarian writes in many names, as õ and û, which Portuguese writes
# only in -ões and mostly beside ã or ç, French in few words, Estonian mostly beside ä:
# Hungarian comes before them.
_ALPHABETS = tuple(
    frozenset(letters)
    for letters in (
        "áéíóúüñ",  # Spanish
        "áéíóöőúüű",  # Hungarian
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
        return sentences.translated(self.said)


@dataclass(frozen=True)
class Table:
    header: list[str]
    # (the line the record starts on, counting the header as line 1; its cells)
    rows: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str


def text_decode(data: bytes, *, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding it was read with: ``encoding`` if given, else its
    BOM's, else UTF-8 if it is valid UTF-8, else the code page of :data:`EUROPEAN` reading
    it most cleanly; if none reads it cleanly, the cleanest reading of those and of the
    ones charset-normalizer finds as clean as its first choice."""
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
    # Excel's CSV on Spanish, English, French, German or Portuguese Windows is Windows-1252.
    # Its bytes read as cleanly in Central European code pages (ñ as ń, º as ş), and a
    # Polish file's read as cleanly in Windows-1252 (Paweł as Pawe³, Łukasz as £ukasz). Of
    # the readings, the right code page puts letters inside words where a wrong one puts
    # signs: the one with the fewest wins. A Czech file's read as letters in Windows-1252
    # too (Jiří as Jiøí, Růžička as Rùžièka), letters no one language writes together in a
    # word: then the one with the fewest such words wins; then the one whose letters are
    # most of one language's (Ondøej, Èeské and Budìjovice are each a word of some
    # language, but of three); then the one of the language listed first in _ALPHABETS
    # (Erdős, not Erdõs); then the code page listed first. The detector is asked only when
    # none of EUROPEAN reads the file without a flaw (a Russian, Greek or Japanese file),
    # its readings then weighed with theirs.
    readings: dict[str, str] = {}
    # A NUL is no code page's text but half of UTF-16's ASCII without a BOM, which every
    # code page reads too, as letters between NULs.
    for name in EUROPEAN if b"\x00" not in data else ():
        with contextlib.suppress(UnicodeDecodeError):
            readings[name] = data.decode(name)
    samples = {name: _sample(text) for name, text in readings.items()}
    flaws = {name: _flaws(sample) for name, sample in samples.items()}
    if min(flaws.values(), default=None) != (0, 0, 0):
        matches = charset_normalizer.from_bytes(data)
        best = matches.best()
        if best is None:
            raise FileError(
                said(
                    gettext_noop("the file's encoding cannot be found out: save it as UTF-8, or name it in the mapping")
                )
            )
        for match in matches:
            if match.chaos <= best.chaos and match.encoding not in readings:
                readings[match.encoding] = str(match)
                samples[match.encoding] = _sample(readings[match.encoding])
                flaws[match.encoding] = _flaws(samples[match.encoding])
    order = list(readings)
    chosen = min(order, key=lambda name: (*flaws[name], _first_language(samples[name]), order.index(name)))
    return readings[chosen], chosen


def _sample(text: str) -> str:
    """The first lines of ``text`` holding characters past ASCII, up to about
    :data:`_SNIFF_BYTES` characters: what tells code pages apart, measured in a time that
    does not grow with the file. The signs of units (:data:`_UNIT_SIGNS`) are left out."""
    lines: list[str] = []
    size = 0
    for line in text.split("\n"):  # not splitlines(): a wrong code page's \x85 or \x1c is no line break
        if size >= _SNIFF_BYTES:
            break
        if not line.isascii():
            lines.append(line)
            size += len(line)
    return _UNIT_SIGNS.sub(" ", "\n".join(lines))


def _flaws(text: str) -> tuple[int, int, int]:
    """What tells a wrong code page's reading of a file: its signs inside words, its words
    of no language and its letters of other languages than most; none in the right one's."""
    return _signs_in_words(text), _words_of_no_language(text), _letters_of_other_languages(text)


def _signs_in_words(text: str) -> int:
    """How many characters past ASCII that are no letter (³ £ ¹ ¦), or a modifier letter
    standing for an accent (ˇ), touch a letter, but for the signs people write against a
    word where they write them (:data:`_SIGNS_BY_WORDS`); and how many ordinal indicators,
    letters to Unicode but written only at a word's end (Nº, 1ª), stand inside one (Braºov
    for Braşov)."""
    signs = 0
    for match in _PAST_ASCII_BY_LETTER.finditer(text):
        sign = match.group()
        start, end = match.start(), match.end()
        place = (start > 0 and text[start - 1].isalpha(), end < len(text) and text[end].isalpha())
        if sign in "ºª":
            signs += place == (True, True)
        elif unicodedata.category(sign) not in _LETTERS:
            signs += not any(sign in marks and place in places for marks, places in _SIGNS_BY_WORDS)
    return signs


def _words_of_no_language(text: str) -> int:
    """How many different words mix letters past ASCII that no one language of
    :data:`_ALPHABETS` writes (ø with í, ž with è), or Latin letters with another script's
    (Kova泊vi, Mьller). Only Latin letters with a case count: º and ª are signs here, and
    a word of Cyrillic or Greek letters alone is none of these languages' to judge."""
    words = {word.lower() for word in _WORD.findall(text) if not word.isascii()}
    return sum(
        len({_latin(c) for c in word}) > 1 or not any(_cased_latin_letters(word) <= alphabet for alphabet in _ALPHABETS)
        for word in words
    )


def _letters_of_other_languages(text: str) -> int:
    """How many of the text's different Latin letters past ASCII (with a case) the language
    of :data:`_ALPHABETS` holding most of them lacks."""
    letters = _cased_latin_letters(text)
    return min(len(letters - alphabet) for alphabet in _ALPHABETS)


def _first_language(text: str) -> int:
    """The place in :data:`_ALPHABETS` of the first language writing every Latin letter past
    ASCII (with a case) of the text; past the last if none does, or the text has none."""
    letters = _cased_latin_letters(text)
    fits = (place for place, alphabet in enumerate(_ALPHABETS) if letters and letters <= alphabet)
    return next(fits, len(_ALPHABETS))


def _cased_latin_letters(text: str) -> set[str]:
    """The different Latin letters past ASCII of ``text``, in lower case, that have a case."""
    return {c for c in set(text.lower()) if not c.isascii() and c != c.upper() and _latin(c)}


def _latin(letter: str) -> bool:
    """Whether ``letter`` is of the Latin script (º and ª are, though Unicode names them as
    signs)."""
    return letter.isascii() or letter in "ºª" or unicodedata.name(letter, "").startswith("LATIN")


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
