"""The inline SVG charts of the report page: scales, escaping and the empty case."""

from __future__ import annotations

from lxml import etree

from toolkit.report.charts import Series, column_chart, nice_ticks, overdue_colors, shorten, stacked_bar_chart


def money(value: float) -> str:
    return f"${value:,.0f}"


def parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode("utf-8"))


def test_axis_ticks_are_round_numbers_covering_the_largest_value() -> None:
    """0 to at least the maximum, in steps of 1, 2, 2.5 or 5 times a power of ten."""
    assert nice_ticks(3700) == [0, 1000, 2000, 3000, 4000]
    assert nice_ticks(12345) == [0, 5000, 10000, 15000]
    assert nice_ticks(0.5) == [0.0, 0.2, 0.4, 0.6]
    assert nice_ticks(0) == [0.0, 1.0]


def test_overdue_colours_run_from_yellow_to_red() -> None:
    """Four buckets get four distinct colours; the last is the 90+ red."""
    colours = overdue_colors(4)
    assert len(set(colours)) == 4 and colours[0] == "#f2c94c" and colours[-1] == "#c0392b"


def test_long_labels_are_shortened_with_an_ellipsis() -> None:
    """A customer name longer than the space is cut, the full name stays in the tooltip."""
    assert shorten("Northwind Traders International", 12) == "Northwind T…"
    assert shorten("Acme", 12) == "Acme"


def test_column_chart_is_valid_svg_with_one_bar_per_value() -> None:
    """Each bar is a rect with a tooltip title; heights follow the values."""
    svg = parse(column_chart("c", "By bucket", [("Current", 2500, "#3a8f5c"), ("90+", 1000, "#c0392b")], money, money))
    ns = {"s": "http://www.w3.org/2000/svg"}
    bars = svg.findall(".//s:g[@class='bar']", ns)
    assert [b.findtext("s:title", namespaces=ns) for b in bars] == ["Current: $2,500", "90+: $1,000"]
    heights = [float(b.find("s:rect", ns).get("height")) for b in bars]
    assert heights[0] / heights[1] == 2.5
    assert svg.get("role") == "img" and svg.findtext("s:desc", namespaces=ns) == "Current: $2,500; 90+: $1,000"


def test_stacked_chart_escapes_names_from_the_workbook() -> None:
    """A customer name with markup is text in the SVG, never an element."""
    svg_text = stacked_bar_chart(
        "s",
        "Top debtors",
        [("<b onload=alert(1)>Evil & Co</b>", [100.0, 50.0])],
        [Series("Not yet due", "#3a8f5c"), Series("Overdue", "#c0392b")],
        money,
        money,
    )
    assert "<b onload" not in svg_text
    svg = parse(svg_text)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.find(".//s:b", ns) is None
    assert svg.findtext(".//s:g[@class='bar']/s:title", namespaces=ns) == "<b onload=alert(1)>Evil & Co</b>: $150"
    assert len(svg.findall(".//s:g[@class='bar']/s:rect", ns)) == 2


def test_an_empty_chart_says_so() -> None:
    """Nothing to draw gives a valid SVG with a sentence instead of bars."""
    for svg_text in (
        column_chart("c", "By bucket", [("Current", 0, "#000")], money, money, empty_message="Nothing is owed"),
        stacked_bar_chart("s", "Overdue", [], [Series("1-30", "#f00")], money, money, empty_message="Nothing is owed"),
    ):
        svg = parse(svg_text)
        assert "Nothing is owed" in "".join(svg.itertext())
