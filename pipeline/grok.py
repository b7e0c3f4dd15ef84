"""Grok: the pattern files of grok_patterns/, compiled once with pygrok.

pygrok re-reads its pattern folder for every `Grok()`, leaves a capture whose name it cannot
parse in the regex as literal text (the pattern then silently never matches) and raises from
`match()` on a failed type conversion. This module shields the rest of the package from all
three: the files are read once, every capture name is checked, every pattern is compiled at
start-up and a bad one stops the program with its name and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pygrok

CAPTURE = re.compile(r"%\{(\w+)(?::([^:}]*))?(?::([^}]*))?\}")
NAMED_GROUP = re.compile(r"\(\?P?<(?![=!])([^>]*)>")
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
DEFINITION = re.compile(r"^([A-Z][A-Z0-9_]*) (.+)$")


class PatternError(ValueError):
    """A pattern file or a pattern in it cannot be used."""


def patterns_dir() -> Path:
    """The grok_patterns/ folder: inside the installed package, or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grok_patterns", here.parent / "grok_patterns"):
        if candidate.is_dir():
            return candidate
    raise PatternError(f"grok_patterns/ not found next to {here}")


@cache
def definitions(folder: Path | None = None) -> dict[str, str]:
    """Every `NAME regex` line of the pattern files, checked for duplicates and bad names."""
    folder = folder or patterns_dir()
    found: dict[str, str] = {}
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue

            match = DEFINITION.match(line)
            if not match:
                raise PatternError(f"{file.name}:{number}: not a 'NAME regex' line")
            name, regex = match.groups()
            if name in found:
                raise PatternError(f"{file.name}:{number}: {name} is defined twice")
            found[name] = regex

    for name, regex in found.items():
        _check_captures(name, regex, found)
    return found


def _check_captures(name: str, regex: str, known: dict[str, str]) -> None:
    for reference, capture, type_ in CAPTURE.findall(regex):
        if reference not in known:
            raise PatternError(f"{name} refers to unknown pattern {reference}")
        if capture and not SNAKE_CASE.match(capture):
            raise PatternError(f"{name}: capture name {capture!r} is not snake_case")
        if type_:
            raise PatternError(f"{name}: types belong in fields.yaml, not in {capture}:{type_}")
    for capture in NAMED_GROUP.findall(regex):
        if not SNAKE_CASE.match(capture):
            raise PatternError(f"{name}: group name {capture!r} is not snake_case")


@dataclass(frozen=True)
class Matcher:
    """One compiled pattern, anchored at both ends of the record."""

    name: str
    regex: re.Pattern

    def match(self, text: str) -> dict[str, str] | None:
        """The non-empty captures of a full match, or None."""
        found = self.regex.match(text)
        if found is None:
            return None
        return {key: value for key, value in found.groupdict().items() if value}


@cache
def matcher(name: str, folder: Path | None = None) -> Matcher:
    """Compile one named pattern with pygrok, anchored as the whole record."""
    known = definitions(folder)
    if name not in known:
        raise PatternError(f"no pattern named {name}")

    try:
        compiled = pygrok.Grok(r"\A%{" + name + r"}\Z", custom_patterns=known).regex_obj
    except Exception as error:  # pygrok raises KeyError, re.error and others
        raise PatternError(f"{name} does not compile: {error}") from error

    if "%{" in compiled.pattern:
        raise PatternError(f"{name} still holds an unexpanded reference after compiling")
    return Matcher(name, compiled)
