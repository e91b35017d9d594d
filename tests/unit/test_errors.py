"""The error tree (SPEC 2, ARCHITECTURE "Errors")."""

from __future__ import annotations

import pickle
import time

import pytest

from recoil.errors import (
    ConfigError,
    DispatchError,
    NotFoundError,
    PayloadError,
    ProviderError,
    RecoilError,
    ShotListError,
    UnknownModalityError,
    UnknownProviderError,
    ValidationError,
    WorkflowValidationError,
    describe,
    did_you_mean,
)
from recoil.model.cost import Cost
from recoil.model.receipt import Receipt, ReceiptError, ReceiptStatus


def _failed_receipt(*, retryable: bool) -> Receipt:
    return Receipt(
        receipt_id="r_1",
        modality="keyframe",
        provider="fake",
        model="m",
        status=ReceiptStatus.FAILED,
        request_sha256="0" * 64,
        prompt="p",
        prompt_sha256="1" * 64,
        seed=1,
        started_us=1,
        finished_us=2,
        cost=Cost(amount=0.5, source="reported"),
        error=ReceiptError(type="http", message="boom", retryable=retryable, provider_status="503"),
    )


def test_unknown_modality_error_is_keyerror_and_recoil_error() -> None:
    """SPEC 2.1: UnknownModalityError is a KeyError and a RecoilError listing the modalities."""
    exc = UnknownModalityError("smell", ["video", "audio", "keyframe"])
    assert isinstance(exc, KeyError)
    assert isinstance(exc, LookupError)
    assert isinstance(exc, RecoilError)
    assert exc.known == ("audio", "keyframe", "video")
    text = str(exc)
    assert "'smell'" in text
    assert "audio, keyframe, video" in text
    # One readable line, not KeyError's quoted repr.
    assert not text.startswith('"')
    with pytest.raises(KeyError):
        raise exc


def test_unknown_provider_error_suggests_a_close_name() -> None:
    """SPEC 2.3: an unknown provider is a KeyError naming what is available."""
    exc = UnknownProviderError("previs", "keyframe", ["previz", "fake"])
    assert isinstance(exc, KeyError)
    assert isinstance(exc, NotFoundError)
    assert "did you mean 'previz'?" in str(exc)
    assert "fake, previz" in str(exc)


def test_payload_error_names_field_and_reason() -> None:
    """SPEC 2.2: PayloadError names the field and the reason; it is a ValueError."""
    exc = PayloadError("keyframe", "width", "must be >= 16")
    assert isinstance(exc, ValueError)
    assert isinstance(exc, ValidationError)
    assert exc.field == "width"
    assert "'width'" in str(exc)
    assert "must be >= 16" in str(exc)
    assert exc.exit_code == 2


def test_workflow_validation_error_names_the_step() -> None:
    """SPEC 5: WorkflowValidationError names the step."""
    exc = WorkflowValidationError("video", "duplicate step id")
    assert exc.step_id == "video"
    assert "'video'" in str(exc)
    assert isinstance(exc, ValueError)
    assert "step" not in str(WorkflowValidationError(None, "empty"))


def test_dispatch_error_carries_the_failed_receipt() -> None:
    """SPEC 2.5: DispatchError carries the failed receipt and its retryable flag."""
    receipt = _failed_receipt(retryable=True)
    exc = DispatchError(receipt)
    assert exc.receipt is receipt
    assert exc.retryable is True
    assert "boom" in str(exc)
    assert DispatchError(_failed_receipt(retryable=False)).retryable is False


def test_provider_error_is_structured() -> None:
    """SPEC 2.5: a provider error says if it is retryable and keeps the raw status and cost."""
    exc = ProviderError("slow down", retryable=True, provider_status="429", retry_after_s=3.0)
    assert exc.retryable
    assert exc.provider_status == "429"
    assert exc.retry_after_s == 3.0
    assert exc.error_type == "ProviderError"
    assert ProviderError("x", retryable=False, error_type="timeout", cost=0.2).cost == 0.2


def test_exit_codes() -> None:
    """SPEC 12: bad input exits 2, failures exit 1."""
    assert RecoilError.exit_code == 1
    assert ConfigError.exit_code == 2
    assert ValidationError.exit_code == 2
    assert UnknownModalityError.exit_code == 2
    assert DispatchError.exit_code == 1
    shot = ShotListError("shots.yaml", ["scenes[0].beats[1].shot.size: not allowed"])
    assert str(shot) == "shots.yaml: scenes[0].beats[1].shot.size: not allowed"


def test_helpers() -> None:
    """SPEC 2: messages suggest close names and keep values short."""
    assert did_you_mean("keyfram", ["keyframe", "video"]) == " (did you mean 'keyframe'?)"
    assert did_you_mean("zzz", ["keyframe"]) == ""
    assert describe("x" * 100).endswith("...")
    assert len(describe("x" * 100)) == 60


@pytest.mark.parametrize(
    "error",
    [
        UnknownModalityError("smell", ["video"]),
        UnknownProviderError("previs", "keyframe", ["previz"]),
        PayloadError("keyframe", "width", "too small"),
        WorkflowValidationError("kf", "duplicate step id"),
        ShotListError("shots.yaml", ["a: bad"]),
        ProviderError("busy", retryable=True, provider_status="503", cost=0.1),
        DispatchError(_failed_receipt(retryable=True)),
    ],
)
def test_errors_survive_pickling(error: RecoilError) -> None:
    """SPEC 2.5 / 7: errors (a DispatchError with its receipt) cross process boundaries intact,
    as worker pools and the Ray executor need."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def _laughs(levels: int = 9) -> list[object]:
    """Nine lists of nine lists... nine levels deep, all one shared list: ~387M leaves."""
    value: list[object] = ["lol"] * 9
    for _ in range(levels - 1):
        value = [value] * 9
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_laughs(), "[[[[...], [...], [...], [...], [...], [...], ...], [[...]..."),
        (10**5000, "<an integer of about 5000 digits>"),
        ("x" * 10**6, "'" + "x" * 56 + "..."),
        ({f"k{i}": i for i in range(10**5)}, "{'k0': 0, 'k1': 1, 'k2': 2, 'k3': 3, ...}"),
        (set(range(10**5)), "{0, 1, 2, 3, 4, 5, ...}"),
    ],
    ids=["billion-laughs", "huge-int", "long-string", "big-dict", "big-set"],
)
def test_describe_is_bounded_whatever_the_value(value: object, expected: str) -> None:
    """Issue 11 item 6: error messages quote an excerpt, in bounded time and memory."""
    start = time.perf_counter()
    text = describe(value)
    assert time.perf_counter() - start < 0.1
    assert text == expected
    assert len(text) <= 60
