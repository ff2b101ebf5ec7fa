"""Package docstrings that list their package's contents list all of it.

``models``, ``registrations`` and ``registrations.support`` each name every
module and sub-package they hold in their docstring (as ````name````), so a
reader opening the package sees the whole of it; a module added without a
line there fails here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "notification_actions"

LISTED = ["models", "registrations", "registrations.support"]


def contents(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    modules = [p.stem for p in folder.glob("*.py") if p.name != "__init__.py"]
    packages = [p.name for p in folder.iterdir() if (p / "__init__.py").is_file()]
    return sorted(modules + packages)


@pytest.mark.parametrize("package", LISTED)
def test_the_docstring_names_every_module(package):
    doc = importlib.import_module(f"notification_actions.{package}").__doc__ or ""
    unnamed = [name for name in contents(package) if f"``{name}``" not in doc]
    assert not unnamed, f"notification_actions/{package.replace('.', '/')}/__init__.py's docstring does not name: {unnamed}"


def test_the_walk_finds_modules_and_subpackages():
    """The walk itself, against what the folders are known to hold."""
    assert {"paths", "delivery", "registry", "checks"} <= set(contents("models"))
    assert {"base", "catalog", "support", "webhook"} <= set(contents("registrations"))
    assert {"common", "http", "incoming_webhook", "text"} <= set(contents("registrations.support"))


def test_support_exports_nothing_itself():
    support = importlib.import_module("notification_actions.registrations.support")
    assert support.__all__ == []
