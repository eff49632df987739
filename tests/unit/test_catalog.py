"""Catalog TOML: the sample parses into the expected values; bad catalogs are refused with
messages that name the file and the item at fault."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

import pytest

from node.kernel.catalog import Catalog, FieldSpec, MaterialSpec, parse_catalog_toml
from node.kernel.errors import CatalogError

SOURCE = "county-catalog.toml"


def sample_text() -> str:
    return (resources.files("bianmin") / "data" / "sample-catalog.toml").read_text("utf-8")


@pytest.fixture(scope="module")
def sample() -> Catalog:
    return parse_catalog_toml(sample_text(), source="sample-catalog.toml")


HEAD = """
[catalog]
county_code = "360112"
county_name = "新建区"
title = "test"
"""


def item_toml(code: str = "T-001", *, accept_at: str = '["village", "township"]',
              statutory_days: str = "20", promised_days: str = "10",
              decided_by: str = '"county"',
              materials: str = '[{ code = "id_card", name = "居民身份证", required = true }]',
              fields: str = '[{ name = "n", label = "N", type = "int", required = true }]',
              ) -> str:
    return f"""
[[item]]
code = "{code}"
name = "测试事项 {code}"
accept_at = {accept_at}
decided_by = {decided_by}
departments = ["区测试局"]
statutory_days = {statutory_days}
promised_days = {promised_days}
materials = {materials}
fields = {fields}
"""


def refused(text: str) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_catalog_toml(text, source=SOURCE)
    return caught.value


# --- the sample catalog -------------------------------------------------------------------------


def test_sample_catalog_has_twelve_items(sample: Catalog) -> None:
    assert len(sample.items) == 12
    assert [i.code for i in sample.items] == [
        "MZ-001", "MZ-002", "MZ-003", "ZJ-001", "HJ-001", "SB-001",
        "CL-001", "SC-001", "SC-002", "LY-001", "JS-001", "WJ-001",
    ]


def test_sample_catalog_header(sample: Catalog) -> None:
    assert sample.county_code == "360112"
    assert sample.county_name == "新建区"
    assert sample.title == "新建区政务服务事项目录（示例）"


def test_sample_item_mz_001_has_every_field_of_the_toml(sample: Catalog) -> None:
    item = sample.item("MZ-001")
    assert item is not None
    assert item.name == "最低生活保障审批"
    assert item.name_en == "Minimum living allowance (dibao) approval"
    assert item.label == "MZ-001 (最低生活保障审批)"
    assert item.accept_at == ("village", "township")
    assert item.decided_by == "county"
    assert item.departments == ("区民政局",)
    assert (item.statutory_days, item.promised_days) == (30, 20)
    assert item.fee_yuan == Decimal(0)
    assert item.materials == (
        MaterialSpec(code="application", name="最低生活保障申请书", required=True),
        MaterialSpec(code="id_card", name="居民身份证", required=True),
        MaterialSpec(code="hukou", name="户口簿", required=True),
        MaterialSpec(code="income_proof", name="家庭收入证明", required=True),
        MaterialSpec(code="assets_statement", name="家庭财产状况声明", required=True),
        MaterialSpec(code="disability_cert", name="残疾人证（如有）", required=False),
    )
    assert item.fields == (
        FieldSpec(name="household_size", label="家庭人口", type="int", required=True,
                  min=Decimal(1), max=Decimal(30)),
        FieldSpec(name="monthly_income_yuan", label="家庭月收入（元）", type="decimal",
                  required=True, min=Decimal(0)),
    )


def test_sample_item_zj_001_needs_two_departments(sample: Catalog) -> None:
    item = sample.item("ZJ-001")
    assert item is not None
    assert item.departments == ("乡镇自然资源所", "乡镇农业农村办")
    assert item.decided_by == "township"


def test_fractional_bounds_and_text_lengths_are_kept_exactly(sample: Catalog) -> None:
    ly = sample.item("LY-001")
    sc = sample.item("SC-001")
    assert ly is not None
    assert sc is not None
    assert ly.fields[0].min == Decimal("0.1")
    assert sc.field_spec("business_name") == FieldSpec(
        name="business_name", label="字号名称", type="text", required=False, max_length=50)
    scope = sc.field_spec("business_scope")
    assert scope is not None
    assert scope.max_length == 500


def test_unknown_codes_are_looked_up_as_none(sample: Catalog) -> None:
    mz = sample.item("MZ-001")
    assert sample.item("XX-999") is None
    assert mz is not None
    assert mz.material("passport") is None
    assert mz.field_spec("age") is None


def test_minimal_catalog_parses_with_defaults() -> None:
    catalog = parse_catalog_toml(HEAD + item_toml(fields="[]"), source=SOURCE)
    item = catalog.items[0]
    assert item.name_en == ""
    assert item.fee_yuan == Decimal(0)
    assert item.fields == ()


# --- refusals ------------------------------------------------------------------------------------


def test_invalid_toml_is_refused_naming_the_file() -> None:
    error = refused(HEAD + "[[item]\ncode = = 'x'\n")
    assert str(error).startswith(f"{SOURCE}: not valid TOML")


def test_item_listed_twice_is_refused_naming_file_and_item() -> None:
    error = refused(HEAD + item_toml("MZ-001") + item_toml("MZ-002") + item_toml("MZ-001"))
    assert str(error).startswith(SOURCE)
    assert "'MZ-001' is listed twice" in str(error)


def test_promised_days_over_statutory_days_is_refused_naming_file_and_item() -> None:
    error = refused(HEAD + item_toml("MZ-009", statutory_days="10", promised_days="11"))
    assert str(error).startswith(SOURCE)
    assert "item MZ-009" in str(error)
    assert "promised_days (11)" in str(error)
    assert "statutory_days (10)" in str(error)


def test_promised_days_of_zero_is_refused() -> None:
    error = refused(HEAD + item_toml("MZ-009", promised_days="0"))
    assert "item MZ-009" in str(error)
    assert "promised_days (0)" in str(error)


def test_unknown_tier_in_accept_at_is_refused_naming_file_item_and_tier() -> None:
    error = refused(HEAD + item_toml("MZ-009", accept_at='["village", "city"]'))
    assert str(error).startswith(SOURCE)
    assert "item MZ-009" in str(error)
    assert "'city'" in str(error)


def test_empty_accept_at_is_refused() -> None:
    error = refused(HEAD + item_toml("MZ-009", accept_at="[]"))
    assert "item MZ-009" in str(error)
    assert "accept_at is empty" in str(error)


def test_village_cannot_be_the_deciding_tier() -> None:
    error = refused(HEAD + item_toml("MZ-009", decided_by='"village"'))
    assert "item MZ-009" in str(error)
    assert "decided_by" in str(error)


def test_unknown_field_type_is_refused_naming_file_and_type() -> None:
    error = refused(HEAD + item_toml(
        "MZ-009", fields='[{ name = "age", type = "float", required = true }]'))
    assert str(error).startswith(SOURCE)
    assert "'float'" in str(error)
    assert "'age'" in str(error)


def test_unknown_field_type_error_names_the_item() -> None:
    error = refused(HEAD + item_toml(
        "MZ-009", fields='[{ name = "age", type = "float", required = true }]'))
    assert "MZ-009" in str(error)


def test_material_listed_twice_in_an_item_is_refused() -> None:
    error = refused(HEAD + item_toml("MZ-009", materials=(
        '[{ code = "id_card", name = "a" }, { code = "id_card", name = "b" }]')))
    assert "item MZ-009" in str(error)
    assert "material 'id_card' is listed twice" in str(error)


def test_missing_catalog_table_is_refused_naming_the_file() -> None:
    error = refused(item_toml("MZ-009"))
    assert str(error) == f"{SOURCE}: [catalog] is missing or is not a table"


def test_catalog_without_items_is_refused() -> None:
    error = refused(HEAD)
    assert str(error).startswith(SOURCE)
    assert "no items" in str(error)


@pytest.mark.parametrize("value", ['"thirty"', "30.0", "-1", "true"])
def test_statutory_days_must_be_a_whole_number(value: str) -> None:
    error = refused(HEAD + item_toml("MZ-009", statutory_days=value))
    assert "item MZ-009" in str(error)
    assert "statutory_days must be a whole number" in str(error)


def test_item_without_code_is_refused() -> None:
    error = refused(HEAD + '[[item]]\nname = "x"\n')
    assert str(error).startswith(SOURCE)
    assert "code must be a non-empty string" in str(error)


def test_field_bound_that_is_not_a_number_is_refused() -> None:
    error = refused(HEAD + item_toml(
        "MZ-009", fields='[{ name = "n", type = "int", min = "one" }]'))
    assert "item MZ-009" in str(error)
    assert "'one' is not a number" in str(error)


def test_nan_field_bound_is_refused() -> None:
    error = refused(HEAD + item_toml(
        "MZ-009", fields='[{ name = "n", type = "decimal", min = nan }]'))
    assert "MZ-009" in str(error)


def test_material_required_flag_must_be_a_boolean() -> None:
    error = refused(HEAD + item_toml(
        "MZ-009", materials='[{ code = "photo", name = "照片", required = "false" }]'))
    assert "MZ-009" in str(error)
