"""The catalog of service items (事项目录, DESIGN §5) as values.

The county writes its catalog as TOML (``examples/sample-catalog.toml``); the hub turns it into
these values, signs it as a version of the ``CATALOG`` log, and every node pre-reviews cases
against the version it holds. This module parses and checks catalog text; it reads no files.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from node.kernel.errors import CatalogError

__all__ = [
    "FIELD_TYPES",
    "Catalog",
    "FieldSpec",
    "Item",
    "MaterialSpec",
    "parse_catalog_toml",
]

FIELD_TYPES = ("int", "decimal", "date", "text")
_TIERS = ("village", "township", "county")
_DECIDERS = ("county", "township")


@dataclass(frozen=True, kw_only=True)
class MaterialSpec:
    code: str
    name: str
    required: bool


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    name: str
    label: str
    type: str
    required: bool
    min: Decimal | None = None
    max: Decimal | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise CatalogError(
                f"field {self.name!r}: type {self.type!r} is not one of {', '.join(FIELD_TYPES)}",
            )


@dataclass(frozen=True, kw_only=True)
class Item:
    code: str
    name: str
    name_en: str
    accept_at: tuple[str, ...]
    decided_by: str
    departments: tuple[str, ...]
    statutory_days: int
    promised_days: int
    fee_yuan: Decimal
    materials: tuple[MaterialSpec, ...]
    fields: tuple[FieldSpec, ...]

    def __post_init__(self) -> None:
        where = f"item {self.code}"
        for tier in self.accept_at:
            if tier not in _TIERS:
                raise CatalogError(f"{where}: accept_at names unknown tier {tier!r}")
        if not self.accept_at:
            raise CatalogError(f"{where}: accept_at is empty; name at least one tier")
        if self.decided_by not in _DECIDERS:
            raise CatalogError(f"{where}: decided_by must be 'county' or 'township'")
        if not self.departments:
            raise CatalogError(f"{where}: list at least one department")
        if not 0 < self.promised_days <= self.statutory_days:
            raise CatalogError(
                f"{where}: promised_days ({self.promised_days}) must be between 1 and "
                f"statutory_days ({self.statutory_days})",
            )
        _unique(where, "material", [m.code for m in self.materials])
        _unique(where, "field", [f.name for f in self.fields])

    @property
    def label(self) -> str:
        return f"{self.code} ({self.name})"

    def material(self, code: str) -> MaterialSpec | None:
        return next((m for m in self.materials if m.code == code), None)

    def field_spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True, kw_only=True)
class Catalog:
    county_code: str
    county_name: str
    title: str
    items: tuple[Item, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.items:
            raise CatalogError("the catalog lists no items: publish at least one [[item]]")
        _unique("catalog", "item", [i.code for i in self.items])

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)


def _unique(where: str, what: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CatalogError(f"{where}: {what} {name!r} is listed twice")
        seen.add(name)


def parse_catalog_toml(text: str, *, source: str = "catalog") -> Catalog:
    """Parse and check catalog TOML; errors name the file and the item at fault."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: not valid TOML: {exc}") from exc
    head = _table(doc.get("catalog"), f"{source}: [catalog]")
    try:
        items = tuple(
            _item(_table(raw, f"{source}: [[item]] #{n}"), source)
            for n, raw in enumerate(_list(doc.get("item"), f"{source}: [[item]]"), start=1)
        )
        return Catalog(
            county_code=_str(head, "county_code", f"{source}: [catalog]"),
            county_name=_str(head, "county_name", f"{source}: [catalog]"),
            title=_str(head, "title", f"{source}: [catalog]", default=""),
            items=items,
        )
    except CatalogError as exc:
        if str(exc).startswith(source):
            raise
        raise CatalogError(f"{source}: {exc}") from exc


def _item(raw: Mapping[str, Any], source: str) -> Item:
    code = _str(raw, "code", f"{source}: [[item]]")
    where = f"{source}: item {code}"
    try:
        return _build_item(raw, code, where)
    except CatalogError as exc:
        if str(exc).startswith(where):
            raise
        raise CatalogError(f"{where}: {exc}") from exc


def _build_item(raw: Mapping[str, Any], code: str, where: str) -> Item:
    return Item(
        code=code,
        name=_str(raw, "name", where),
        name_en=_str(raw, "name_en", where, default=""),
        accept_at=tuple(_strs(raw.get("accept_at"), f"{where}: accept_at")),
        decided_by=_str(raw, "decided_by", where),
        departments=tuple(_strs(raw.get("departments"), f"{where}: departments")),
        statutory_days=_int(raw, "statutory_days", where),
        promised_days=_int(raw, "promised_days", where),
        fee_yuan=_decimal(raw.get("fee_yuan", 0), f"{where}: fee_yuan"),
        materials=tuple(
            MaterialSpec(
                code=_str(m, "code", f"{where}: materials"),
                name=_str(m, "name", f"{where}: materials"),
                required=_bool(m, "required", f"{where}: materials", default=True),
            )
            for m in (_table(x, f"{where}: materials") for x in _list(raw.get("materials"),
                                                                       f"{where}: materials"))
        ),
        fields=tuple(
            FieldSpec(
                name=_str(f, "name", f"{where}: fields"),
                label=_str(f, "label", f"{where}: fields", default=""),
                type=_str(f, "type", f"{where}: fields"),
                required=_bool(f, "required", f"{where}: fields", default=False),
                min=None if "min" not in f else _decimal(f["min"], f"{where}: min"),
                max=None if "max" not in f else _decimal(f["max"], f"{where}: max"),
                max_length=None if "max_length" not in f else _int(f, "max_length", where),
            )
            for f in (_table(x, f"{where}: fields") for x in _list(raw.get("fields", []),
                                                                    f"{where}: fields"))
        ),
    )


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CatalogError(f"{where} is missing or is not a table")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogError(f"{where} must be a list")
    return value


def _str(raw: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise CatalogError(f"{where}: {key} must be a non-empty string")
    return value


def _strs(value: object, where: str) -> list[str]:
    items = _list(value, where)
    if not all(isinstance(v, str) and v for v in items):
        raise CatalogError(f"{where} must be a list of strings")
    return items


def _int(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CatalogError(f"{where}: {key} must be a whole number of at least 0")
    return value


def _bool(raw: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"{where} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise CatalogError(f"{where}: {value!r} is not a number") from exc
    if not number.is_finite():
        raise CatalogError(f"{where}: {value!r} is not a finite number")
    return number
