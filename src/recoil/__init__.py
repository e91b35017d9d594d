"""recoil: a production engine for AI film.

A shot list becomes keyframes, video clips, audio and an edited cut through
any generation provider, with a receipt for every call and a provenance
sidecar for every file. The names below are the public API; everything else
is private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recoil.dispatch import (
        Dispatcher,
        dispatch,
        dispatch_async,
    )
    from recoil.errors import (
        BudgetExceededError,
        ConfigError,
        DispatchError,
        NotFoundError,
        PayloadError,
        ProjectBusyError,
        ProviderError,
        RecoilError,
        SelectionError,
        ShotListError,
        StateError,
        StoreError,
        UnknownModalityError,
        UnknownProviderError,
        ValidationError,
        WorkflowValidationError,
    )
    from recoil.execution.policy import (
        Limits,
        ProviderLimit,
        RetryPolicy,
    )
    from recoil.model.context import (
        DispatchContext,
    )
    from recoil.model.cost import Cost
    from recoil.model.provider_config import ProviderConfig
    from recoil.model.receipt import (
        Artifact,
        EvalRecord,
        Receipt,
        ReceiptStatus,
        Submitted,
    )
    from recoil.model.requests import (
        AudioRequest,
        KeyframeRequest,
        Request,
        UpscaleRequest,
        VideoRequest,
    )
    from recoil.model.review import ReviewNote, ReviewStatus
    from recoil.model.take import (
        Beat,
        PrimaryStrategy,
        Project,
        Scene,
        Take,
        TakeStatus,
    )
    from recoil.model.workflow import (
        StepStatus,
        Workflow,
        WorkflowStep,
    )
    from recoil.providers.base import Job, JobState, JobStatus, Output, Provider
    from recoil.providers.fake import (
        FakeProvider,
    )
    from recoil.providers.registry import (
        Registry,
        default_registry,
        register_default_runners,
    )
    from recoil.records.artifacts import (
        ArtifactStore,
    )
    from recoil.records.cache import (
        request_sha256,
    )
    from recoil.records.log import (
        ReceiptLog,
        read_records,
    )
    from recoil.store import ProjectStore

# Public name -> the module that defines it. Imported on first use, so that
# `recoil --help` and `import recoil.errors` stay fast.
_WHERE = {
    "ProjectStore": "recoil.store",
    "ReviewNote": "recoil.model.review",
    "ReviewStatus": "recoil.model.review",
    "Artifact": "recoil.model.receipt",
    "ArtifactStore": "recoil.records.artifacts",
    "AudioRequest": "recoil.model.requests",
    "Beat": "recoil.model.take",
    "BudgetExceededError": "recoil.errors",
    "ConfigError": "recoil.errors",
    "Cost": "recoil.model.cost",
    "DispatchContext": "recoil.model.context",
    "DispatchError": "recoil.errors",
    "Dispatcher": "recoil.dispatch",
    "EvalRecord": "recoil.model.receipt",
    "FakeProvider": "recoil.providers.fake",
    "Job": "recoil.providers.base",
    "JobState": "recoil.providers.base",
    "JobStatus": "recoil.providers.base",
    "KeyframeRequest": "recoil.model.requests",
    "Limits": "recoil.execution.policy",
    "NotFoundError": "recoil.errors",
    "Output": "recoil.providers.base",
    "PayloadError": "recoil.errors",
    "PrimaryStrategy": "recoil.model.take",
    "ProjectBusyError": "recoil.errors",
    "Project": "recoil.model.take",
    "Provider": "recoil.providers.base",
    "ProviderConfig": "recoil.model.provider_config",
    "ProviderError": "recoil.errors",
    "ProviderLimit": "recoil.execution.policy",
    "Receipt": "recoil.model.receipt",
    "ReceiptLog": "recoil.records.log",
    "ReceiptStatus": "recoil.model.receipt",
    "RecoilError": "recoil.errors",
    "Registry": "recoil.providers.registry",
    "Request": "recoil.model.requests",
    "RetryPolicy": "recoil.execution.policy",
    "Scene": "recoil.model.take",
    "SelectionError": "recoil.errors",
    "ShotListError": "recoil.errors",
    "StateError": "recoil.errors",
    "StepStatus": "recoil.model.workflow",
    "StoreError": "recoil.errors",
    "Submitted": "recoil.model.receipt",
    "Take": "recoil.model.take",
    "TakeStatus": "recoil.model.take",
    "UnknownModalityError": "recoil.errors",
    "UnknownProviderError": "recoil.errors",
    "UpscaleRequest": "recoil.model.requests",
    "ValidationError": "recoil.errors",
    "VideoRequest": "recoil.model.requests",
    "Workflow": "recoil.model.workflow",
    "WorkflowStep": "recoil.model.workflow",
    "WorkflowValidationError": "recoil.errors",
    "default_registry": "recoil.providers.registry",
    "dispatch": "recoil.dispatch",
    "dispatch_async": "recoil.dispatch",
    "read_records": "recoil.records.log",
    "register_default_runners": "recoil.providers.registry",
    "request_sha256": "recoil.records.cache",
}

__all__ = [
    "Artifact",
    "ArtifactStore",
    "AudioRequest",
    "Beat",
    "BudgetExceededError",
    "ConfigError",
    "Cost",
    "DispatchContext",
    "DispatchError",
    "Dispatcher",
    "EvalRecord",
    "FakeProvider",
    "Job",
    "JobState",
    "JobStatus",
    "KeyframeRequest",
    "Limits",
    "NotFoundError",
    "Output",
    "PayloadError",
    "PrimaryStrategy",
    "Project",
    "ProjectBusyError",
    "ProjectStore",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderLimit",
    "Receipt",
    "ReceiptLog",
    "ReceiptStatus",
    "RecoilError",
    "Registry",
    "Request",
    "RetryPolicy",
    "ReviewNote",
    "ReviewStatus",
    "Scene",
    "SelectionError",
    "ShotListError",
    "StateError",
    "StepStatus",
    "StoreError",
    "Submitted",
    "Take",
    "TakeStatus",
    "UnknownModalityError",
    "UnknownProviderError",
    "UpscaleRequest",
    "ValidationError",
    "VideoRequest",
    "Workflow",
    "WorkflowStep",
    "WorkflowValidationError",
    "default_registry",
    "dispatch",
    "dispatch_async",
    "read_records",
    "register_default_runners",
    "request_sha256",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'recoil' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
