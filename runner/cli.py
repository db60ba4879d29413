"""The command line of every script: one parser, one usage text, one way
to fail.

A script declares a :class:`Command`: its ``key=value`` options with their
types and defaults, and whether it also takes a run configuration
(``graph=causal``, ``train.lr=0.01``; see :mod:`runner.config`) or
positional paths. :func:`main` then gives every script the same behaviour:

* ``-h``/``--help`` prints the usage, the options with their types and
  defaults (and, for a script that takes a run configuration, its groups
  and keys with the defaults they resolve to) and exits 0;
* bad input prints one line, ``SCRIPT: error: ...``, and exits 2;
* Ctrl-C prints one line and exits 130; SIGTERM (``timeout``, ``scancel``,
  ``docker stop``) prints one line and exits 143. Both unwind the stack, so
  staged outputs are removed (:func:`storage.atomic.staged_folder`).

Values follow the grammar of :mod:`runner.options`.
"""
from __future__ import annotations

import re
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import registry as registries
from dialogues import DataError
from graphs import GraphBuildError, GraphContractError

from .config import ConfigError, compose, dump, groups, numeric_options
from .options import OptionError, Range, check_range, describe, parse_one, split_values

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
HELP_FLAGS = ("-h", "--help")
MULTIRUN_FLAGS = ("-m", "--multirun")

