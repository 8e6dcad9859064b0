"""Table models built as SQLModel builds them, without its per-field cost.

SQLModel validates nothing for a table model: ``Model(**values)`` takes the values given, fills every other
field from its default, and sets each through SQLAlchemy's attribute machinery and then Pydantic's. On the
hot paths that is most of an object's cost (a repayment builds a dozen rows): for each field Pydantic asks
``inspect.signature`` of its default factory whether it takes the validated data, and each value is set
twice. ``install`` gives every table model a constructor that does the same in one pass: what each field's
default is, is worked out once per class; the values go straight into the instance's ``__dict__``, which
is SQLAlchemy's state dict for a mapped class (what a flush reads an INSERT from; a new object has no
history to keep); the fields set are recorded as SQLModel records them. A class this cannot speak for
(aliases, extra fields, a factory taking the validated data) keeps SQLModel's constructor.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import event
from sqlalchemy.orm import Mapper
from sqlmodel import SQLModel
from sqlmodel.main import finish_init  # type: ignore[attr-defined]  # SQLModel's own flag, not re-exported

# Defaults shared safely between instances; any other default is deep-copied, as Pydantic does.
_IMMUTABLE = (type(None), bool, int, float, str, bytes, Decimal, date, datetime, Enum, tuple, frozenset)


@dataclass(frozen=True, slots=True)
class _Plan:
    fields: frozenset[str]
    defaults: tuple[tuple[str, Any, bool], ...]  # name, the default (or its factory), whether it is a factory
    relationships: frozenset[str]
    post_init: bool


def _plan(cls: type[SQLModel]) -> _Plan | None:
    """How ``cls`` is built, or None when only SQLModel's constructor will do."""
    if cls.model_config.get("extra") == "allow":
        return None
    defaults: list[tuple[str, Any, bool]] = []
    for name, field in cls.model_fields.items():
        if field.alias and field.alias != name:
            return None
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                return None
            defaults.append((name, field.default_factory, True))
        elif field.default is not PydanticUndefined:
            defaults.append((name, field.default, False))
    return _Plan(frozenset(cls.model_fields), tuple(defaults), frozenset(cls.__sqlmodel_relationships__),
                 bool(cls.__pydantic_post_init__))


def _constructor(plan: _Plan) -> Callable[..., None]:
    fields, defaults, relationships = plan.fields, plan.defaults, plan.relationships

    def __init__(self: SQLModel, **data: Any) -> None:
        if not finish_init.get():  # model_validate builds the instance itself
            return
        values = self.__dict__
        for name, default, factory in defaults:
            if name not in data:
                values[name] = default() if factory else (
                    default if isinstance(default, _IMMUTABLE) else copy.deepcopy(default))
        given = set()
        for name, value in data.items():
            if name in fields:
                values[name] = value
                given.add(name)
            elif name in relationships:
                setattr(self, name, value)
        object.__setattr__(self, "__pydantic_fields_set__", given)
        object.__setattr__(self, "__pydantic_extra__", None)
        if plan.post_init:
            self.model_post_init(None)
        else:
            object.__setattr__(self, "__pydantic_private__", None)

    return __init__


def _install(mapper: Mapper[Any], cls: type[Any]) -> None:
    if mapper.class_manager.original_init is not SQLModel.__init__:
        return  # not a SQLModel, or a model with a constructor of its own: it keeps it
    plan = _plan(cls)
    if plan is not None:
        # SQLAlchemy's instrumented __init__ calls the manager's original_init once the instance has state.
        mapper.class_manager.original_init = _constructor(plan)


def install() -> None:
    """Give each table model mapped from now on the one-pass constructor (called once, by ``kernel.db``)."""
    if not event.contains(Mapper, "after_mapper_constructed", _install):
        event.listen(Mapper, "after_mapper_constructed", _install)


def is_installed(cls: type[SQLModel]) -> bool:
    return cls.__mapper__.class_manager.original_init.__qualname__.startswith(_constructor.__qualname__)  # type: ignore[attr-defined]  # mapped classes have __mapper__

