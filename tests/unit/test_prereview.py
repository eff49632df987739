"""Pre-review against the sample catalog: what refuses at the desk and what only marks a case
incomplete."""

from __future__ import annotations

from importlib import resources

import pytest

from node.kernel.catalog import Catalog, Item, parse_catalog_toml
from node.kernel.errors import CatalogError
from node.kernel.prereview import PreReview, check_fields, pre_review, resolve_item

MZ_REQUIRED = ["application", "id_card", "hukou", "income_proof", "assets_statement"]
MZ_FIELDS = {"household_size": "3", "monthly_income_yuan": "850.50"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    text = (resources.files("bianmin") / "data" / "sample-catalog.toml").read_text("utf-8")
    return parse_catalog_toml(text, source="sample-catalog.toml")


def item(catalog: Catalog, code: str) -> Item:
    found = catalog.item(code)
    assert found is not None
    return found


def refusal_code(the_item: Item, fields: dict[str, str]) -> str:
    with pytest.raises(CatalogError) as caught:
        check_fields(the_item, fields)
    return caught.value.code


# --- resolve_item -------------------------------------------------------------------------------


def test_unknown_item_is_refused_listing_the_known_items(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="'XX-999' is not in the catalog") as caught:
        resolve_item(catalog, "XX-999", "village")
    assert caught.value.code == "unknown_item"
    assert "MZ-001" in str(caught.value)
    assert "WJ-001" in str(caught.value)


def test_item_not_accepted_at_a_village_is_refused(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        resolve_item(catalog, "SC-001", "village")
    assert caught.value.code == "item_not_accepted_here"
    assert "SC-001 (个体工商户设立登记) cannot be taken at a village" in str(caught.value)
    assert "township, county" in str(caught.value)


@pytest.mark.parametrize(("code", "tier"), [
    ("SC-001", "township"), ("SC-001", "county"), ("MZ-001", "village"),
    ("CL-001", "county"),
])
def test_item_accepted_at_the_tier_resolves(catalog: Catalog, code: str, tier: str) -> None:
    assert resolve_item(catalog, code, tier).code == code


# --- materials -----------------------------------------------------------------------------------


def test_case_with_every_required_material_and_field_is_complete(catalog: Catalog) -> None:
    result = pre_review(item(catalog, "MZ-001"), MZ_REQUIRED, MZ_FIELDS)
    assert result == PreReview(complete=True, missing=())


def test_missing_required_materials_are_listed_in_catalog_order(catalog: Catalog) -> None:
    result = pre_review(item(catalog, "MZ-001"), ["assets_statement", "application"], MZ_FIELDS)
    assert result == PreReview(complete=False, missing=("id_card", "hukou", "income_proof"))


def test_case_with_no_materials_misses_every_required_one(catalog: Catalog) -> None:
    result = pre_review(item(catalog, "MZ-001"), [], MZ_FIELDS)
    assert result.missing == tuple(MZ_REQUIRED)


@pytest.mark.parametrize("materials", [MZ_REQUIRED, [*MZ_REQUIRED, "disability_cert"]])
def test_optional_material_is_not_required(catalog: Catalog, materials: list[str]) -> None:
    result = pre_review(item(catalog, "MZ-001"), materials, MZ_FIELDS)
    assert result.complete
    assert "disability_cert" not in result.missing


def test_unknown_material_is_refused_naming_it_and_the_item(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        pre_review(item(catalog, "MZ-001"), [*MZ_REQUIRED, "passport"], MZ_FIELDS)
    assert caught.value.code == "unknown_material"
    assert "'passport'" in str(caught.value)
    assert "MZ-001" in str(caught.value)


def test_material_of_another_item_is_refused(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        pre_review(item(catalog, "MZ-003"), ["id_card", "application"], {})
    assert caught.value.code == "unknown_material"


# --- fields --------------------------------------------------------------------------------------


def test_unknown_field_is_refused(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="'age' is not a field") as caught:
        pre_review(item(catalog, "MZ-001"), MZ_REQUIRED, {**MZ_FIELDS, "age": "70"})
    assert caught.value.code == "unknown_field"


def test_any_field_is_unknown_to_an_item_without_fields(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="its fields are: none") as caught:
        check_fields(item(catalog, "MZ-003"), {"age": "90"})
    assert caught.value.code == "unknown_field"


@pytest.mark.parametrize("fields", [
    {"monthly_income_yuan": "850"},
    {"household_size": "", "monthly_income_yuan": "850"},
    {"household_size": "   ", "monthly_income_yuan": "850"},
])
def test_missing_required_field_is_refused(catalog: Catalog, fields: dict[str, str]) -> None:
    with pytest.raises(CatalogError, match="household_size") as caught:
        pre_review(item(catalog, "MZ-001"), MZ_REQUIRED, fields)
    assert caught.value.code == "missing_field"
    assert "--field household_size=VALUE" in str(caught.value)


def test_optional_field_may_be_left_out(catalog: Catalog) -> None:
    check_fields(item(catalog, "HJ-001"), {})
    check_fields(item(catalog, "SC-001"), {"business_scope": "日用百货零售"})


@pytest.mark.parametrize("value", ["3.5", "3.0", "three", "1e1", "3 4", "0x3"])
def test_int_field_refuses_anything_but_a_whole_number(catalog: Catalog, value: str) -> None:
    fields = {**MZ_FIELDS, "household_size": value}
    with pytest.raises(CatalogError, match="not a whole number") as caught:
        check_fields(item(catalog, "MZ-001"), fields)
    assert caught.value.code == "bad_field"


@pytest.mark.parametrize("value", ["1", "30", " 3 ", "+3", "03"])
def test_int_field_accepts_whole_numbers_within_bounds(catalog: Catalog, value: str) -> None:
    check_fields(item(catalog, "MZ-001"), {**MZ_FIELDS, "household_size": value})


@pytest.mark.parametrize(("code", "name", "value", "words"), [
    ("MZ-001", "household_size", "0", "below the minimum 1"),
    ("MZ-001", "household_size", "31", "above the maximum 30"),
    ("MZ-001", "monthly_income_yuan", "-0.01", "below the minimum 0"),
    ("ZJ-001", "area_m2", "0.99", "below the minimum 1"),
    ("ZJ-001", "area_m2", "240.01", "above the maximum 240"),
    ("LY-001", "volume_m3", "0.09", "below the minimum 0.1"),
    ("MZ-002", "amount_requested_yuan", "5000.5", "above the maximum 5000"),
])
def test_number_outside_the_catalog_bounds_is_refused(
    catalog: Catalog, code: str, name: str, value: str, words: str,
) -> None:
    the_item = item(catalog, code)
    fields = {f.name: "1" for f in the_item.fields if f.required} | {name: value}
    with pytest.raises(CatalogError, match=words) as caught:
        check_fields(the_item, fields)
    assert caught.value.code == "bad_field"
    assert code in str(caught.value)


@pytest.mark.parametrize(("code", "name", "value"), [
    ("ZJ-001", "area_m2", "1"),
    ("ZJ-001", "area_m2", "240"),
    ("ZJ-001", "area_m2", "120.5"),
    ("LY-001", "volume_m3", "0.1"),
    ("MZ-001", "monthly_income_yuan", "0"),
    ("MZ-001", "monthly_income_yuan", "1000000"),  # no maximum
])
def test_number_on_or_within_the_bounds_is_accepted(
    catalog: Catalog, code: str, name: str, value: str,
) -> None:
    the_item = item(catalog, code)
    fields = {f.name: "1" for f in the_item.fields if f.required} | {name: value}
    check_fields(the_item, fields)


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "-Infinity", "12,5", "¥100"])
def test_decimal_field_refuses_what_is_not_a_finite_number(catalog: Catalog,
                                                          value: str) -> None:
    fields = {**MZ_FIELDS, "monthly_income_yuan": value}
    assert refusal_code(item(catalog, "MZ-001"), fields) == "bad_field"


@pytest.mark.parametrize("value", ["2026/11/27", "27-11-2026", "2026-02-30", "2026-13-01",
                                   "tomorrow", "2026-11"])
def test_date_field_in_a_bad_format_is_refused(catalog: Catalog, value: str) -> None:
    with pytest.raises(CatalogError, match="use YYYY-MM-DD") as caught:
        check_fields(item(catalog, "HJ-001"), {"expected_birth_date": value})
    assert caught.value.code == "bad_field"


def test_date_field_in_iso_format_is_accepted(catalog: Catalog) -> None:
    check_fields(item(catalog, "HJ-001"), {"expected_birth_date": "2027-03-01"})


@pytest.mark.parametrize("value", [
    pytest.param("20270301", id="basic-format"),
    pytest.param("2027-W09-1", id="week-date"),
])
def test_date_field_accepts_only_yyyy_mm_dd(catalog: Catalog, value: str) -> None:
    assert refusal_code(item(catalog, "HJ-001"), {"expected_birth_date": value}) == "bad_field"


@pytest.mark.parametrize(("name", "limit"), [("business_name", 50), ("business_scope", 500)])
def test_text_field_may_have_up_to_max_length_characters(catalog: Catalog, name: str,
                                                         limit: int) -> None:
    sc = item(catalog, "SC-001")
    fields = {"business_scope": "零售"} | {name: "字" * limit}
    check_fields(sc, fields)
    fields[name] = "字" * (limit + 1)
    with pytest.raises(CatalogError, match=f"{limit + 1} characters, at most {limit}") as caught:
        check_fields(sc, fields)
    assert caught.value.code == "bad_field"
