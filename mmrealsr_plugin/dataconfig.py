"""The one strict reader of configuration data (TOML, JSON, stored metadata) into frozen dataclasses.

Every configuration in the project is a dataclass read by :func:`from_dict`: the architecture
(``MMRealSRConfig``), registry entries, the training config and its degradation table. The field
annotations are the schema: unknown keys, wrong types, non-finite numbers and values outside a field's
:class:`Range` are errors that name the dotted key, the value and what is allowed; nothing is silently
defaulted or converted beyond int -> float and list -> tuple. Cross-field rules stay in each class's
``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from .errors import ConfigError, MMRealSRError

T = TypeVar("T")
RANGE = "range"
"""Field metadata key holding a field's :class:`Range` (checked for each element of a list or table)."""


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of one numeric field."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        low = f"{'>' if self.low_open else '>='} {self.low:g}"
        return low if self.high == math.inf else f"{low} and {'<' if self.high_open else '<='} {self.high:g}"


POSITIVE, NON_NEGATIVE, AT_LEAST_ONE = Range(0, low_open=True), Range(0), Range(1)


def ranged(default: Any = dataclasses.MISSING, allowed: Range = NON_NEGATIVE, **kwargs: Any) -> Any:
    """A dataclass field whose value (or each element) must lie in ``allowed``."""
    return dataclasses.field(default=default, metadata={RANGE: allowed}, **kwargs)


class _Reader:
    """One read: where errors go (``error``), how keys are named in them (``label``) and the file read (``source``)."""

    def __init__(self, label: str, error: type[MMRealSRError], source: str) -> None:
        self.label, self.error, self.origin = label, error, f"{source}: " if source else ""

    def fail(self, key: str, problem: str) -> typing.NoReturn:
        raise self.error(f"{self.origin}{self.label} key {key!r} {problem}")

    def wrong_type(self, key: str, hint: Any, value: Any) -> typing.NoReturn:
        self.fail(key, f"has the wrong type: expected {describe(hint)}, got {value!r}")

    def value(self, hint: Any, value: Any, key: str) -> Any:
        """``value`` checked against the annotation ``hint`` and returned in the dataclass's own type."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                self.wrong_type(key, hint, value)
            return self.dataclass(hint, value, key, {})  # type: ignore[arg-type]
        if origin is Literal:
            if value not in args or type(value) not in {type(a) for a in args}:
                self.fail(key, f"must be one of {list(args)}, got {value!r}")
            return value
        if origin in (typing.Union, types.UnionType):
            return self._union(hint, args, value, key)
        if origin is tuple:
            return self._tuple(hint, args, value, key)
        if origin is dict:
            if not isinstance(value, Mapping):
                self.wrong_type(key, hint, value)
            return {str(k): self.value(args[1], v, f"{key}.{k}") for k, v in value.items()}
        return self._scalar(hint, value, key)

    def _union(self, hint: Any, args: tuple[Any, ...], value: Any, key: str) -> Any:
        for option in args:
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return self.value(option, value, key)
            except self.error:
                continue
        self.wrong_type(key, hint, value)

    def _tuple(self, hint: Any, args: tuple[Any, ...], value: Any, key: str) -> tuple[Any, ...]:
        if not isinstance(value, (list, tuple)):
            self.wrong_type(key, hint, value)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not variadic and len(value) != len(args):
            self.wrong_type(key, hint, value)
        kinds = [args[0]] * len(value) if variadic else list(args)
        return tuple(self.value(kind, item, f"{key}[{i}]") for i, (kind, item) in enumerate(zip(kinds, value)))

    def _scalar(self, hint: Any, value: Any, key: str) -> Any:
        if hint is Any:
            return value
        if hint is bool:
            ok = isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif hint is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and not math.isfinite(value):
                self.fail(key, f"must be a finite number, got {value!r}")
            value = float(value) if ok else value
        elif hint is str:
            ok = isinstance(value, str)
        else:
            raise TypeError(f"unsupported config annotation {hint!r} for {key!r}")
        if not ok:
            self.wrong_type(key, hint, value)
        return value

    def dataclass(self, cls: type[T], data: Mapping[str, Any], prefix: str, given: Mapping[str, Any]) -> T:
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        known = set(fields) - set(given)
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            where = f"[{prefix}]" if prefix else "the top level"
            raise self.error(f"{self.origin}unknown {self.label} key(s) {[_join(prefix, k) for k in unknown]} in "
                             f"{where}; known keys there: {sorted(known)}")
        values = {}
        for name, raw in data.items():
            key = _join(prefix, name)
            values[name] = self.value(hints[name], raw, key)
            allowed = fields[name].metadata.get(RANGE)
            if allowed is not None:
                for label, number in _numbers(key, values[name]):
                    if number not in allowed:
                        self.fail(label, f"must be {allowed}, got {number!r}")
        try:
            return cls(**values, **given)
        except MMRealSRError:
            raise
        except (TypeError, ValueError) as exc:
            where = f"[{prefix}]" if prefix else "the"
            raise self.error(f"{self.origin}invalid {where} {self.label} values: {exc}") from exc


def from_dict(cls: type[T], data: Any, *, label: str = "config", prefix: str = "", source: str = "",
              error: type[MMRealSRError] = ConfigError, given: Mapping[str, Any] | None = None) -> T:
    """Read ``data`` (a mapping from TOML or JSON) into the dataclass ``cls``, strictly.

    :param label: what the keys are called in messages ("config key 'run.seed' ...").
    :param prefix: the dotted key of ``data`` itself, when it is a table inside a larger document.
    :param source: the file the data came from, named at the start of every message.
    :param error: the error class raised (a :class:`ConfigError` unless the caller has a narrower one).
    :param given: field values supplied by the caller rather than the data (e.g. a table's own name); the data
        may not set them.
    """
    reader = _Reader(label, error, source)
    if not isinstance(data, Mapping):
        what = f"{label} key {prefix!r}" if prefix else label
        raise error(f"{reader.origin}{what} must be a table of keys and values, got {data!r}")
    return reader.dataclass(cls, data, prefix, given or {})


def check_ranges(instance: Any) -> None:
    """Raise ``ValueError`` for a field of a constructed dataclass outside its :class:`Range` (for ``__post_init__``)."""
    for f in dataclasses.fields(instance):
        allowed = f.metadata.get(RANGE)
        if allowed is not None:
            for label, number in _numbers(f.name, getattr(instance, f.name)):
                if number not in allowed:
                    raise ValueError(f"{label} must be {allowed}, got {number!r}")


def to_dict(value: Any) -> Any:
    """Plain data (dicts, lists, scalars) that :func:`from_dict` reads back into an equal dataclass."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_dict(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_dict(v) for k, v in value.items()}
    return value


def describe(hint: Any) -> str:
    """An annotation in words, for messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint) or origin is dict:
        return "a table"
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args if a is not type(None))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0])}"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(hint, str(hint))


def _plural(hint: Any) -> str:
    return {bool: "true/false values", int: "whole numbers", float: "numbers", str: "texts"}.get(hint, describe(hint))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _numbers(key: str, value: Any) -> list[tuple[str, Any]]:
    """(dotted label, number) for a scalar, each element of a list and each value of a table."""
    if isinstance(value, Mapping):
        return [(f"{key}.{k}", v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    return [(key, value)]
