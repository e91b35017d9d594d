"""The whole error tree of recoil.

Every error recoil raises on purpose derives from :class:`RecoilError`, carries
the CLI exit code as a class attribute, and says what to do about it::

    RecoilError                         exit 1
    ├── ConfigError                     exit 2  project settings, credentials
    │   └── ShotListError               exit 2  a shot-list file (file + field paths)
    ├── ValidationError (ValueError)    exit 2  a value that breaks a rule
    │   ├── PayloadError                exit 2  a dispatch payload field
    │   └── WorkflowValidationError     exit 2  a workflow step
    ├── NotFoundError (LookupError)     exit 2  a name or id that does not exist
    │   ├── UnknownModalityError (KeyError)
    │   └── UnknownProviderError (KeyError)
    ├── StateError                      exit 1  an operation the object's state forbids
    │   └── ProjectBusyError            exit 75 another process is writing the project
    ├── SelectionError                  exit 1  no take can be chosen as primary
    ├── ScorerUnavailableError          exit 1  a scorer cannot score this (skipped, with why)
    ├── ProviderError                   exit 1  a provider call failed (retryable flag)
    ├── DispatchError                   exit 1  a dispatch failed; carries the failed receipt
    ├── StoreError                      exit 1  the project store or receipt log
    └── BudgetExceededError             exit 1  a dispatch would take spend over budget
"""

from __future__ import annotations

import reprlib
from collections.abc import Collection, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil.model.receipt import Receipt


class RecoilError(Exception):
    """Root of every error recoil raises on purpose."""

    exit_code: int = 1

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take structured arguments, which the default pickling (cls(*args))
        # cannot replay; rebuild from args and attributes so errors cross processes.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[RecoilError], args: tuple[Any, ...], state: dict[str, Any]) -> RecoilError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(RecoilError):
    """Project settings or provider configuration are missing or wrong."""

    exit_code = 2


class ShotListError(ConfigError):
    """A shot-list file has one or more problems; ``problems`` lists them all."""

    def __init__(self, file: str, problems: Sequence[str]) -> None:
        self.file = file
        self.problems = tuple(problems)
        lines = "\n".join(f"{file}: {p}" for p in self.problems)
        super().__init__(lines)


class ValidationError(RecoilError, ValueError):
    """A value breaks one of recoil's rules."""

    exit_code = 2


class PayloadError(ValidationError):
    """A dispatch payload field is invalid; ``field`` names it."""

    def __init__(self, modality: str, field: str, reason: str) -> None:
        self.modality = modality
        self.field = field
        self.reason = reason
        super().__init__(f"invalid {modality} payload: field {field!r}: {self.reason}")


class WorkflowValidationError(ValidationError):
    """A workflow breaks a structural rule; ``step_id`` names the step."""

    def __init__(self, step_id: str | None, reason: str) -> None:
        self.step_id = step_id
        where = f"step {step_id!r}: " if step_id is not None else ""
        super().__init__(f"invalid workflow: {where}{reason}")


class NotFoundError(RecoilError, LookupError):
    """A name or id does not exist."""

    exit_code = 2

    def __str__(self) -> str:
        # KeyError quotes its argument; keep one readable line instead.
        return str(self.args[0]) if self.args else ""


class UnknownModalityError(NotFoundError, KeyError):
    """The modality is not registered; the message lists those that are."""

    def __init__(self, modality: str, known: Sequence[str]) -> None:
        self.modality = modality
        self.known = tuple(sorted(known))
        super().__init__(
            f"unknown modality {modality!r}; registered modalities: {', '.join(self.known)}"
        )


class UnknownProviderError(NotFoundError, KeyError):
    """No provider of that name serves the modality."""

    def __init__(self, provider: str, modality: str, known: Sequence[str]) -> None:
        self.provider = provider
        self.modality = modality
        self.known = tuple(sorted(known))
        hint = did_you_mean(provider, self.known)
        super().__init__(
            f"no provider {provider!r} for modality {modality!r}; "
            f"available: {', '.join(self.known) or 'none'}{hint}"
        )


class StateError(RecoilError):
    """The operation is not allowed in the object's current state."""


class ProjectBusyError(StateError):
    """Another process is writing the project (one writer per project); try again later."""

    exit_code = 75  # EX_TEMPFAIL, as sysexits.h names "try again later"


class SelectionError(RecoilError):
    """No take of a beat can be chosen by the requested strategy."""


