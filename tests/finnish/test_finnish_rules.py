"""The Finnish rules module: identifiers, VAT rates and codes, Netvisor formats and payment allocation.

Known-good examples come from the official sources named in docs/finnish-rules.md; the property-style checks
run the rules over a few thousand numbers drawn from a seeded generator, so a failure is reproducible.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from integration_hub.connectors import finnish
from integration_hub.connectors.finnish import (
    Allocation, FinnishRuleError, VatStatus, allocate_payment, business_id_check_digit, business_id_to_vat,
    check_netvisor_vat, finnish_vat_rate_valid, finnish_vat_rates, format_iban, format_reference,
    format_rf_reference, make_reference, make_rf_reference, netvisor_amount, netvisor_date, netvisor_vat_code,
    parse_netvisor_amount, parse_netvisor_date, procountor_vat_status, reference_check_digit, rf_to_finnish,
    validate_bic, validate_business_id, validate_iban, validate_reference, validate_rf_reference,
    vat_status_from_netvisor, vat_to_business_id,
)

SEED = 20261203


def _iban_remainder(text: str) -> int:
    """An independent mod-97 (one big integer) to judge the module's chunked one."""
    moved = text[4:] + text[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97


# --- business ID --------------------------------------------------------------------------------------------
def test_known_business_ids_are_accepted_and_normalised():
    assert validate_business_id("0112038-9") == "0112038-9"  # Nokia Oyj, YTJ
    assert validate_business_id(" 0112038-9 ") == "0112038-9"
    assert validate_business_id("112038-9") == "0112038-9"  # six-digit form of the older IDs


def test_a_weighted_sum_divisible_by_eleven_gives_check_digit_zero():
    # 1*7 + 5*9 + 7*10 + 2*5 + 8*8 + 6*4 + 0*2 = 220 = 20 * 11
    assert business_id_check_digit("1572860") == "0"
    assert validate_business_id("1572860-0") == "1572860-0"


def test_a_business_id_in_the_wrong_shape_is_refused_with_the_expected_form():
    for bad in ("01120389", "0112038_9", "0112038-", "A112038-9", "01120381-9"):
        with pytest.raises(FinnishRuleError, match=r"not of the form 1234567-8"):
            validate_business_id(bad)


def test_a_business_id_with_a_wrong_check_digit_names_the_expected_digit():
    with pytest.raises(FinnishRuleError, match=r"0112038-8 has a wrong check digit: expected 9"):
        validate_business_id("0112038-8")


def test_a_business_id_body_leaving_remainder_one_is_refused_as_impossible():
    body = next(f"{n:07d}" for n in range(1000000, 1001000)
                if sum(int(d) * w for d, w in zip(f"{n:07d}", (7, 9, 10, 5, 8, 4, 2))) % 11 == 1)
    with pytest.raises(FinnishRuleError, match=r"cannot exist: its weighted sum leaves remainder 1"):
        business_id_check_digit(body)
    with pytest.raises(FinnishRuleError, match=r"cannot exist"):
        validate_business_id(f"{body}-0")


def test_every_generated_business_id_either_cannot_exist_or_accepts_only_its_own_check_digit():
    rng = random.Random(SEED)
    impossible = 0
    for _ in range(2000):
        body = f"{rng.randrange(10 ** 7):07d}"
        try:
            check = business_id_check_digit(body)
        except FinnishRuleError:
            impossible += 1
            continue
        remainder = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2))) % 11
        assert check == str((11 - remainder) % 11)
        assert validate_business_id(f"{body}-{check}") == f"{body}-{check}"
        wrong = str((int(check) + rng.randrange(1, 10)) % 10)
        with pytest.raises(FinnishRuleError, match=f"expected {check}"):
            validate_business_id(f"{body}-{wrong}")
    assert 100 < impossible < 300  # about one body in eleven


def test_a_business_id_converts_to_its_eu_vat_number_and_back():
    assert business_id_to_vat("0112038-9") == "FI01120389"
    assert vat_to_business_id("FI01120389") == "0112038-9"
    assert vat_to_business_id("fi 0112 0389") == "0112038-9"


