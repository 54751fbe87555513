"""The console's generated assets (make install): Vazirmatn subsets that hold every character Persian
screens need and stay small, and the @font-face rules and vendor scripts the pages load."""

from __future__ import annotations

import re

import pytest
from fontTools.ttLib import TTFont

from tests.support.browser import NODE_MODULES, STATIC

FONTS = STATIC / "fonts"
SUBSETS = {"Vazirmatn-Regular.woff2": 400, "Vazirmatn-Bold.woff2": 700}

PERSIAN_LETTERS = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیءأؤئۀة"
NEEDED = (
    PERSIAN_LETTERS
    + "يك"  # Arabic yeh and kaf, as citizens and old systems still type them
    + "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩0123456789"
    + "\u200c\u200d"  # ZWNJ (نیم‌فاصله) and ZWJ
    + "،؛؟٫٬«»…–—ًٌٍَُِّْ"
    + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;!?()[]/-+@#%&*'\""
)


@pytest.mark.parametrize("name", sorted(SUBSETS))
def test_each_subset_holds_every_character_persian_screens_need(name: str) -> None:
    font = TTFont(FONTS / name)
    assert font.flavor == "woff2"
    cmap = font.getBestCmap()
    missing = [f"U+{ord(c):04X} {c}" for c in NEEDED if ord(c) not in cmap]
    assert not missing, f"{name} lacks {missing}"
    assert font["OS/2"].usWeightClass == SUBSETS[name]


@pytest.mark.parametrize("name", sorted(SUBSETS))
def test_each_subset_keeps_the_joining_forms_and_mark_positioning(name: str) -> None:
    font = TTFont(FONTS / name)
    gsub = {r.FeatureTag for r in font["GSUB"].table.FeatureList.FeatureRecord}
    gpos = {r.FeatureTag for r in font["GPOS"].table.FeatureList.FeatureRecord}
    assert {"init", "medi", "fina", "rlig"} <= gsub
    assert {"mark", "kern"} <= gpos


def test_the_subsets_are_a_fraction_of_the_full_font() -> None:
    full = sum((NODE_MODULES / "vazirmatn" / "fonts" / "webfonts" / name).stat().st_size for name in SUBSETS)
    subsets = sum((FONTS / name).stat().st_size for name in SUBSETS)
    # The desk's first load must stay under 250 KB compressed; the two weights may take 80 of it.
    assert subsets < 80 * 1024 and subsets < full * 0.7, (subsets, full)


def test_the_font_face_rules_point_at_the_subsets() -> None:
    css = (FONTS / "vazirmatn.css").read_text(encoding="utf-8")
    sources = re.findall(r'url\("([^"]+)"\)', css)
    assert sorted(sources) == sorted(SUBSETS)
    assert all((FONTS / source).is_file() for source in sources)
    assert (FONTS / "OFL.txt").read_text().startswith("Copyright 2015 The Vazirmatn Project Authors")


def test_the_vendor_scripts_are_in_place() -> None:
    vendor = STATIC / "vendor"
    htmx = (vendor / "htmx.min.js").read_text(encoding="utf-8")
    assert re.search(r'version:"2\.\d+\.\d+"', htmx), "htmx 2.x expected"
    assert 'defineExtension("sse"' in (vendor / "htmx-ext-sse.min.js").read_text(encoding="utf-8")
    assert (vendor / "chart.umd.min.js").read_text(encoding="utf-8").startswith("/*!\n * Chart.js v4.")
