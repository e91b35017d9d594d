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
    ├── SelectionError                  exit 1  no take can be chosen as primary
    ├── ProviderError                   exit 1  a provider call failed (retryable flag)
    ├── DispatchError                   exit 1  a dispatch failed; carries the failed receipt
    ├── StoreError                      exit 1  the project store or receipt log
    └── BudgetExceededError             exit 1  a dispatch would take spend over budget
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from recoil.records.redact import redact_text

if TYPE_CHECKING:
    from recoil.records.receipt import Receipt


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
        # Reasons quote the bad value, which may be a key pasted into the wrong field.
        self.reason = redact_text(reason)
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


class SelectionError(RecoilError):
    """No take of a beat can be chosen by the requested strategy."""


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


def describe(value: Any) -> str:
    """A short repr of a given value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
