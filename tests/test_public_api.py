"""Each package says what it offers: a docstring naming its files, and an ``__all__`` that holds.

- every package's ``__init__`` has ``__all__`` and a docstring that names each of its
  modules and sub-packages (so the tree can be read from the docstrings alone);
- every name in any module's ``__all__`` exists in that module;
- what a package's ``__all__`` lists is importable from the package.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import notification_actions

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(notification_actions.__path__, "notification_actions.")
    if not info.name.endswith("__main__")
)
PACKAGES = ["notification_actions"] + sorted(
    info.name for info in pkgutil.walk_packages(notification_actions.__path__, "notification_actions.") if info.ispkg
)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_declares_all_and_names_its_files(name):
    package = importlib.import_module(name)
    assert hasattr(package, "__all__"), f"{name}/__init__.py has no __all__"
    doc = package.__doc__ or ""
    children = [info.name for info in pkgutil.iter_modules(package.__path__) if info.name != "__main__"]
    missing = [child for child in children if child not in doc]
    assert not missing, f"the docstring of {name} does not name {missing}"


@pytest.mark.parametrize("name", ["notification_actions", *MODULES])
def test_every_name_in_all_exists(name):
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
    assert len(set(getattr(module, "__all__", []))) == len(getattr(module, "__all__", [])), f"{name}.__all__ repeats"
