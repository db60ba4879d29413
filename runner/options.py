"""Typed option values from command-line text, the one grammar of every
script.

An argument is ``key=value``. A comma outside brackets separates several
values: a list option takes them as its items (``labels=a,b,c``); ``run.py
-m`` sweeps over them and ``visualize.py graph=a,b`` draws each; any other
option refuses them. A list in brackets (``[text,audio]``) is one value, so
``-m model.sequence_modalities=[text],[text,audio]`` sweeps over two lists.
``null`` (or ``none``, ``~`` or nothing) sets an optional option to nothing.

A numeric option declares the values it may take in its dataclass field's
metadata (``field(default=5.0, metadata={"above": 0})``, see
:func:`range_of`) or in its :class:`runner.cli.Option`, and a value outside is refused
(:func:`check_range`); ``-h`` shows the range.
"""
from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Union

import yaml


class OptionError(ValueError):
    """A value that does not fit its option's type."""


@dataclass(frozen=True)
class Range:
    """The numbers a numeric option may take.

    Args:
        low (float, optional): The least value; :obj:`None` for no bound.
        high (float, optional): The greatest value; :obj:`None` for no bound.
        low_open (bool): :obj:`low` itself is refused (``> low``).
        high_open (bool): :obj:`high` itself is refused (``< high``).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None
                    and (value > self.high or (self.high_open and value == self.high)))

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '≥'} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '≤'} {self.high:g}"
        return "any finite number"


#: The range of a count: threads, replicas, sessions, a batch's size.
AT_LEAST_ONE = Range(1)

#: Field metadata keys of a numeric option's bounds: plain keys, so that
#: packages below the runner (``models``, ``dialogues``) declare ranges
#: without importing it: ``field(default=5.0, metadata={"above": 0})``.
BOUND_KEYS = ("min", "above", "max", "below")


def range_of(metadata: Mapping[str, Any]) -> Range | None:
    """The :class:`Range` that a field's :obj:`metadata` declares with
    :data:`BOUND_KEYS` (``min``/``max`` inclusive, ``above``/``below``
    exclusive), or :obj:`None` where it declares none."""
    if not any(key in metadata for key in BOUND_KEYS):
        return None
    low = metadata.get("above", metadata.get("min"))
    high = metadata.get("below", metadata.get("max"))
    return Range(low, high, low_open="above" in metadata, high_open="below" in metadata)


def is_numeric(hint: Any) -> bool:
    """Whether :obj:`hint` takes an int or a float (alone, optional, or in
    a union such as ``int | Literal["sessions"]``)."""
    inner, _ = unwrap_optional(hint)
    if typing.get_origin(inner) in (Union, types.UnionType):
        return any(is_numeric(member) for member in typing.get_args(inner))
    return inner in (int, float)


def check_range(value: Any, allowed: Range | None, key: str, text: str) -> Any:
    """:obj:`value`, or :class:`OptionError` naming :obj:`key` and the range
    when it is a number outside :obj:`allowed`."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if allowed is not None and number and value not in allowed:
        raise OptionError(f"{key}={text} is out of range: expected a number {allowed}")
    return value


NULL_WORDS = ("", "null", "none", "~")


def split_values(value: str) -> list[str]:
    """Split on commas outside brackets, so ``[text,audio]`` stays whole.

    Args:
        value (str): The text after ``=``.
    """
    parts, depth, current = [], 0, ""
    for char in value:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(hint, False)``."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) < len(typing.get_args(hint)):
            return (members[0] if len(members) == 1 else Union[tuple(members)]), True
    return hint, False


