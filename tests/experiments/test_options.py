import re
from pathlib import Path
from typing import Any, Literal

import pytest

from runner.options import OptionError, describe, parse_one, parse_value, split_values


@pytest.mark.parametrize("text, parts", [
    ("a", ["a"]), ("a,b", ["a", "b"]), ("[a,b],c", ["[a,b]", "c"]),
    ("{x: 1, y: 2}", ["{x: 1, y: 2}"]), ("", [""]),
])
def test_commas_outside_brackets_separate_values(text, parts):
    assert split_values(text) == parts


@pytest.mark.parametrize("text, hint, value", [
    ("3", int, 3), ("3", float, 3.0), ("1e-3", float, 1e-3), ("true", bool, True),
    ("null", float | None, None), ("none", int | None, None), ("", list[str] | None, None),
    ("0.5", float | None, 0.5), ("text", list[str] | None, ["text"]),
    ("text,audio", list[str], ["text", "audio"]), ("[text, audio]", tuple[str, ...],
                                                    ["text", "audio"]),
    ("[1,2]", list[int], [1, 2]), ("[]", list[str], []), ("007", str, "007"),
    ("a,b", str, "a,b"), ("runs/x", Path | None, "runs/x"), ("cosine",
                                                           Literal["constant", "cosine"],
                                                           "cosine"),
    ("{a: 1}", dict, {"a": 1}), ("[1, x]", Any, [1, "x"]),
])
def test_values_take_their_declared_type(text, hint, value):
    assert parse_value(text, hint, "key") == value


@pytest.mark.parametrize("text, hint, message", [
    ("abc", float | None, "key='abc': expected float or null"),
    ("1.5", int, "key='1.5': expected int"),
    ("null", int, "key='null': expected int"),
    ("3", bool, "key='3': expected bool"),
    ("step", Literal["constant", "cosine"], "key='step': expected one of constant, cosine"),
    ("[1,x]", list[int], "key[1]='x': expected int"),
    ("[a", list[str], "key='[a': expected list of str"),
    ("a: [", dict, "key='a: [': cannot parse value"),
])
def test_a_value_of_another_type_is_refused_naming_the_key(text, hint, message):
    with pytest.raises(OptionError, match=message.replace("[", r"\[")):
        parse_value(text, hint, "key")


def test_types_read_as_a_user_writes_them():
    assert [describe(h) for h in (int, float | None, list[str], Literal["a", "b"], Path)] \
        == ["int", "float or null", "list of str", "one of a, b", "path"]


@pytest.mark.parametrize("text, hint, expected", [
    ("{text: 12, audio: 6}", dict[str, int], {"text": 12, "audio": 6}),
    ("{text: 1}", dict[str, float], {"text": 1}),
    ("5", int | Literal["sessions"] | None, 5),
    ("sessions", int | Literal["sessions"] | None, "sessions"),
])
def test_mappings_and_unions_take_their_members_types(text, hint, expected):
    assert parse_value(text, hint, "key") == expected


@pytest.mark.parametrize("text, hint, message", [
    ("{text:12}", dict[str, int], "'text:12' has None, expected int"),
    ("{text: true}", dict[str, int], "'text' has True, expected int"),
    ("folds", int | Literal["sessions"] | None,
     "key='folds': expected int or one of sessions or null"),
])
def test_mappings_and_unions_refuse_other_values(text, hint, message):
    with pytest.raises(OptionError, match=re.escape(message)):
        parse_value(text, hint, "key")


def test_a_union_with_a_list_member_takes_commas_as_items():
    """graph=union's parts: a mapping of parts, or a comma list of names."""
    hint = dict[str, Any] | list[str]
    assert parse_one("causal,modality", hint, "graph.parts", "") == ["causal", "modality"]
    assert parse_one("{near: {builder: window}, modality: {}}", hint, "graph.parts", "") == {
        "near": {"builder": "window"}, "modality": {}}
    with pytest.raises(OptionError, match="several values"):
        parse_one("1,2", int | None, "seed", "")
