"""The error tree: one module holds every exception, each under MongoZarrError (or the warning base)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import mongozarr
from mongozarr import errors


def _package_modules() -> list[str]:
    names = ["mongozarr"]
    for info in pkgutil.walk_packages(mongozarr.__path__, "mongozarr."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def test_every_exception_class_of_the_package_lives_in_errors() -> None:
    strays = []
    for name in _package_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == name and name != "mongozarr.errors"):
                strays.append(f"{name}.{attr}")
    assert strays == []


def test_the_tree_has_two_roots_and_everything_is_exported() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, (errors.MongoZarrError, errors.MongoZarrWarning)), name
        assert getattr(mongozarr, name) is cls, f"mongozarr.{name} is not exported"
    defined = {n for n, v in vars(errors).items() if inspect.isclass(v) and v.__module__ == "mongozarr.errors"}
    assert defined - set(errors.__all__) <= {"_MessageKeyError"}


@pytest.mark.parametrize(("cls", "builtin"), [
    (errors.NodeNotFoundError, KeyError),
    (errors.AttributeNotFoundError, KeyError),
    (errors.LeaseTimeout, TimeoutError),
    (errors.LeaseLost, errors.ConflictError),
    (errors.DocumentTooLargeError, errors.InvalidMetadataError),
    (errors.InvalidMetadataError, ValueError),
    (errors.QueryError, ValueError),
    (errors.ZPathError, ValueError),
    (errors.InvalidInputError, ValueError),
    (errors.NotAnArrayError, TypeError),
    (errors.AmbiguousWriteWarning, UserWarning),
])
def test_builtin_mixins_keep_python_idioms(cls: type, builtin: type) -> None:
    assert issubclass(cls, builtin)


def test_key_errors_print_their_message_not_its_repr() -> None:
    assert str(errors.NodeNotFoundError("no node at '/a'")) == "no node at '/a'"
    assert str(errors.AttributeNotFoundError("/a@b: no attribute")) == "/a@b: no attribute"