def test_a_vat_number_of_the_wrong_shape_or_check_digit_is_refused():
    with pytest.raises(FinnishRuleError, match=r"not of the form FI12345678"):
        vat_to_business_id("SE0112038901")
    with pytest.raises(FinnishRuleError, match=r"expected 9"):
        vat_to_business_id("FI01120388")


# --- Finnish reference number ---------------------------------------------------------------------------------
def test_the_banks_guide_example_reference_gets_its_check_digit():
    assert reference_check_digit("123456") == "1"
    assert make_reference("123456") == "1234561"
    assert make_reference(123456) == "1234561"
    assert validate_reference("1 23456 1") == "1234561"


def test_references_are_printed_in_groups_of_five_from_the_right():
    ref = make_reference("1234567890")
    assert format_reference(ref) == "1 23456 78907"
    assert format_reference("1234561") == "12 34561"


def test_every_generated_reference_validates_and_any_one_digit_change_is_caught():
    rng = random.Random(SEED)
    for _ in range(3000):
        base = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 19)))
        ref = make_reference(base)
        assert ref[:-1] == base and validate_reference(ref) == ref
        assert validate_reference(format_reference(ref)) == ref
        pos = rng.randrange(len(ref))
        changed = ref[:pos] + str((int(ref[pos]) + rng.randrange(1, 10)) % 10) + ref[pos + 1:]
        with pytest.raises(FinnishRuleError, match=r"wrong check digit"):
            validate_reference(changed)


def test_each_reference_mistake_gets_its_own_message():
    cases = {
        "": r"is empty",
        "12A4": r"only digits and spaces",
        "123": r"too short: at least 4 digits",
        "1" * 21: r"too long: at most 20 digits",
        "1234562": r"wrong check digit: expected 1, i.e. 1234561",
    }
    for value, message in cases.items():
        with pytest.raises(FinnishRuleError, match=message):
            validate_reference(value)
    with pytest.raises(FinnishRuleError, match=r"base is 3 to 19 digits, got 2"):
        make_reference("12")
    with pytest.raises(FinnishRuleError, match=r"base is 3 to 19 digits, got 20"):
        make_reference("1" * 20)
    with pytest.raises(FinnishRuleError, match=r"digits only"):
        make_reference("12x4")


# --- RF creditor reference -------------------------------------------------------------------------------------
def test_the_iso_11649_examples_are_valid():
    assert validate_rf_reference("RF18 5390 0754 7034") == "RF18539007547034"
    assert validate_rf_reference("rf45g72uur") == "RF45G72UUR"
    assert format_rf_reference("RF18539007547034") == "RF18 5390 0754 7034"


def test_a_finnish_reference_converts_to_rf_and_back():
    assert make_rf_reference("2348236") == "RF332348236"
    assert rf_to_finnish("RF33 2348 236") == "2348236"
    assert make_rf_reference("00002348236") == "RF332348236"  # leading zeros carry no meaning


def test_every_generated_finnish_reference_survives_the_rf_round_trip():
    rng = random.Random(SEED + 1)
    for _ in range(2000):
        ref = make_reference(str(rng.randrange(100, 10 ** 19)))
        rf = make_rf_reference(ref)
        assert validate_rf_reference(rf) == rf
        assert _iban_remainder(rf) == 1
        assert rf_to_finnish(rf) == ref


def test_each_rf_mistake_gets_its_own_message():
    with pytest.raises(FinnishRuleError, match=r"must start with RF"):
        validate_rf_reference("XX332348236")
    with pytest.raises(FinnishRuleError, match=r"two check digits and 1 to 21 letters or digits"):
        validate_rf_reference("RF3X2348236")
    with pytest.raises(FinnishRuleError, match=r"wrong check digits: expected 33, i.e. RF332348236"):
        validate_rf_reference("RF342348236")
    with pytest.raises(FinnishRuleError, match=r"carries letters"):
        rf_to_finnish("RF45G72UUR")
    with pytest.raises(FinnishRuleError, match=r"wrong check digit"):
        make_rf_reference("2348237")


