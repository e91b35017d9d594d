# The public API of recoil, each name once. Type checkers read this stub as the
# package's interface; at run time `lazy_loader.attach_stub` (in __init__.py) reads
# the same imports and imports each name on first use. `X as X` marks a re-export
# for type checkers; lazy_loader accepts only `from .module import name` forms.
# Plumbing (the receipt log, the artifact store, the cache key, the project
# store, scheduler policy) stays in its module: import it from there.

from .dispatch import Dispatcher as Dispatcher
from .dispatch import dispatch as dispatch
from .dispatch import dispatch_async as dispatch_async
from .errors import BudgetExceededError as BudgetExceededError
from .errors import ConfigError as ConfigError
from .errors import DispatchError as DispatchError
from .errors import NotFoundError as NotFoundError
from .errors import PayloadError as PayloadError
from .errors import ProjectBusyError as ProjectBusyError
from .errors import ProviderError as ProviderError
from .errors import RecoilError as RecoilError
from .errors import ScorerUnavailableError as ScorerUnavailableError
from .errors import SelectionError as SelectionError
from .errors import ShotListError as ShotListError
from .errors import StateError as StateError
from .errors import StoreError as StoreError
from .errors import UnknownModalityError as UnknownModalityError
from .errors import UnknownProviderError as UnknownProviderError
from .errors import ValidationError as ValidationError
from .errors import WorkflowValidationError as WorkflowValidationError
from .evals.evaluate import Evaluation as Evaluation
from .evals.evaluate import evaluate as evaluate
from .evals.registry import ScorerRegistry as ScorerRegistry
from .evals.score import Score as Score
from .evals.score import Scorer as Scorer
from .evals.subject import Subject as Subject
from .model.context import DispatchContext as DispatchContext
from .model.cost import Cost as Cost
from .model.provider_config import ProviderConfig as ProviderConfig
from .model.receipt import Artifact as Artifact
from .model.receipt import Receipt as Receipt
from .model.receipt import ReceiptStatus as ReceiptStatus
from .model.requests import AudioRequest as AudioRequest
from .model.requests import KeyframeRequest as KeyframeRequest
from .model.requests import Request as Request
from .model.requests import UpscaleRequest as UpscaleRequest
from .model.requests import VideoRequest as VideoRequest
from .model.review import ReviewNote as ReviewNote
from .model.review import ReviewStatus as ReviewStatus
from .model.take import Beat as Beat
from .model.take import PrimaryStrategy as PrimaryStrategy
from .model.take import Project as Project
from .model.take import Scene as Scene
from .model.take import Take as Take
from .model.take import TakeStatus as TakeStatus
from .model.workflow import StepStatus as StepStatus
from .model.workflow import Workflow as Workflow
from .model.workflow import WorkflowStep as WorkflowStep
from .production.project import ProjectHandle as ProjectHandle
from .production.project import open_project as open_project
from .production.run import RunOptions as RunOptions
from .production.shootout import Shootout as Shootout
from .production.shootout import shootout as shootout
from .providers.base import Job as Job
from .providers.base import JobState as JobState
from .providers.base import JobStatus as JobStatus
from .providers.base import Provider as Provider
from .providers.fake import FakeProvider as FakeProvider
from .providers.registry import Registry as Registry
from .providers.registry import default_registry as default_registry
from .providers.registry import register_default_runners as register_default_runners