#: Errors that are the user's input, not a bug: one line, exit 2.
INPUT_ERRORS = (ConfigError, DataError, GraphContractError, GraphBuildError,
                FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                PermissionError)


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it on its way to the top."""


@dataclass(frozen=True)
class Option:
    """One ``key=value`` option of a script.

    Args:
        key (str): The key, e.g. ``checkpoint`` or ``dataset.path``.
        type (Any): Its type (see :func:`runner.options.parse_value`).
        default (Any): Its value when not given. (default: :obj:`None`)
        help (str): One line on what it does.
        required (bool): Refuse a command line without it.
            (default: :obj:`False`)
        range (Range, optional): The numbers a numeric option may take;
            every numeric option declares one. (default: :obj:`None`)
    """

    key: str
    type: Any
    default: Any = None
    help: str = ""
    required: bool = False
    range: Range | None = None


@dataclass(frozen=True)
class Command:
    """A script's command line.

    Args:
        prog (str): The script's name, e.g. ``predict.py``.
        summary (str): What it does, in one line.
        options (tuple[Option, ...]): Its own options.
        positional (str, optional): Name of the positional arguments it
            takes (one or more), e.g. ``RUN_OR_SWEEP_DIR``. Others refuse
            arguments without ``=``.
        named (str, optional): Other ``key=value`` arguments name things
            (``results.py iemocap=DIR``); this describes them, e.g.
            ``NAME=SWEEP_DIR``.
        configures_run (bool): Other ``key=value`` arguments are a run
            configuration for :func:`runner.config.compose`.
        sections (tuple[str, ...], optional): The parts of the run
            configuration the script reads, which ``--help`` shows (default:
            all).
        multirun (bool): ``-m`` is accepted (``run.py``'s sweeps).
        details (str): Further text for ``--help``.
    """

    prog: str
    summary: str
    options: tuple[Option, ...] = ()
    positional: str | None = None
    named: str | None = None
    configures_run: bool = False
    sections: tuple[str, ...] | None = None
    multirun: bool = False
    details: str = ""


@dataclass
class Arguments:
    """A parsed command line.

    Args:
        options (dict[str, Any]): Every option of the command, parsed, with
            defaults filled in.
        config (list[str]): The ``key=value`` arguments of the run
            configuration, as written.
        positional (list[str]): Positional arguments.
        named (dict[str, str]): ``NAME=value`` arguments of a command with
            :attr:`Command.named`, in order.
        multirun (bool): ``-m`` was given.
    """

    options: dict[str, Any] = field(default_factory=dict)
    config: list[str] = field(default_factory=list)
    positional: list[str] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)
    multirun: bool = False


class HelpRequested(Exception):
    """``-h``/``--help`` was given."""


def parse(command: Command, argv: Sequence[str]) -> Arguments:
    """Parse :obj:`argv` for :obj:`command`.

    Raises:
        HelpRequested: ``-h`` or ``--help`` was given.
        ConfigError: An argument the command cannot use, naming it.
    """
    argv = list(argv)
    if any(a in HELP_FLAGS for a in argv):
        raise HelpRequested
    own = {o.key: o for o in command.options}
    parsed = Arguments()
    given: dict[str, str] = {}
    for arg in argv:
        if arg in MULTIRUN_FLAGS and command.multirun:
            parsed.multirun = True
            continue
        if arg.startswith("-"):
            raise ConfigError(f"unknown flag {arg!r}; see {command.prog} -h")
        key, sep, value = arg.partition("=")
        key = key.strip()
        if command.positional is not None and sep and ("/" in key or Path(arg).exists()):
            sep = ""  # a path that holds '=', as a sweep's run folders do
        if not sep:
            if command.positional is None:
                raise ConfigError(f"argument {arg!r} is not of the form key=value; "
                                  f"see {command.prog} -h")
            parsed.positional.append(arg)
        elif not key:
            raise ConfigError(f"argument {arg!r} has no key before '='")
        elif key in own:
            given[key] = value
        elif command.configures_run:
            parsed.config.append(f"{key}={value}")
        elif command.named is not None:
            if key in parsed.named:
                raise ConfigError(f"{key} is given twice")
            parsed.named[key] = value
        else:
            raise ConfigError(f"unknown key {key!r}; {command.prog} takes "
                              f"{', '.join(sorted(own))}; see {command.prog} -h")
    if command.positional is not None and not parsed.positional:
        raise ConfigError(f"give at least one {command.positional}; see {command.prog} -h")
    if command.named is not None and not parsed.named:
        raise ConfigError(f"give at least one {command.named}; see {command.prog} -h")
    for option in command.options:
        if option.key in given:
            parsed.options[option.key] = _value(option, given[option.key])
        elif option.required:
            raise ConfigError(f"missing {option.key}=...; see {command.prog} -h")
        else:
            parsed.options[option.key] = option.default
    return parsed


def _value(option: Option, text: str) -> Any:
    try:
        value = parse_one(text, option.type, option.key,
                          f", but {option.key} takes one {describe(option.type)}")
        return check_range(value, option.range, option.key, text)
    except OptionError as error:
        raise ConfigError(str(error)) from None


def usage(command: Command, config_args: Sequence[str] = ()) -> str:
    """The ``--help`` text of :obj:`command`; for a script that takes a run
    configuration, its groups and every key with the default that
    :obj:`config_args` resolve it to (so ``run.py graph=dag -h`` lists
    ``dag``'s parameters)."""
    line = f"usage: {command.prog}"
    if command.multirun:
        line += " [-m]"
    if command.positional:
        line += f" {command.positional}..."
    if command.named:
        line += f" {command.named}..."
    line += "".join(f" {o.key}=..." if o.required else "" for o in command.options)
    line += " [key=value ...]" if command.configures_run else (
        " [option=value ...]" if any(not o.required for o in command.options) else "")
    lines = [line, "", command.summary]
    if command.options:
        lines += ["", "options:"]
        width = max(len(o.key) for o in command.options) + 2
        for o in command.options:
            default = "required" if o.required else f"default: {_show(o.default)}"
            kind = describe(o.type) + (f" {o.range}" if o.range else "")
            lines.append(f"  {o.key.ljust(width)}{o.help} ({kind}; {default})")
    if command.configures_run:
        lines += ["", "run configuration (group=option picks a file, a.b=value sets a key):"]
        for group, choices in groups().items():
            if command.sections is not None and group not in command.sections:
                continue
            if group == "graph":  # plugins' builders are graphs too
                choices = sorted({*choices, *registries.default_registry.names()})
            lines.append(f"  {group}={{{','.join(choices)}}}")
        try:  # a sweep's first combination stands for all
            config = compose([f"{a.partition('=')[0]}={split_values(a.partition('=')[2])[0]}"
                              for a in config_args])
        except ConfigError as error:
            lines.append(f"  (cannot show the keys: {error})")
        else:
            if command.sections is not None:
                config = {k: v for k, v in config.items() if k in command.sections}
            lines += ["", "keys and the values they resolve to:"]
            lines += ["  " + row for row in dump(config).rstrip().splitlines()]
            ranges = {key: allowed for key, allowed in numeric_options().items()
                      if allowed and key.split(".")[0] in config}
            lines += ["", "numeric keys take:"]
            lines += [f"  {key} {allowed}" for key, allowed in ranges.items()]
    lines += ["", "-h, --help prints this. A comma outside brackets separates several "
              "values; null sets an optional value to nothing."]
    if command.details:
        lines += ["", plain(command.details.strip())]
    return "\n".join(lines)


def plain(text: str) -> str:
    """Docstring text for a terminal: ``code`` and :role:`name` markup off."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def raise_terminated(signum: int, frame: Any) -> None:
    """A SIGTERM handler that unwinds the stack like Ctrl-C does."""
    raise Terminated


def main(command: Command, body: Callable[[Arguments], int | None],
         argv: Sequence[str] | None = None,
         errors: tuple[type[BaseException], ...] = ()) -> int:
    """Parse :obj:`argv` (default: ``sys.argv[1:]``) and run
    :obj:`body` on it; return the exit status.

    Args:
        command (Command): The script's command line.
        body (Callable): The script's work; returns its exit status (or
            ``None`` for 0).
        argv (Sequence[str], optional): The arguments.
        errors (tuple): Further exception types that are bad input for
            this script, reported in one line with exit status 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        try:
            arguments = parse(command, argv)
        except HelpRequested:
            own = {o.key for o in command.options}
            config_args = [a for a in argv if "=" in a and a.partition("=")[0] not in own]
            print(usage(command, config_args if command.configures_run else ()))
            return 0
        return body(arguments) or 0
    except (*INPUT_ERRORS, *errors) as error:
        print(f"{command.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{command.prog}: interrupted; unfinished outputs were removed",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"{command.prog}: terminated; unfinished outputs were removed",
              file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