# --- IBAN and BIC ----------------------------------------------------------------------------------------------
def test_known_ibans_are_accepted_and_printed_in_groups_of_four():
    assert format_iban("FI2112345600000785") == "FI21 1234 5600 0007 85"  # Finance Finland's example
    assert validate_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert validate_iban("GB82WEST12345698765432") == "GB82WEST12345698765432"
    assert validate_iban("NL91ABNA0417164300") == "NL91ABNA0417164300"


def test_each_iban_mistake_gets_its_own_message():
    with pytest.raises(FinnishRuleError, match=r"is empty"):
        validate_iban("  ")
    with pytest.raises(FinnishRuleError, match=r"country code, two check digits"):
        validate_iban("F12112345600000785")
    with pytest.raises(FinnishRuleError, match=r"has 17 characters; FI IBANs have 18"):
        validate_iban("FI211234560000078")
    with pytest.raises(FinnishRuleError, match=r"has 12 characters; an IBAN has 15 to 34"):
        validate_iban("ZZ1212345678")
    with pytest.raises(FinnishRuleError, match=r"wrong check digits \(mod 97\)"):
        validate_iban("FI2112345600000786")


def test_generated_ibans_agree_with_an_independent_mod_97():
    rng = random.Random(SEED + 2)
    for _ in range(1500):
        country = rng.choice(sorted(finnish.IBAN_LENGTHS))
        bban = "".join(rng.choice("0123456789") for _ in range(finnish.IBAN_LENGTHS[country] - 4))
        check = 98 - _iban_remainder(f"{country}00{bban}")
        iban = f"{country}{check:02d}{bban}"
        assert validate_iban(format_iban(iban)) == iban
        swapped = f"{country}{(check + 1) % 100:02d}{bban}"
        with pytest.raises(FinnishRuleError, match=r"mod 97"):
            validate_iban(swapped)


def test_a_bic_is_checked_for_shape_only():
    assert validate_bic("ndeafihh") == "NDEAFIHH"
    assert validate_bic("OKOYFIHHXXX") == "OKOYFIHHXXX"
    with pytest.raises(FinnishRuleError, match=r"is not 4 letters"):
        validate_bic("NDEAFIH")


# --- VAT rates and statuses ------------------------------------------------------------------------------------
def test_the_general_rate_was_24_until_august_2024_and_is_25_5_since_september():
    assert finnish_vat_rate_valid(Decimal("24"), on=dt.date(2024, 8, 31))
    assert not finnish_vat_rate_valid(Decimal("25.5"), on=dt.date(2024, 8, 31))
    assert finnish_vat_rate_valid(Decimal("25.50"), on=dt.date(2024, 9, 1))
    assert not finnish_vat_rate_valid(24, on=dt.date(2024, 9, 1))


def test_the_reduced_rates_follow_their_dates():
    assert finnish_vat_rates(dt.date(2025, 6, 1)) == [Decimal("25.5"), Decimal("14"), Decimal("10"), Decimal("0")]
    assert finnish_vat_rates(dt.date(2026, 3, 1)) == [Decimal("25.5"), Decimal("13.5"), Decimal("10"), Decimal("0")]
    assert finnish_vat_rate_valid("14", on=dt.date(2025, 12, 31))
    assert not finnish_vat_rate_valid("14", on=dt.date(2026, 1, 1))
    assert finnish_vat_rate_valid("0", on=dt.date(2026, 1, 1))
    assert not finnish_vat_rate_valid("22", on=dt.date(2026, 1, 1))


def test_a_float_rate_is_refused_because_it_cannot_be_exact():
    with pytest.raises(FinnishRuleError, match=r"not float"):
        finnish_vat_rate_valid(25.5, on=dt.date(2026, 1, 1))


