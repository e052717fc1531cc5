"""The model file, routing's section of it and nurture's sequence files check their values
with the same helpers (scoring.file_checks), so they report the same problem alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import translation
from hypothesis import example, given
from hypothesis import strategies as st

from nurture import sequence_file
from scoring import file_checks, model_file, sentences


def scoring_errors(items: list[dict[str, Any]]) -> list[str]:
    return _errors(lambda: model_file.load_data({"leadflow_model": 1, "score_groups": items}))


def routing_errors(items: list[dict[str, Any]]) -> list[str]:
    return _errors(lambda: model_file.load_data({"leadflow_model": 1, "teams": items}))


def nurture_errors(items: list[dict[str, Any]]) -> list[str]:
    steps = [{"subject": "Hi", "text": "Hello"}]
    sequences = [{"name": "A sequence", "steps": steps, **item} for item in items]
    return _errors(lambda: sequence_file.load_data({"leadflow_nurture": 1, "sequences": sequences}))


def _errors(load: Callable[[], object]) -> list[str]:
    try:
        load()
    except (model_file.ModelFileError, sequence_file.SequenceFileError) as exc:
        return exc.errors
    return []


FILES: dict[str, tuple[Callable[[list[dict[str, Any]]], list[str]], list[dict[str, Any]]]] = {
    "score_groups": (scoring_errors, [{"name": "A", "min_score": 1}, {"name": "B", "min_score": 2}]),
    "teams": (routing_errors, [{"name": "A"}, {"name": "B"}]),  # routing's section of the model file
    "sequences": (nurture_errors, [{}, {}]),
}


@pytest.mark.parametrize("section", FILES)
def test_a_key_used_twice_is_named_with_the_place_of_the_first(section: str) -> None:
    errors_of, items = FILES[section]
    errors = errors_of([{**items[0], "key": "vip"}, {**items[1], "key": "vip"}])
    assert f"{section}[1].key: 'vip' is also the key of {section}[0]" in errors


@pytest.mark.parametrize("section", FILES)
@pytest.mark.parametrize("key", ["grüne", "a b", "x.y"])
def test_a_key_is_letters_digits_dashes_and_underscores_in_every_file(section: str, key: str) -> None:
    errors_of, items = FILES[section]
    errors = errors_of([{**items[0], "key": key}])
    assert any(
        e.startswith(f"{section}[0].key: '{key}' may hold only ASCII letters (a-z, A-Z), digits, - and _")
        for e in errors
    )


@pytest.mark.parametrize("section", FILES)
def test_an_unknown_key_is_named_with_the_keys_allowed(section: str) -> None:
    errors_of, items = FILES[section]
    errors = errors_of([{**items[0], "key": "a", "colour": "blue"}])
    assert any(e.startswith(f"{section}[0].colour: unknown key (allowed: ") for e in errors)


VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.lists(st.integers())


@given(value=VALUES, minimum=st.none() | st.integers(-5, 5))
@example(value=file_checks.WHOLE_MAX + 1, minimum=None)
@example(value=file_checks.WHOLE_MIN, minimum=None)
def test_a_whole_number_is_an_int_never_a_bool(value: object, minimum: int | None) -> None:
    errors: list[str] = []
    got = file_checks.whole_number({"n": value}, "n", "x", errors, minimum=minimum)
    ok = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (minimum is None or value >= minimum)
        # What an integer column holds (a larger one was a database error on import).
        and file_checks.WHOLE_MIN <= value <= file_checks.WHOLE_MAX
    )
    if value is None:
        assert (got, errors) == (None, [])
    elif ok:
        assert (got, errors) == (value, [])
    else:
        assert got is None
        assert errors
        assert errors[0].startswith("x.n: must be a whole number")


def test_yaml_errors_say_where() -> None:
    with pytest.raises(ValueError, match=r"^line 3, column 1: not valid YAML"):
        file_checks.yaml_load("a: 1\nb: [\n")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a:\n  b: 1\n c: 2\n", "line 3, column 2: not valid YAML: the indentation does not fit the list or mapping"),
        # One these do not know, in PyYAML's words.
        ("a: |x\n", "line 1, column 5: not valid YAML (expected chomping or indentation indicators, but found 'x')"),
    ],
)
def test_a_yaml_error_is_said_in_words_of_ours_where_they_know_it(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=r"^line") as raised:
        file_checks.yaml_load(text)
    assert raised.value.args[0].startswith(said)


def test_a_problem_is_its_english_text_and_is_said_in_the_reader_s_words() -> None:
    errors: list[str] = []
    file_checks.mapping(3, "rules[0]", errors, holding=file_checks.Problem("with key and name"))
    assert errors == ["rules[0]: must be a mapping with key and name"]
    (problem,) = errors
    assert isinstance(problem, file_checks.Problem)
    spanish = {"{place}: must be a mapping {holding}": "{place}: debe ser un mapeo {holding}"}
    spanish["with key and name"] = "con key y name"
    assert (
        problem.sentence.in_words(lambda msgid: spanish.get(msgid, msgid))
        == "rules[0]: debe ser un mapeo con key y name"
    )
    # A translation naming a value the problem does not have gives the English, not an error.
    broken = {"{place}: must be a mapping {holding}": "{place}: {colour}"}
    assert problem.sentence.in_words(lambda msgid: broken.get(msgid, msgid)) == problem


def test_a_problem_reads_alike_in_the_reader_s_language_when_shown_and_when_kept() -> None:
    errors = nurture_errors([{"steps": [{"subject": "Hi", "text": "Hello", "wait": 3}]}])
    assert "sequences[0].steps[0].wait: must be a mapping such as {days: 2, hours: 0}" in errors
    kept = json.loads(json.dumps(sentences.problems_said(errors).stored()))  # as a replay's or an import's row
    with translation.override("es"):
        shown = sentences.problems(errors)
        assert "sequences[0].steps[0].wait: debe ser un mapeo como {days: 2, hours: 0}" in shown
        assert sentences.shown("", kept) == "; ".join(shown)
