"""Server-side SVG charts: any data draws a well-formed picture that stays inside its frame.

The model of what must hold, whatever the data: the SVG parses as XML; it
names itself (title, desc) for screen readers; every bar lies inside the
viewBox with a non-negative size; no coordinate is NaN or infinite; there is
no script, no style and no event attribute (the CSP would refuse them); every
label's text comes back out of the parser as it went in, less what XML cannot
carry (so it was escaped, not interpreted).
"""

from __future__ import annotations

import dataclasses
import math
import xml.etree.ElementTree as ET
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from xrm.admin_ui import charts

SVG = "{http://www.w3.org/2000/svg}"

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.just(Decimal("1e400")),
    st.just(Decimal("-1e400")),
    st.just(0),
)
labels = st.text(max_size=80)


@st.composite
def chart_data(draw: st.DrawFn) -> charts.Chart:
    categories = draw(st.lists(labels, max_size=12))
    series = draw(
        st.lists(
            st.builds(
                charts.Series,
                labels,
                st.lists(numbers, min_size=len(categories), max_size=len(categories)).map(tuple),
            ),
            max_size=8,
        )
    )
    return charts.Chart(
        ident=draw(st.text(max_size=20)),
        title=draw(labels),
        description=draw(labels),
        categories=tuple(categories),
        series=tuple(series),
        stacked=draw(st.booleans()),
    )


def _viewbox(svg: ET.Element) -> tuple[float, float]:
    _x, _y, width, height = (float(v) for v in svg.attrib["viewBox"].split())
    return width, height


@settings(max_examples=50, deadline=None)
@given(chart_data())
def test_any_data_draws_well_formed_svg_inside_its_frame(chart: charts.Chart) -> None:
    drawn = charts.bar_chart(chart)
    root = ET.fromstring(drawn)
    assert root.tag == f"{SVG}svg" and root.attrib["role"] == "img"
    width, height = _viewbox(root)
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    expected = charts._NOT_XML.sub("", chart.title).replace("\r\n", "\n").replace("\r", "\n")
    assert (title.text or "") == expected
    labelled = root.attrib["aria-labelledby"].split()
    assert labelled == [title.attrib["id"], desc.attrib["id"]]
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and name != "style", name
            assert "nan" not in value.lower().split() and "inf" not in value.lower()
        assert element.tag not in (f"{SVG}script", f"{SVG}style", f"{SVG}foreignObject")
    for rect in root.iter(f"{SVG}rect"):
        x, y = float(rect.attrib["x"]), float(rect.attrib["y"])
        w, h = float(rect.attrib["width"]), float(rect.attrib["height"])
        assert all(math.isfinite(v) for v in (x, y, w, h))
        assert w >= 0 and h >= 0
        assert x >= -0.01 and x + w <= width + 0.01, (x, w)
        assert y >= -0.01 and y + h <= height + 0.01, (y, h)
    for text in root.iter(f"{SVG}text"):
        x, y = float(text.attrib["x"]), float(text.attrib["y"])
        assert 0 <= x <= width and 0 <= y <= height
    bars = sum(
        1
        for series in chart.series
        for value in series.values
        if charts.finite(value) != 0 and chart.categories
    )
    assert len(list(root.iter(f"{SVG}rect"))) == bars


def test_labels_are_escaped_not_markup() -> None:
    chart = charts.Chart(
        ident='x" onload="alert(1)',
        title="<script>alert(1)</script> & co",
        description="Tier \u0000 → 등급",
        categories=("<b>gold</b>", "a & b"),
        series=(charts.Series('"quoted"', (1, 2)),),
    )
    drawn = charts.bar_chart(chart)
    root = ET.fromstring(drawn)
    assert "<script>" not in drawn
    assert all(not name.startswith("on") for e in root.iter() for name in e.attrib)
    assert root.find(f"{SVG}title").text == "<script>alert(1)</script> & co"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Tier  → 등급"  # type: ignore[union-attr]
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "<b>gold</b>" in texts and "a & b" in texts


def test_taller_values_draw_taller_bars_and_stacks_add_up() -> None:
    chart = charts.Chart(
        "c", "t", "d", ("a", "b"), (charts.Series("s", (1, 3)), charts.Series("u", (1, 0)))
    )
    side = ET.fromstring(charts.bar_chart(chart))
    heights = [float(r.attrib["height"]) for r in side.iter(f"{SVG}rect")]
    assert heights[0] == heights[1] and abs(heights[2] - 3 * heights[0]) < 0.05  # a·s, a·u, b·s
    stacked = ET.fromstring(charts.bar_chart(dataclasses.replace(chart, stacked=True)))
    a_s, a_u, b_s = list(stacked.iter(f"{SVG}rect"))
    assert a_s.attrib["x"] == a_u.attrib["x"]  # one column
    assert abs(float(a_u.attrib["y"]) + float(a_u.attrib["height"]) - float(a_s.attrib["y"])) < 0.05
    assert b_s is not None
