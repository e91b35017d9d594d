"""recoil: a production engine for AI film.

A shot list becomes keyframes, video clips, audio and an edited cut through
any generation provider, with a receipt for every call and a provenance
sidecar for every file. The names below are the public API; everything else
is private.
"""

from recoil.context import DispatchContext
from recoil.dispatch import Dispatcher, dispatch, dispatch_async
from recoil.errors import (
    BudgetExceededError,
    ConfigError,
    DispatchError,
    NotFoundError,
    PayloadError,
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
from recoil.execution.policy import Limits, ProviderLimit, RetryPolicy
from recoil.model.requests import (
    AudioRequest,
    KeyframeRequest,
    Request,
    UpscaleRequest,
    VideoRequest,
)
from recoil.model.take import Beat, PrimaryStrategy, Project, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.providers.base import Cost, Job, JobState, JobStatus, Output, Provider, ProviderConfig
from recoil.providers.fake import FakeProvider
from recoil.providers.registry import Registry, default_registry, register_default_runners
from recoil.records.artifacts import ArtifactStore
from recoil.records.cache import request_sha256
from recoil.records.log import ReceiptLog, read_records
from recoil.records.receipt import Artifact, EvalRecord, Receipt, ReceiptStatus, Submitted

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
