"""The layer rules of docs/architecture.rst, enforced on the source.

Every ``import`` and ``from ... import`` in ``django_axme/`` (at any depth, inside functions
too) is read with ``ast`` and checked against the contracts below. A second test imports the
client and the emulator core in a fresh interpreter and asserts Django never got loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "django_axme"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            # ``from django_axme import sync`` imports the submodule.
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@dataclass(frozen=True)
class Contract:
    """Modules under ``layer`` import none of ``forbidden`` (``except_files`` are exempt)."""

    layer: str
    forbidden: tuple[str, ...]
    reason: str
    except_files: tuple[str, ...] = ()


CONTRACTS = [
    Contract(
        "django_axme.client",
        ("django", "celery", "django_axme.conf", "django_axme.models", "django_axme.sync"),
        "the client is usable without Django",
    ),
    Contract(
        "django_axme.emulator",
        ("django", "celery", "django_axme.models", "django_axme.sync", "django_axme.tasks"),
        "the emulator runs without Django",
        # The pytest plugin is the emulator's Django-facing front door: it points
        # settings.AXME at the emulator inside its fixtures.
        except_files=("django_axme.emulator.pytest_plugin",),
    ),
    Contract(
        "django_axme.models",
        ("django_axme.sync", "django_axme.tasks", "django_axme.admin", "celery"),
        "models are read by every layer and depend on none of them",
    ),
    Contract(
        "django_axme.sync",
        ("django_axme.admin", "django_axme.tasks", "django_axme.management", "celery"),
        "the one writer is called by front ends, never the other way round",
    ),
    Contract(
        "django_axme.services",
        ("django_axme.admin", "django_axme.tasks", "django_axme.management", "celery"),
        "services are shared by every front end and know none of them",
    ),
    Contract(
        "django_axme.tasks",
        ("django_axme.admin", "django_axme.management"),
        "tasks are a front end: they call services and sync, never the admin",
    ),
    Contract(
        "django_axme.querysets",
        ("django_axme.sync", "django_axme.tasks", "django_axme.admin", "django_axme.services"),
        "the query vocabulary is part of the models and reads only",
    ),
]


def _files_of(layer: str) -> list[Path]:
    as_path = PACKAGE_DIR.parent.joinpath(*layer.split("."))
    if as_path.is_dir():
        return sorted(as_path.rglob("*.py"))
    single = as_path.with_suffix(".py")
    return [single] if single.is_file() else []


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.layer for c in CONTRACTS])
def test_layer_imports_nothing_it_must_not(contract: Contract) -> None:
    files = _files_of(contract.layer)
    assert files, f"no source found for {contract.layer}"
    breaches = []
    for path in files:
        module = _module_name(path)
        if module in contract.except_files:
            continue
        for name in sorted(_imports(path)):
            if any(_within(name, bad) for bad in contract.forbidden):
                breaches.append(f"{module} imports {name}")
    assert not breaches, f"{contract.reason}:\n" + "\n".join(breaches)


def test_the_checker_sees_imports_inside_functions_and_relative_ones() -> None:
    source = PACKAGE_DIR / "sync" / "events.py"
    names = _imports(source)
    assert any(_within(n, "django_axme.models") for n in names), names
    assert any(_within(n, "django") for n in names), names


def test_client_and_emulator_core_load_without_django() -> None:
    code = (
        "import sys\n"
        "import django_axme.client, django_axme.emulator.core, django_axme.emulator.server\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PACKAGE_DIR.parent,
        check=True,
    )
    assert result.stdout.strip() == "", f"Django modules loaded: {result.stdout.strip()}"


#: Modules allowed past the size limit: the emulator (a separate program) and the client
#: families.
SIZE_EXEMPT = ("django_axme.emulator", "django_axme.client.families")
MAX_LINES = 500


def test_no_module_is_over_the_size_limit() -> None:
    over = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        module = _module_name(path)
        if any(_within(module, exempt) for exempt in SIZE_EXEMPT):
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            over.append(f"{module}: {lines} lines")
    assert not over, over
