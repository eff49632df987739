"""Pre-review (预审): the node's offline check of an application against its catalog. Pure.

Two kinds of finding, handled differently (issue 2):

* malformed input -- unknown item, an item this tier may not accept, an unknown material or
  field, a bad field value, a bad resident id -- is refused with ``UsageError``/``CatalogError``
  and nothing is stored; the agent corrects it at the desk;
* missing required materials make a stored case marked *incomplete* with the list of what is
  missing, because the villager may bring them later (补正).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.kernel.catalog import Catalog, FieldSpec, Item
from node.kernel.errors import CatalogError
from node.kernel.text import MULTI_LINE, parse_number, text_problem

__all__ = ["PreReview", "check_fields", "pre_review", "recheck", "resolve_item"]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, kw_only=True)
class PreReview:
    complete: bool
    missing: tuple[str, ...]


def resolve_item(catalog: Catalog, item_code: str, tier: str) -> Item:
    item = catalog.item(item_code)
    if item is None:
        known = ", ".join(i.code for i in catalog.items)
        raise CatalogError(f"item {item_code!r} is not in the catalog; known items: {known}",
                           code="unknown_item")
    if tier not in item.accept_at:
        raise CatalogError(
            f"item {item.label} cannot be taken at a {tier}: it is accepted at "
            f"{', '.join(item.accept_at)}",
            code="item_not_accepted_here",
        )
    return item


def pre_review(item: Item, materials: Sequence[str], fields: Mapping[str, str]) -> PreReview:
    """Check materials and fields; missing materials are a finding, anything else refuses."""
    for code in materials:
        if item.material(code) is None:
            known = ", ".join(m.code for m in item.materials)
            raise CatalogError(
                f"material {code!r} is not a material of item {item.label}; its materials "
                f"are: {known}",
                code="unknown_material",
            )
    check_fields(item, fields)
    present = set(materials)
    missing = tuple(m.code for m in item.materials if m.required and m.code not in present)
    return PreReview(complete=not missing, missing=missing)


def check_fields(item: Item, fields: Mapping[str, str]) -> None:
    for name in fields:
        if item.field_spec(name) is None:
            known = ", ".join(f.name for f in item.fields) or "none"
            raise CatalogError(
                f"field {name!r} is not a field of item {item.label}; its fields are: {known}",
                code="unknown_field",
            )
    for spec in item.fields:
        value = fields.get(spec.name)
        if value is None or value.strip() == "":
            if spec.required:
                raise CatalogError(
                    f"field {spec.name} ({spec.label}) is required by item {item.label}; "
                    f"give it with --field {spec.name}=VALUE",
                    code="missing_field",
                )
            continue
        _check_value(item, spec, value.strip())


def _check_value(item: Item, spec: FieldSpec, value: str) -> None:
    where = f"field {spec.name} ({spec.label}) of item {item.label}"
    if spec.type == "text":
        problem = text_problem(value, max_length=spec.max_length or MULTI_LINE, multiline=True)
        if problem is not None:
            raise CatalogError(f"{where}: {problem}", code="bad_field")
        return
    if spec.type == "date":
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            dt.date.fromisoformat(value)
        except ValueError as exc:
            raise CatalogError(f"{where}: {value[:40]!r} is not a date (use YYYY-MM-DD)",
                               code="bad_field") from exc
        return
    try:
        number = parse_number(value, integer=spec.type == "int")
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}", code="bad_field") from exc
    if spec.min is not None and number < spec.min:
        raise CatalogError(f"{where}: {value} is below the minimum {spec.min}",
                           code="bad_field")
    if spec.max is not None and number > spec.max:
        raise CatalogError(f"{where}: {value} is above the maximum {spec.max}",
                           code="bad_field")


def recheck(*, materials: Sequence[str], fields: Mapping[str, str], item_code: str,
            tier: str, node_review: PreReview, cited: Catalog | None, cited_version: int,
            cited_expired: bool, current: Catalog | None, current_version: int) -> list[str]:
    """The upstream's re-check of a case on arrival (DESIGN §5): the findings worth flagging.

    A village may have pre-reviewed under an old or expired catalog while offline; the case is
    never refused for that, but differences are flagged for the operator: with the version the
    node cited, and with the version in force now.
    """
    findings: list[str] = []
    if cited is None:
        findings.append(f"pre-reviewed under catalog version {cited_version}, which the hub "
                        "does not hold")
    else:
        if cited_expired:
            findings.append(f"taken under catalog version {cited_version} after it expired")
        try:
            review = pre_review(resolve_item(cited, item_code, tier), materials, fields)
        except CatalogError as exc:
            findings.append(f"re-check under catalog version {cited_version} refuses it: {exc}")
        else:
            if review != node_review:
                findings.append(
                    f"the node's pre-review ({_describe(node_review)}) differs from the hub's "
                    f"re-check under catalog version {cited_version} ({_describe(review)})")
    if current is not None and current_version != cited_version:
        try:
            now = pre_review(resolve_item(current, item_code, tier), materials, fields)
        except CatalogError as exc:
            findings.append(f"under the current catalog version {current_version}: {exc}")
        else:
            if now != node_review:
                findings.append(f"under the current catalog version {current_version} it is "
                                f"{_describe(now)}")
    return findings


def _describe(review: PreReview) -> str:
    return "complete" if review.complete else "missing " + ", ".join(review.missing)