def test_every_vat_status_has_an_explanation_and_a_netvisor_code_that_maps_back():
    for status in VatStatus:
        assert len(status.explanation) > 30
        code = netvisor_vat_code(status)
        assert code in finnish.NETVISOR_KNOWN_CODES
        assert vat_status_from_netvisor(code.lower()) is status
    assert netvisor_vat_code(VatStatus.DOMESTIC_SALES) == "KOMY"
    assert netvisor_vat_code(VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE) == "RAMY"
    assert not VatStatus.EU_PURCHASES_GOODS.is_sale and VatStatus.EU_SALES_GOODS.is_sale


def test_an_unmapped_or_unknown_netvisor_code_is_refused_by_name():
    with pytest.raises(FinnishRuleError, match=r"EVKV \(Non-deductible reverse tax-liability\) has no status"):
        vat_status_from_netvisor("EVKV")
    with pytest.raises(FinnishRuleError, match=r"'ULMY' is not a Netvisor VAT code"):
        vat_status_from_netvisor("ULMY")


def test_netvisor_vat_pairs_are_checked_like_netvisor_does():
    check_netvisor_vat("KOMY", Decimal("25.5"), on=dt.date(2026, 1, 1))
    check_netvisor_vat("EUMY", 0, on=dt.date(2026, 1, 1))
    with pytest.raises(FinnishRuleError, match=r"EUMY \(EU sales\) takes 0 %, not 25.5 %"):
        check_netvisor_vat("EUMY", Decimal("25.5"), on=dt.date(2026, 1, 1))
    with pytest.raises(FinnishRuleError, match=r"24 % was not a Finnish VAT rate on 2026-01-01; rates then: 25.5"):
        check_netvisor_vat("KOMY", 24, on=dt.date(2026, 1, 1))
    with pytest.raises(FinnishRuleError, match=r"'XXXX' is not a Netvisor VAT code"):
        check_netvisor_vat("XXXX", 0, on=dt.date(2026, 1, 1))


def test_procountor_numbers_are_given_where_documented_and_asked_for_elsewhere():
    assert procountor_vat_status(VatStatus.DOMESTIC_SALES) == 1
    assert procountor_vat_status(VatStatus.EXPORT_OUTSIDE_EU) == 3
    assert procountor_vat_status(VatStatus.EU_SALES_GOODS) == 5
    assert procountor_vat_status(VatStatus.NOT_VAT_LIABLE) == 12
    with pytest.raises(FinnishRuleError, match=r"construction sales reverse charge is not in its public"):
        procountor_vat_status(VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE)
    assert procountor_vat_status(VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE,
                                 {VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE: 19}) == 19


# --- Netvisor formats ------------------------------------------------------------------------------------------
def test_netvisor_dates_are_written_ansi_and_read_in_both_forms():
    assert finnish.NETVISOR_DATE_ATTRIBUTES == {"format": "ansi"}
    assert netvisor_date(dt.date(2026, 3, 1)) == "2026-03-01"
    assert parse_netvisor_date("2026-03-01") == dt.date(2026, 3, 1)
    assert parse_netvisor_date("2018-5-29") == dt.date(2018, 5, 29)
    assert parse_netvisor_date("1.3.2026") == dt.date(2026, 3, 1)
    with pytest.raises(FinnishRuleError, match=r"is not a real date"):
        parse_netvisor_date("30.2.2026")
    with pytest.raises(FinnishRuleError, match=r"is not a Netvisor date"):
        parse_netvisor_date("03/01/2026")


def test_netvisor_amounts_use_a_decimal_comma_and_are_never_rounded():
    assert netvisor_amount(Decimal("1240")) == "1240,00"
    assert netvisor_amount(Decimal("-1234.5")) == "-1234,50"
    assert netvisor_amount(Decimal("-0.00")) == "0,00"
    assert netvisor_amount(Decimal("12.40375"), places=None) == "12,40375"
    with pytest.raises(FinnishRuleError, match=r"more than 2 decimals; round it before sending"):
        netvisor_amount(Decimal("0.005"))
    with pytest.raises(FinnishRuleError, match=r"not float"):
        netvisor_amount(0.1)


