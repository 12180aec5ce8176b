"""Sizes, rates and durations mean what their standards say: SI prefixes are powers of 1000,
IEC prefixes powers of 1024 (IEC 80000-13), an hour is 3,600 s and a day 86,400 s."""

import pytest

from ngs_lake.config.units import (
    FigureTooLarge,
    NegativeFigure,
    UnitError,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 B", 1),
        ("1 kB", 1_000),
        ("1 KB", 1_000),
        ("1 MB", 1_000_000),
        ("1 GB", 1_000_000_000),
        ("1 TB", 1_000_000_000_000),
        ("1 PB", 1_000_000_000_000_000),
    ],
)
def test_si_prefixes_are_powers_of_1000(text, expected):
    assert parse_size(text) == expected


def test_kib_is_1024_bytes():
    assert parse_size("1 KiB") == 1024


def test_mib_is_1048576_bytes():
    assert parse_size("1 MiB") == 1_048_576


def test_gib_is_1073741824_bytes():
    assert parse_size("1 GiB") == 1_073_741_824


def test_tib_is_2_to_the_40_bytes():
    assert parse_size("1 TiB") == 1_099_511_627_776


def test_pib_is_2_to_the_50_bytes():
    assert parse_size("1 PiB") == 1_125_899_906_842_624


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16 TiB", 17_592_186_044_416),
        ("1.5 GiB", 1_610_612_736),
        ("16TiB", 17_592_186_044_416),
        ("  2 KiB  ", 2_048),
        ("0.5 kB", 500),
        ("7 B", 7),
    ],
)
def test_sizes_take_decimals_and_spacing(text, expected):
    assert parse_size(text) == expected


def test_a_fractional_byte_count_is_rounded_to_whole_bytes():
    assert parse_size("1.5 B") == 2
    assert isinstance(parse_size("1.5 B"), int)


@pytest.mark.parametrize("text", ["16 Tb", "16 kb", "16", "TiB", "sixteen TiB", "", "1 GB/h"])
def test_unreadable_sizes_are_refused_with_an_example(text):
    with pytest.raises(UnitError) as caught:
        parse_size(text)
    assert str(caught.value) == (
        f'cannot read {text!r} as a size; write a number and a unit such as "16 TiB" or "20 TB"'
    )


def test_a_size_that_is_not_text_is_refused():
    with pytest.raises(UnitError, match="cannot read 16 as a size"):
        parse_size(16)


@pytest.mark.parametrize(
    ("text", "per_hour"),
    [
        ("25 GB/h", 25e9),
        ("25 GB/hour", 25e9),
        ("600 GB/day", 25e9),
        ("600 GB/d", 25e9),
        ("1 GB/min", 60e9),
        ("2 MB/s", 7.2e9),
        ("2 MB/sec", 7.2e9),
        ("1 TiB/day", 1_099_511_627_776 / 24),
        ("1.5 TiB / day", 1.5 * 1_099_511_627_776 / 24),
    ],
)
def test_rates_are_bytes_per_hour(text, per_hour):
    assert parse_rate(text) == pytest.approx(per_hour)


@pytest.mark.parametrize("text", ["25 GB/week", "25 Gb/h", "25 GB", "GB/h", "", "25 GB/h/h"])
def test_unreadable_rates_are_refused_with_an_example(text):
    with pytest.raises(UnitError) as caught:
        parse_rate(text)
    assert str(caught.value) == (
        f"cannot read {text!r} as a data rate; write a size per hour or day such as "
        '"25 GB/h" or "1.5 TiB/day"'
    )


def test_a_rate_that_is_not_text_is_refused():
    with pytest.raises(UnitError, match="cannot read 25 as a data rate"):
        parse_rate(25)


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (1_500_000_000_000_000, "1.5 PB"),
        (1_000_000_000_000, "1.0 TB"),
        (2_500_000_000, "2.5 GB"),
        (1_000_000, "1.0 MB"),
        (1_000, "1.0 kB"),
        (999, "999 B"),
        (0, "0 B"),
    ],
)
def test_sizes_are_shown_in_si_units_by_default(n_bytes, text):
    assert format_size(n_bytes) == text


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (2**50, "1.0 PiB"),
        (16 * 2**40, "16.0 TiB"),
        (3 * 2**29, "1.5 GiB"),
        (2**20, "1.0 MiB"),
        (2**10, "1.0 KiB"),
        (1_023, "1023 B"),
    ],
)
def test_caches_are_shown_in_iec_units(n_bytes, text):
    assert format_size(n_bytes, iec=True) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", 60.0),
        ("60", 60.0),
        ("5m", 300.0),
        ("5 min", 300.0),
        ("1.5h", 5_400.0),
        ("2d", 172_800.0),
        ("250ms", 0.25),
        (" 90 s ", 90.0),
    ],
)
def test_durations_are_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 weeks", "m", "5 h 3 m", "", "-5s"])
def test_unreadable_durations_are_refused_with_an_example(text):
    with pytest.raises(UnitError) as caught:
        parse_duration(text)
    assert str(caught.value) == (
        f'cannot read {text!r} as a duration; write e.g. "60s", "5m" or "2h"'
    )


def test_a_duration_that_is_not_text_is_refused():
    with pytest.raises(UnitError, match="cannot read 60 as a duration"):
        parse_duration(60)


def test_a_negative_size_is_called_negative():
    with pytest.raises(NegativeFigure) as caught:
        parse_size("-1 GB")
    assert str(caught.value) == "'-1 GB' is negative; a size is 0 or more, such as \"16 TiB\""


def test_a_negative_rate_is_called_negative_not_unreadable():
    with pytest.raises(NegativeFigure) as caught:
        parse_rate("-12 GB/h")
    assert str(caught.value) == (
        "'-12 GB/h' is negative; a data rate is 0 or more, such as \"25 GB/h\""
    )


def test_zero_is_a_size_and_a_rate():
    assert (parse_size("0 B"), parse_rate("0 GB/h")) == (0, 0.0)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_size, "9" * 309 + " B", "is too large a size to hold"),
        (parse_rate, "9" * 309 + " B/h", "is too large a data rate to hold"),
        (parse_duration, "9" * 309 + "s", "is too long a duration to hold"),
    ],
    ids=["size", "rate", "duration"],
)
def test_a_figure_beyond_a_float_is_refused_not_infinite(parse, text, message):
    with pytest.raises(FigureTooLarge) as caught:
        parse(text)
    assert str(caught.value) == f"{text!r} {message}"


def test_the_largest_figures_a_float_holds_are_read():
    assert parse_size("9" * 308 + " B") == round(float("9" * 308))
    assert parse_rate("9" * 300 + " B/s") == float("9" * 300) * 3600
    assert parse_duration("9" * 308) == float("9" * 308)
