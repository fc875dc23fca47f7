"""Local AXME gateway emulator (no Django imports).

Public names (imported lazily so that ``import django_axme.emulator`` stays cheap)::

    Emulator, EmulatorServer, mock_gateway, FaultPlan, DEFAULT_API_KEY,
    Script, WorkerScript, ApprovalScript, FailingScript, DeadlineScript, parse_script
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.emulator.agents import (
        ApprovalScript,
        DeadlineScript,
        FailingScript,
        Script,
        WorkerScript,
        parse_script,
    )
    from django_axme.emulator.emulator import DEFAULT_API_KEY, Emulator
    from django_axme.emulator.faults import FaultPlan
    from django_axme.emulator.mock import mock_gateway
    from django_axme.emulator.server import EmulatorServer

__all__ = [
    "DEFAULT_API_KEY",
    "ApprovalScript",
    "DeadlineScript",
    "Emulator",
    "EmulatorServer",
    "FailingScript",
    "FaultPlan",
    "Script",
    "WorkerScript",
    "mock_gateway",
    "parse_script",
]

_WHERE = {
    "DEFAULT_API_KEY": "emulator",
    "Emulator": "emulator",
    "EmulatorServer": "server",
    "mock_gateway": "mock",
    "FaultPlan": "faults",
    "Script": "agents",
    "WorkerScript": "agents",
    "ApprovalScript": "agents",
    "FailingScript": "agents",
    "DeadlineScript": "agents",
    "parse_script": "agents",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'django_axme.emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"django_axme.emulator.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
