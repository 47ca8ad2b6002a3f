"""The CJK font reports draw Chinese with, so that they read the same on a machine without one.

Plots are drawn with it (glyphs become paths in SVG and pixels in PNG) and every HTML page
carries a subset of it holding just the Chinese characters on that page. It comes from the
`weblate-fonts` package (Kurinto Sans SC, SIL Open Font License; a dependency, so every
`make setup` has it), else from a CJK font installed on the system. With neither, plots use the
English glosses of exam-type names instead of the Chinese (see `drawable`).
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path

from collectivesft.benchmarks.cmb.format import TYPE_LABELS

# The packaged font: (package, file inside it).
PACKAGED = ("weblate_fonts", "static/weblate_fonts/kurinto/ttf/KurintoSansSC-Rg.ttf")
# Installed fonts that cover Simplified Chinese, in order of preference (Linux packages first).
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "Microsoft YaHei", "PingFang SC", "SimHei",
)
# The family name HTML pages give the embedded subset (not a real font's, so it never clashes).
PAGE_FAMILY = "collectivesft-cjk"
# Ideographs, radicals, CJK punctuation, kana, full-width forms and the supplementary ideograph planes.
CJK_RANGES = ((0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))


def is_cjk(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in CJK_RANGES)


def has_cjk(text: str) -> bool:
    return any(is_cjk(c) for c in text)


def _packaged_file() -> Path | None:
    from importlib import resources

    try:
        path = resources.files(PACKAGED[0]) / PACKAGED[1]
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


@functools.lru_cache(maxsize=1)
def cjk_font() -> tuple[str, Path] | None:
    """(family name, font file) of the font reports draw Chinese with, registered with
    matplotlib; the packaged one first (the same look on every machine), else an installed one."""
    from matplotlib import font_manager

    packaged = _packaged_file()
    if packaged is not None:
        font_manager.fontManager.addfont(str(packaged))
        return font_manager.FontProperties(fname=str(packaged)).get_name(), packaged
    installed = {f.name: Path(f.fname) for f in font_manager.fontManager.ttflist}
    name = next((n for n in CJK_FAMILIES if n in installed), None) or next(
        (n for n in sorted(installed) if "CJK" in n), None)
    return (name, installed[name]) if name else None


def drawable(text: str) -> str:
    """`text` as a plot draws it: unchanged with a CJK font; without one, exam-type names are
    replaced by their English glosses ('医师考试 (Physician)' and '医师考试' both become 'Physician')."""
    if cjk_font() is not None or not has_cjk(text):
        return text
    for name, gloss in TYPE_LABELS.items():
        text = text.replace(f"{name} ({gloss})", gloss).replace(name, gloss)
    return text


def _open(path: Path, family: str):
    """The font at `path` as a fontTools TTFont; in a collection (.ttc), the face named `family`."""
    from fontTools.ttLib import TTCollection, TTFont

    if path.suffix.lower() not in (".ttc", ".otc"):
        return TTFont(str(path), recalcTimestamp=False, lazy=False)
    faces = TTCollection(str(path)).fonts
    index = next((i for i, f in enumerate(faces) if f["name"].getDebugName(1) == family), 0)
    return TTFont(str(path), fontNumber=index, recalcTimestamp=False, lazy=False)


@functools.lru_cache(maxsize=32)
def _subset_woff(chars: str, family: str, path: str) -> str | None:
    """Base64 WOFF holding the glyphs of `chars` from the font at `path`; None when it has none of them."""
    from fontTools import subset

    font = _open(Path(path), family)
    chars = "".join(c for c in chars if ord(c) in font.getBestCmap())
    if not chars:
        return None
    options = subset.Options()
    options.flavor = "woff"  # zlib-compressed: no brotli needed
    options.layout_features = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def font_face_css(text: str) -> str:
    """An @font-face rule embedding the Chinese characters of `text` (family PAGE_FAMILY); "" when
    there are none or no CJK font is found (the page then relies on the viewer's fonts and the
    English glosses beside exam-type names)."""
    found = cjk_font()
    chars = "".join(sorted({c for c in text if is_cjk(c)}))
    data = _subset_woff(chars, found[0], str(found[1])) if chars and found else None
    if not data:
        return ""
    return f"@font-face{{font-family:'{PAGE_FAMILY}';src:url(data:font/woff;base64,{data}) format('woff')}}"