def test_netvisor_amounts_are_read_exactly_whichever_mark_they_use():
    assert parse_netvisor_amount("1240,00") == Decimal("1240.00")
    assert parse_netvisor_amount("-10000.00") == Decimal("-10000.00")
    assert parse_netvisor_amount("1 234,56") == Decimal("1234.56")
    assert parse_netvisor_amount("-5000") == Decimal("-5000")
    with pytest.raises(FinnishRuleError, match=r"both ',' and '.'"):
        parse_netvisor_amount("1.234,56")
    with pytest.raises(FinnishRuleError, match=r"is not an amount"):
        parse_netvisor_amount("12,3,4")


def test_every_amount_survives_writing_and_reading_back():
    rng = random.Random(SEED + 3)
    for _ in range(2000):
        amount = Decimal(rng.randrange(-10 ** 9, 10 ** 9)).scaleb(-2)
        assert parse_netvisor_amount(netvisor_amount(amount)) == amount


# --- payment allocation ----------------------------------------------------------------------------------------
def test_a_payment_goes_to_fees_then_interest_then_capital_by_default():
    result = allocate_payment(Decimal("100.00"), capital_due=Decimal("500.00"), interest_due=Decimal("12.34"),
                              fees_due=Decimal("15.00"))
    assert result == Allocation(capital=Decimal("72.66"), interest=Decimal("12.34"), fees=Decimal("15.00"),
                                overpayment=Decimal("0.00"))


def test_the_order_can_put_capital_first():
    result = allocate_payment("100", capital_due="80", interest_due="30", fees_due="5",
                              order=("capital", "interest", "fees"))
    assert (result.capital, result.interest, result.fees, result.overpayment) == (80, 20, 0, 0)


def test_what_exceeds_everything_due_is_an_overpayment():
    result = allocate_payment(Decimal("130.01"), capital_due=Decimal("100"), interest_due=Decimal("10"),
                              fees_due=Decimal("20"))
    assert result.overpayment == Decimal("0.01") and result.total == Decimal("130.01")


def test_generated_payments_are_split_without_losing_a_cent_and_in_order():
    rng = random.Random(SEED + 4)
    orders = [("fees", "interest", "capital"), ("capital", "interest", "fees"), ("interest", "fees", "capital")]
    for _ in range(3000):
        cents = lambda top: Decimal(rng.randrange(top)).scaleb(-2)  # noqa: E731
        due = {"capital": cents(10 ** 7), "interest": cents(10 ** 5), "fees": cents(10 ** 4)}
        amount = cents(12 * 10 ** 6)
        order = rng.choice(orders)
        result = allocate_payment(amount, capital_due=due["capital"], interest_due=due["interest"],
                                  fees_due=due["fees"], order=order)
        parts = {"capital": result.capital, "interest": result.interest, "fees": result.fees}
        assert result.total == amount
        assert all(Decimal(0) <= parts[p] <= due[p] for p in parts) and result.overpayment >= 0
        for earlier, later in zip(order, order[1:]):
            assert parts[later] == 0 or parts[earlier] == due[earlier]
        assert result.overpayment == 0 or all(parts[p] == due[p] for p in parts)


def test_allocation_refuses_negative_amounts_floats_and_a_bad_order():
    with pytest.raises(FinnishRuleError, match=r"payment -1 is negative"):
        allocate_payment(Decimal("-1"), capital_due=1, interest_due=0, fees_due=0)
    with pytest.raises(FinnishRuleError, match=r"interest due is negative"):
        allocate_payment(Decimal("1"), capital_due=1, interest_due=-1, fees_due=0)
    with pytest.raises(FinnishRuleError, match=r"payment must be a Decimal"):
        allocate_payment(1.5, capital_due=1, interest_due=0, fees_due=0)
    with pytest.raises(FinnishRuleError, match=r"must name each of fees, interest, capital once"):
        allocate_payment(Decimal("1"), capital_due=1, interest_due=0, fees_due=0, order=("fees", "capital"))
