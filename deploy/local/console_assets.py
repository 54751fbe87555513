"""The console's browser assets, built by `stack.py install` from the locked npm packages.

- `npm ci` in services/console/assets/ (package.json and package-lock.json are committed; node_modules
  is not), run only when the lockfile differs from the one of the last install.
- Vazirmatn, self-hosted: woff2 subsets of its Regular and Bold weights (Persian and Arabic letters,
  ZWNJ and ZWJ, Persian, Arabic-Indic and Latin digits, basic Latin, common punctuation) made with
  fontTools' subsetter, plus an @font-face stylesheet, in services/console/static/fonts/.
- The JavaScript the pages load (htmx 2, its server-sent-events extension, Chart.js's UMD build) copied
  to services/console/static/vendor/.

The console mounts services/console/static/ at /static/, so nothing is loaded from another site at run
time. Both generated folders are git-ignored and rebuilt when the lockfile or the recipe below changes.
axe-core stays in node_modules: only the browser tests use it.

The container image runs the same step (deploy/docker/Dockerfile): its npm stage runs `npm ci`, then

    python deploy/local/console_assets.py --no-npm             # fonts and scripts from node_modules
    python deploy/local/console_assets.py --check-installed    # after the wheel is installed

and the wheel carries the generated folders (pyproject.toml, [tool.hatch.build.targets.wheel] artifacts).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "services" / "console" / "assets"
LOCKFILE = ASSETS / "package-lock.json"
NODE_MODULES = ASSETS / "node_modules"
NPM_MARKER = NODE_MODULES / ".samad-lockfile.sha256"
STATIC = ROOT / "services" / "console" / "static"
FONTS = STATIC / "fonts"
VENDOR = STATIC / "vendor"
STAMP = ".samad-build"

# Bump when the recipe below changes in a way the lockfile does not show.
RECIPE = "2"
# `npm ci` as the install step and the image's npm stage run it. Install scripts are off: none of these
# packages needs one, and none should run at install time.
NPM_CI = ("ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")

FONT_FAMILY = "Vazirmatn"
# (weight, source in the npm package, subset written to static/fonts/)
FONT_WEIGHTS = (
    (400, "vazirmatn/fonts/ttf/Vazirmatn-Regular.ttf", "Vazirmatn-Regular.woff2"),
    (700, "vazirmatn/fonts/ttf/Vazirmatn-Bold.ttf", "Vazirmatn-Bold.woff2"),
)
FONT_CSS = "vazirmatn.css"
FONT_LICENSE = ("vazirmatn/OFL.txt", "OFL.txt")
# Code point ranges kept in the subset; the @font-face unicode-range says the same.
UNICODE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # basic Latin, Latin digits
    (0x00A0, 0x00A0),  # no-break space
    (0x00AB, 0x00AB),  # « (Persian quotation marks)
    (0x00BB, 0x00BB),  # »
    (0x00D7, 0x00D7),  # ×
    (0x00F7, 0x00F7),  # ÷
    (0x0600, 0x06FF),  # Arabic block: Persian letters, ، ؛ ؟, Arabic-Indic and Persian digits, ٫ ٬
    (0x200C, 0x200F),  # ZWNJ (نیم‌فاصله), ZWJ, LRM, RLM
    (0x2010, 0x2027),  # dashes, quotation marks, bullet, ellipsis
    (0x2030, 0x2030),  # per mille
    (0x2039, 0x203A),  # ‹ ›
    (0x2066, 0x2069),  # bidi isolates (what <bdi> stands for)
    (0xFDFC, 0xFDFC),  # ﷼ (rial sign)
)
# The JavaScript the pages load: (file in the npm packages, name under static/vendor/).
VENDOR_FILES = (
    ("htmx.org/dist/htmx.min.js", "htmx.min.js"),
    ("htmx-ext-sse/dist/sse.min.js", "htmx-ext-sse.min.js"),
    ("chart.js/dist/chart.umd.min.js", "chart.umd.min.js"),
)
VENDOR_LICENSES = (
    ("htmx.org/LICENSE", "htmx.LICENSE.txt"),
    ("htmx-ext-sse/LICENSE", "htmx-ext-sse.LICENSE.txt"),
    ("chart.js/LICENSE.md", "chart.js.LICENSE.txt"),
)


class ConsoleAssetsError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npm_packages_current() -> bool:
    """Whether node_modules holds what the committed lockfile names (as of the last `npm ci`)."""
    return NPM_MARKER.exists() and NPM_MARKER.read_text().strip() == _sha256(LOCKFILE)


def npm_ci() -> None:
    """`npm ci` in services/console/assets/ unless node_modules already matches the lockfile."""
    if npm_packages_current():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ConsoleAssetsError(
            "npm is not on PATH: the console's font and scripts come from npm packages; install Node.js "
            "with npm (Debian: apt-get install nodejs npm), then run the install again"
        )
    say("installing the console's npm packages (npm ci)")
    result = subprocess.run(
        [npm, *NPM_CI],
        cwd=ASSETS,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ConsoleAssetsError(f"npm ci in {_shown(ASSETS)} failed (exit {result.returncode}):\n{tail}")
    NPM_MARKER.write_text(_sha256(LOCKFILE) + "\n")


def _build_id() -> str:
    recipe = repr((RECIPE, FONT_WEIGHTS, UNICODE_RANGES, VENDOR_FILES, VENDOR_LICENSES))
    return hashlib.sha256(LOCKFILE.read_bytes() + recipe.encode()).hexdigest()


def _current(folder: Path, names: list[str]) -> bool:
    stamp = folder / STAMP
    return (
        stamp.exists()
        and stamp.read_text().strip() == _build_id()
        and all((folder / name).is_file() for name in names)
    )


def unicode_range_css() -> str:
    return ", ".join(f"U+{a:04X}" if a == b else f"U+{a:04X}-{b:04X}" for a, b in UNICODE_RANGES)


def font_face_css() -> str:
    faces = []
    for weight, _, name in FONT_WEIGHTS:
        faces.append(
            "@font-face {\n"
            f'  font-family: "{FONT_FAMILY}";\n'
            f'  src: url("{name}") format("woff2");\n'
            f"  font-weight: {weight};\n"
            "  font-style: normal;\n"
            "  font-display: swap;\n"
            f"  unicode-range: {unicode_range_css()};\n"
            "}\n"
        )
    return (
        f"/* Vazirmatn (SIL Open Font License 1.1, {FONT_LICENSE[1]}), subset for the console: Persian and\n"
        "   Latin text, digits and punctuation. Generated by deploy/local/console_assets.py; do not edit.\n"
        f'   Use: font-family: "{FONT_FAMILY}", sans-serif; weights 400 and 700. */\n' + "\n".join(faces)
    )


def _subset(source: Path, target: Path) -> None:
    try:
        from fontTools import subset
    except ImportError as exc:  # the stack runs in the project's environment, where fontTools is locked
        raise ConsoleAssetsError(
            "fontTools is missing: run the install with the project's environment (make install, or "
            "`uv run python deploy/local/stack.py install`)"
        ) from exc
    options = subset.Options()
    options.flavor = "woff2"  # needs the brotli package, a project dependency
    options.layout_features = ["*"]  # Persian needs its joining forms, ligatures and mark positioning
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # names, copyright and the licence
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for a, b in UNICODE_RANGES for c in range(a, b + 1)])
    subsetter.subset(font)
    tmp = target.with_suffix(".tmp")
    subset.save_font(font, str(tmp), options)
    tmp.replace(target)


def build_fonts() -> None:
    names = [name for _, _, name in FONT_WEIGHTS] + [FONT_CSS, FONT_LICENSE[1]]
    if _current(FONTS, names):
        return
    started = time.monotonic()
    FONTS.mkdir(parents=True, exist_ok=True)
    (FONTS / STAMP).unlink(missing_ok=True)
    for _, source, name in FONT_WEIGHTS:
        _subset(NODE_MODULES / source, FONTS / name)
    (FONTS / FONT_CSS).write_text(font_face_css(), encoding="utf-8")
    shutil.copyfile(NODE_MODULES / FONT_LICENSE[0], FONTS / FONT_LICENSE[1])
    (FONTS / STAMP).write_text(_build_id() + "\n")
    sizes = ", ".join(
        f"{n} {(FONTS / n).stat().st_size / 1024:.1f} KB" for n in names[: len(FONT_WEIGHTS) + 1]
    )
    say(f"Vazirmatn subsets in {_shown(FONTS)}/ ({time.monotonic() - started:.1f} s): {sizes}")


def copy_vendor() -> None:
    names = [name for _, name in VENDOR_FILES + VENDOR_LICENSES]
    if _current(VENDOR, names):
        return
    VENDOR.mkdir(parents=True, exist_ok=True)
    (VENDOR / STAMP).unlink(missing_ok=True)
    for source, name in VENDOR_FILES + VENDOR_LICENSES:
        path = NODE_MODULES / source
        if not path.is_file():
            raise ConsoleAssetsError(f"{source} is missing from the npm packages in {_shown(ASSETS)}")
        shutil.copyfile(path, VENDOR / name)
    (VENDOR / STAMP).write_text(_build_id() + "\n")
    sizes = ", ".join(f"{n} {(VENDOR / n).stat().st_size / 1024:.1f} KB" for _, n in VENDOR_FILES)
    say(f"vendor scripts in {_shown(VENDOR)}/: {sizes}")


def install() -> None:
    npm_ci()
    build_fonts()
    copy_vendor()


def generated_files() -> list[str]:
    """What build_fonts() and copy_vendor() write, relative to services/console/static/."""
    fonts = [name for _, _, name in FONT_WEIGHTS] + [FONT_CSS, FONT_LICENSE[1]]
    vendor = [name for _, name in VENDOR_FILES + VENDOR_LICENSES]
    return [f"{FONTS.name}/{n}" for n in fonts] + [f"{VENDOR.name}/{n}" for n in vendor]


def check_installed() -> None:
    """The installed services.console package (not this source tree) holds every generated file."""
    static = files("services.console") / STATIC.name
    missing = [name for name in generated_files() if not static.joinpath(*name.split("/")).is_file()]
    if missing:
        raise ConsoleAssetsError(
            f"the installed services.console package lacks {', '.join(missing)}: the wheel must carry "
            "the generated assets (pyproject.toml, [tool.hatch.build.targets.wheel] artifacts)"
        )
    say(f"the installed console carries its {len(generated_files())} generated assets")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the console's browser assets from its npm packages.")
    parser.add_argument(
        "--no-npm",
        action="store_true",
        help="use the node_modules already in services/console/assets (the image's npm stage) without npm",
    )
    parser.add_argument(
        "--check-installed",
        action="store_true",
        help="only check that the installed services.console package holds the generated assets",
    )
    args = parser.parse_args(argv)
    try:
        if args.check_installed:
            check_installed()
            return 0
        if not args.no_npm:
            npm_ci()
        elif not NODE_MODULES.is_dir():
            raise ConsoleAssetsError(
                f"--no-npm, but there is no {_shown(NODE_MODULES)}: run npm ci there first"
            )
        build_fonts()
        copy_vendor()
    except ConsoleAssetsError as exc:
        print(f"console assets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