def is_sequence(hint: Any) -> bool:
    """Whether values of :obj:`hint` may be lists (``list[str]``,
    ``tuple[str, ...]``, optionally ``| None``, or a union with such a
    member, as ``graph=union``'s ``parts``)."""
    hint, _ = unwrap_optional(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(is_sequence(member) for member in typing.get_args(hint))
    return typing.get_origin(hint) in (list, tuple) or hint in (list, tuple)


def takes_raw_text(hint: Any) -> bool:
    """Whether the option keeps its text whole, commas included: free text
    and paths."""
    hint, _ = unwrap_optional(hint)
    return hint in (str, Path)


def describe(hint: Any) -> str:
    """A type as a user reads it: ``int``, ``float or null``,
    ``one of constant, cosine``, ``list of str``."""
    inner, optional = unwrap_optional(hint)
    origin = typing.get_origin(inner)
    if origin in (Union, types.UnionType):
        text = " or ".join(describe(member) for member in typing.get_args(inner))
    elif origin is Literal:
        text = "one of " + ", ".join(map(str, typing.get_args(inner)))
    elif origin in (list, tuple):
        text = f"list of {describe(typing.get_args(inner)[0])}"
    elif origin is dict or inner is dict:
        args = typing.get_args(inner)
        text = f"mapping to {describe(args[1])}" if args else "mapping"
    elif isinstance(inner, type):
        text = "path" if inner is Path else inner.__name__
    else:
        text = "value"
    return text + (" or null" if optional else "")


def parse_value(text: str, hint: Any, key: str) -> Any:
    """The value of option :obj:`key` written as :obj:`text`, of type
    :obj:`hint`.

    Args:
        text (str): One value as written after ``=`` (already split from
            any others).
        hint (Any): The option's type: ``bool``, ``int``, ``float``,
            ``str``, ``Path``, a ``Literal`` of choices, ``list[X]`` or
            ``tuple[X, ...]``, ``dict``, any of them ``| None``, or
            ``typing.Any`` for YAML as written.

    Raises:
        OptionError: Naming the key, the value and the expected type.
    """
    inner, optional = unwrap_optional(hint)
    if text.strip().lower() in NULL_WORDS and optional:
        return None
    origin = typing.get_origin(inner)
    fail = OptionError(f"{key}={text!r}: expected {describe(hint)}")
    if origin in (Union, types.UnionType):  # the first member that takes it
        for member in typing.get_args(inner):
            try:
                return parse_value(text, member, key)
            except OptionError:
                continue
        raise fail
    if inner is str or inner is Path:
        return text
    if origin is Literal:
        choices = typing.get_args(inner)
        for choice in choices:
            if text == str(choice):
                return choice
        raise fail
    if origin in (list, tuple) or inner in (list, tuple):
        item = (typing.get_args(inner) or (Any,))[0]
        body = text.strip()
        if body.lower() in NULL_WORDS:
            raise fail  # null where no list may be missing
        if body.startswith("["):
            if not body.endswith("]"):
                raise fail
            if len(split_values(body)) > 1:
                raise OptionError(f"{key}={text!r}: expected one {describe(hint)}; several "
                                  "lists sweep only with -m")
            body = body[1:-1]
        parts = [p.strip() for p in split_values(body)] if body.strip() else []
        if any(c in p for p in parts for c in "[]"):
            raise fail
        return [parse_value(p, item, f"{key}[{i}]") for i, p in enumerate(parts)]
    if inner is bool:  # not YAML 1.1's on/off/yes/no
        if text.strip().lower() in ("true", "false"):
            return text.strip().lower() == "true"
        raise fail
    if inner is int:  # decimal only: not YAML 1.1's 0x10 or 0o7
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise fail from None
    parsed = _yaml(text, key)
    if inner is float:
        try:  # YAML 1.1 reads "1e-3" (no dot) as a string
            return float(text)
        except ValueError:
            raise fail from None
    if origin is dict or inner is dict:
        if not isinstance(parsed, dict):
            raise fail
        value_type = (typing.get_args(inner) or (Any, Any))[1]
        for name, value in parsed.items():  # YAML typed them; check, don't coerce
            fits = (value_type is Any or (isinstance(value, value_type)
                                          and not (isinstance(value, bool)
                                                   and value_type is not bool))
                    or (value_type is float and isinstance(value, int)
                        and not isinstance(value, bool)))
            if not fits:
                raise OptionError(f"{key}={text!r}: {name!r} has {value!r}, expected "
                                  f"{describe(value_type)}")
        return parsed
    if parsed is None and not optional and inner is not Any:
        raise fail
    return parsed


def _yaml(text: str, key: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0]
        raise OptionError(f"{key}={text!r}: cannot parse value: {first}") from None


def parse_one(text: str, hint: Any, key: str, several: str) -> Any:
    """:func:`parse_value` of an option that takes one value: a comma outside
    brackets makes a list's items, or is refused with :obj:`several`, which
    says where several values belong.

    Raises:
        OptionError: Several values, or a value of another type.
    """
    if len(split_values(text)) > 1 and not (is_sequence(hint) or takes_raw_text(hint)):
        raise OptionError(f"{key}={text!r}: several values{several}")
    return parse_value(text, hint, key)


def hint_of_default(default: Any) -> Any:
    """The type an option without a declared one takes from its default: a
    plugin parameter without an annotation, say."""
    if default is None:
        return Any
    if isinstance(default, (list, tuple)):
        return list[Any]
    return type(default)