class ScorerUnavailableError(RecoilError):
    """A scorer cannot score this subject here; callers skip it and print the message.

    ``scorer`` names it; ``reason`` says what is missing (an optional extra, the
    model weights, the request or input it compares against) and the fix.
    """

    def __init__(self, scorer: str, reason: str) -> None:
        self.scorer = scorer
        self.reason = reason
        super().__init__(f"scorer {scorer!r} skipped: {reason}")


class ProviderError(RecoilError):
    """A provider call failed.

    ``retryable`` says whether the same request may succeed if sent again
    (timeouts, connection errors, 429, 5xx); ``provider_status`` is the
    provider's raw status (an HTTP code or the vendor's state name);
    ``retry_after_s`` is the provider's requested wait, when it gave one;
    ``unknown_outcome`` marks a submit that may or may not have been accepted;
    ``cost`` is what the vendor billed for the failed call anyway.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        provider_status: str | None = None,
        retry_after_s: float | None = None,
        unknown_outcome: bool = False,
        error_type: str | None = None,
        cost: float = 0.0,
    ) -> None:
        self.retryable = retryable
        self.cost = cost
        self.provider_status = provider_status
        self.retry_after_s = retry_after_s
        self.unknown_outcome = unknown_outcome
        self.error_type = error_type or type(self).__name__
        super().__init__(message)


class DispatchError(RecoilError):
    """A dispatch failed; ``receipt`` is the failed receipt already on disk."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        error = receipt.error
        detail = error.message if error is not None else "unknown error"
        super().__init__(f"{receipt.modality} dispatch via {receipt.provider} failed: {detail}")

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return self.receipt.error is not None and self.receipt.error.retryable


class StoreError(RecoilError):
    """The project store or the receipt log cannot be read or written."""


class BudgetExceededError(RecoilError):
    """Starting a dispatch would take the run's spend over its budget."""


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """Return a `` (did you mean 'x'?)`` suffix for an unknown name, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_DESCRIBE_WIDTH = 60
"""The longest text :func:`describe` returns."""
_DESCRIBE_MAX_INT_BITS = 256


class _ShortRepr(reprlib.Repr):
    """A ``repr`` that looks at a bounded part of any value.

    Parsed YAML may share one list many times over (anchors and aliases), so a
    value that is small in its file can be astronomically large as a tree; only
    the first few items, a few levels deep, are ever visited.
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = 4
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 6
        self.maxstring = self.maxother = _DESCRIBE_WIDTH

    def repr_str(self, x: str, level: int) -> str:
        # A plain prefix (reprlib keeps both ends), so long text reads as it starts.
        return repr(x[: self.maxstring + 1])

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: self.maxstring + 1])

    def repr_int(self, x: int, level: int) -> str:
        # Converting a huge int to text is slow and refused past 4300 digits.
        if x.bit_length() > _DESCRIBE_MAX_INT_BITS:
            return f"<an integer of about {int(x.bit_length() * 0.30103)} digits>"
        return super().repr_int(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        # Keys in file order: reprlib would sort them, which reads worse and walks them all.
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(key, level - 1)}: {self.repr1(item, level - 1)}"
            for key, item in islice(x.items(), self.maxdict)
        ]
        if len(x) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"

    # Sets in iteration order: reprlib would sort them, which walks them all.
    def repr_set(self, x: set[Any], level: int) -> str:
        return self._items("{", x, "}", self.maxset, level) if x else "set()"

    def repr_frozenset(self, x: frozenset[Any], level: int) -> str:
        if not x:
            return "frozenset()"
        return self._items("frozenset({", x, "})", self.maxfrozenset, level)

    def _items(self, left: str, x: Collection[Any], right: str, limit: int, level: int) -> str:
        if level <= 0:
            return f"{left}...{right}"
        pieces = [self.repr1(item, level - 1) for item in islice(x, limit)]
        if len(x) > limit:
            pieces.append("...")
        return left + ", ".join(pieces) + right


_SHORT_REPR = _ShortRepr()


def describe(value: Any) -> str:
    """A short repr of a given value for error messages, at most 60 characters.

    Takes bounded time and memory whatever the value: containers show their
    first few items, a few levels deep.
    """
    text = _SHORT_REPR.repr(value)
    if len(text) <= _DESCRIBE_WIDTH:
        return text
    return text[: _DESCRIBE_WIDTH - 3] + "..."
