"""Types of the names :mod:`potstill` loads on first access (see ``__init__.py``);
each is re-exported explicitly (``import X as X``)."""

from typing import Any

from potstill.api import bench as bench
from potstill.api import check as check
from potstill.api import demo as demo
from potstill.api import distill as distill
from potstill.api import report as report
from potstill.api import study as study
from potstill.config import FleetConfig as FleetConfig
from potstill.config import load_fleet as load_fleet
from potstill.data import load_builtin as load_builtin
from potstill.data import load_table as load_table
from potstill.errors import BenchError as BenchError
from potstill.errors import ConfigError as ConfigError
from potstill.errors import DataError as DataError
from potstill.errors import GateError as GateError
from potstill.errors import MethodError as MethodError
from potstill.errors import MissingDependencyError as MissingDependencyError
from potstill.errors import ModelError as ModelError
from potstill.errors import PotstillError as PotstillError
from potstill.errors import PriceError as PriceError
from potstill.errors import StoreError as StoreError
from potstill.errors import UnsafeModelError as UnsafeModelError
from potstill.methods import create_method as create_method
from potstill.methods import list_methods as list_methods
from potstill.methods import register_method as register_method
from potstill.models.teacher import Teacher as Teacher
from potstill.models.teacher import load_teacher as load_teacher
from potstill.runner import run_study as run_study
from potstill.types import CostProfile as CostProfile
from potstill.types import Costs as Costs
from potstill.types import DatasetInfo as DatasetInfo
from potstill.types import Outputs as Outputs
from potstill.types import Quality as Quality
from potstill.types import RunRecord as RunRecord
from potstill.types import Split as Split
from potstill.types import Task as Task

__version__: str
__all__: list[str]

def __getattr__(name: str) -> Any: ...
