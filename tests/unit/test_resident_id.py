"""GB 11643-1999 resident identity numbers: check digit, shape and birth date."""

from __future__ import annotations

import datetime as dt

import pytest

from node.kernel.errors import UsageError
from node.kernel.resident_id import check_digit, validate_resident_id

# The two examples printed in GB 11643-1999 itself. By hand, for the first one:
#   digits   1  1  0  1  0  5  1  9  4  9  1  2  3  1  0  0  2
#   weights  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
#   products 7  9  0  5  0 20  2  9 24 27  7 18 30  5  0  0  4   -> sum 167
#   167 mod 11 = 2, and position 2 of "10X98765432" is "X".
# For the second: the products sum to 195, 195 mod 11 = 8, position 8 is "4".
PUBLISHED_EXAMPLES = ["11010519491231002X", "440524188001010014"]


def with_check_digit(first17: str) -> str:
    return first17 + check_digit(first17)


@pytest.mark.parametrize("number", PUBLISHED_EXAMPLES)
def test_published_examples_are_valid(number: str) -> None:
    assert validate_resident_id(number) == number


@pytest.mark.parametrize(("first17", "expected"), [
    ("11010519491231002", "X"),
    ("44052418800101001", "4"),
])
def test_check_digit_matches_the_hand_computed_examples(first17: str, expected: str) -> None:
    assert check_digit(first17) == expected


@pytest.mark.parametrize("first17", [
    "36011219900101123",
    "36011220000229001",  # leap day
    "36011218800101000",  # the earliest plausible year
    "11010119991231999",
])
def test_numbers_built_with_their_check_digit_are_valid(first17: str) -> None:
    number = with_check_digit(first17)
    assert validate_resident_id(number) == number


def test_lower_case_x_is_accepted_and_normalized_to_upper_case() -> None:
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"


def test_surrounding_whitespace_is_ignored() -> None:
    assert validate_resident_id("  440524188001010014\n") == "440524188001010014"


@pytest.mark.parametrize("number", [
    "110105194912310021",  # should end in X
    "440524188001010015",  # should end in 4
    "44052418800101001X",
    "11010519491231003X",  # one digit mistyped before the check digit
])
def test_wrong_check_digit_is_refused_with_the_expected_digit(number: str) -> None:
    with pytest.raises(UsageError, match="check digit") as caught:
        validate_resident_id(number)
    assert caught.value.code == "bad_resident_id"
    assert f"should be {check_digit(number[:17])}" in str(caught.value)


@pytest.mark.parametrize("number", [
    "",
    "11010519491231002",    # 17 characters
    "11010519491231002XX",  # 19 characters
    "110105491231002",      # old 15-digit number
])
def test_wrong_length_is_refused(number: str) -> None:
    with pytest.raises(UsageError, match="it must have 18") as caught:
        validate_resident_id(number)
    assert caught.value.code == "bad_resident_id"


@pytest.mark.parametrize("number", [
    "1101051949123100AX",  # letter among the first 17
    "X1010519491231002X",  # X anywhere but last
    "11010519491231002Y",  # last is neither digit nor X
    "110105-1949123100X",
    "11010519491231 02X",
])
def test_non_digits_are_refused(number: str) -> None:
    with pytest.raises(UsageError, match="must be digits") as caught:
        validate_resident_id(number)
    assert caught.value.code == "bad_resident_id"


@pytest.mark.parametrize("birth", [
    "19990230",  # 30 February
    "20230229",  # not a leap year
    "19991301",  # month 13
    "19990000",
    "19990431",  # April has 30 days
])
def test_impossible_birth_dates_are_refused(birth: str) -> None:
    number = with_check_digit(f"360112{birth}123")
    with pytest.raises(UsageError, match="not a valid birth date") as caught:
        validate_resident_id(number)
    assert birth in str(caught.value)
    assert caught.value.code == "bad_resident_id"


def test_birth_year_before_1880_is_refused_as_implausible() -> None:
    with pytest.raises(UsageError, match="not plausible"):
        validate_resident_id(with_check_digit("36011218791231123"))


def test_birth_date_after_today_is_refused() -> None:
    number = with_check_digit("36011220261128123")
    with pytest.raises(UsageError, match="not plausible") as caught:
        validate_resident_id(number, today=dt.date(2026, 11, 27))
    assert caught.value.code == "bad_resident_id"


def test_birth_date_on_today_is_accepted() -> None:
    number = with_check_digit("36011220261127123")
    assert validate_resident_id(number, today=dt.date(2026, 11, 27)) == number


def test_future_birth_date_is_not_checked_without_today() -> None:
    number = with_check_digit("36011220991231123")
    assert validate_resident_id(number) == number


def test_superscript_digit_is_refused_with_usage_error() -> None:
    with pytest.raises(UsageError):
        validate_resident_id("110105194912310²2X")


def test_full_width_digits_are_never_returned_as_a_normalized_id() -> None:
    full_width = "１１０１０５１９４９１２３１００２X"  # 11010519491231002X typed full-width
    try:
        result = validate_resident_id(full_width)
    except UsageError:
        return
    assert result == "11010519491231002X"
