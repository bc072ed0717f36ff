"""docs/configuration.md lists every setting: each field of each pydantic-settings class in libs/,
services/ and cli/ has a row in its class's section, under every name pydantic-settings reads it
from; no row of a class's section names anything else; and those names are the ones
pydantic-settings resolves (checked by setting each in the environment and reading the field
back)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, AliasPath
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/configuration.md"
SOURCES = [*ROOT.glob("libs/*/src"), *ROOT.glob("services/*/src"), ROOT / "cli/src"]
ENV_NAME = re.compile(r"`([A-Za-z][A-Za-z0-9_]*)`")


def settings_classes() -> list[type[BaseSettings]]:
    """Every class in the packages' sources deriving (directly or not) from BaseSettings: found
    by reading the sources for classes with a base named `...Settings`, then imported."""
    found: dict[str, type[BaseSettings]] = {}
    for src in SOURCES:
        for path in sorted(src.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = [
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.ClassDef)
                and any(
                    (isinstance(b, ast.Name) and b.id.endswith("Settings"))
                    or (isinstance(b, ast.Attribute) and b.attr.endswith("Settings"))
                    for b in node.bases
                )
            ]
            if not names:
                continue
            module = importlib.import_module(".".join(path.relative_to(src).with_suffix("").parts))
            for name in names:
                cls = getattr(module, name, None)
                if isinstance(cls, type) and issubclass(cls, BaseSettings):
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variables pydantic-settings reads the field from, in priority order."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    if isinstance(alias, str):
        return [alias]
    if field.alias:
        return [field.alias]
    return [f"{cls.model_config.get('env_prefix', '')}{name}".upper()]


def defining_class(cls: type[BaseSettings], name: str) -> type[BaseSettings]:
    """The class in `cls`'s MRO that declares the field (the section that documents it)."""
    for klass in cls.__mro__:
        if name in inspect.get_annotations(klass):
            return klass
    return cls


def doc_sections() -> dict[str, set[str]]:
    """Names in the first column of the tables, by the settings class named in the heading of
    their section (`## router (`RouterSettings`)`)."""
    sections: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            classes = re.findall(r"`(\w+Settings)`", line)
            current = sections.setdefault(classes[0], set()) if classes else None
        elif current is not None and line.startswith("|") and not line.startswith("|---"):
            current.update(ENV_NAME.findall(line.split("|")[1]))
    return sections


CLASSES = settings_classes()
FIELDS = [
    (cls, name, field)
    for cls in CLASSES
    for name, field in cls.model_fields.items()
    if defining_class(cls, name) is cls
]


def test_the_settings_classes_are_found() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {
        "CommonSettings",
        "GatewaySettings",
        "RouterSettings",
        "LegacySettings",
        "DomainSettings",
        "ComparatorSettings",
    } <= names
    assert len(FIELDS) >= 45


@pytest.mark.parametrize(
    ("cls", "name", "field"), FIELDS, ids=[f"{cls.__name__}.{name}" for cls, name, _ in FIELDS]
)
def test_every_setting_has_a_row_in_its_section(cls: type[BaseSettings], name: str, field: FieldInfo) -> None:
    sections = doc_sections()
    assert cls.__name__ in sections, (
        f"docs/configuration.md has no section for {cls.__name__} (a heading naming `{cls.__name__}`)"
    )
    missing = [env for env in env_names(cls, name, field) if env not in sections[cls.__name__]]
    assert not missing, (
        f"{cls.__name__}.{name} is read from {missing}, which docs/configuration.md does not list "
        f"in its {cls.__name__} section"
    )


def test_no_row_names_a_setting_that_does_not_exist() -> None:
    declared: dict[str, set[str]] = {}
    for cls, name, field in FIELDS:
        declared.setdefault(cls.__name__, set()).update(env_names(cls, name, field))
    stale = {
        section: sorted(names - declared.get(section, set()))
        for section, names in doc_sections().items()
        if names - declared.get(section, set())
    }
    assert not stale, f"docs/configuration.md lists names no settings field of that class reads: {stale}"


def sample(annotation: Any, default: Any) -> str | None:
    """An environment value, different from the default, that the field accepts (None: a type
    this test does not know how to fill)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return next((str(a) for a in args if a != default), None)
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return sample(args[0], default)
    if annotation is bool:
        return "false" if default else "true"
    if annotation is int:
        return str((default or 0) + 1)
    if annotation is float:
        return str(default / 2 if default else 0.5)
    if annotation is Decimal:
        return "12.5"
    if annotation is Path:
        return "/tmp/parallax-configuration-doc"
    if annotation is str:
        return f"{default or 'x'}_doc"
    return None


@pytest.mark.parametrize(
    ("cls", "name", "field"), FIELDS, ids=[f"{cls.__name__}.{name}" for cls, name, _ in FIELDS]
)
def test_each_listed_name_is_read_by_pydantic_settings(
    cls: type[BaseSettings], name: str, field: FieldInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = sample(field.annotation, field.default)
    if value is None:
        pytest.skip(f"no sample value for {field.annotation}")
    names = env_names(cls, name, field)
    for env in {n for ns in (env_names(c, f, i) for c, f, i in FIELDS) for n in ns}:
        monkeypatch.delenv(env, raising=False)
    for env in names:
        with monkeypatch.context() as m:
            m.setenv(env, value)
            read = getattr(cls(), name)
        assert read != field.default and str(read).lower() == value.lower(), (
            f"{cls.__name__}.{name}: {env}={value} read as {read!r}"
        )
