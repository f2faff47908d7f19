"""The same page as a PDF, printed by headless Chromium when the machine has it.

Chromium runs with a fresh profile in a temporary folder (also its HOME and XDG folders, so
it leaves nothing in the user's home), without background networking, component updates,
sync or first-run tasks. The page itself fetches nothing, so printing needs no network.
Without Chromium the report says so in one sentence and writes no file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ReportError

# where to look, in order; LUNE_CHROMIUM names a binary explicitly
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "LUNE_CHROMIUM"
# flags that keep a headless Chromium quiet: no network of its own, nothing to set up
QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
)
PRINT_TIMEOUT_SECONDS = 180


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary to print with, or None when there is none."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary, or a ReportError saying how to get one."""
    chromium = find_chromium()
    if chromium is None:
        raise ReportError(
            "PDF reports need headless Chromium, which is not installed here (install the "
            "`chromium` package, or set LUNE_CHROMIUM to a Chromium binary), or write HTML "
            "with --format html."
        )
    return chromium


def print_pdf(html: Path, pdf: Path, chromium: str) -> None:
    """Prints the page `html` to `pdf` (A4, as the page's print styles lay it out)."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    partial = pdf.with_name(pdf.name + ".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="lune-report-chromium-") as profile:
        env = dict(
            os.environ,
            HOME=profile,
            XDG_CONFIG_HOME=f"{profile}/config",
            XDG_CACHE_HOME=f"{profile}/cache",
            XDG_DATA_HOME=f"{profile}/data",
        )
        command = [
            chromium,
            *QUIET_FLAGS,
            f"--user-data-dir={profile}/user-data",
            "--no-pdf-header-footer",
            f"--print-to-pdf={partial}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=PRINT_TIMEOUT_SECONDS,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise ReportError(
                f"Chromium did not finish printing {pdf.name} within {PRINT_TIMEOUT_SECONDS} s."
            ) from None
        except OSError as e:
            raise ReportError(f"Chromium ({chromium}) could not be started: {e}.") from None
    if not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise ReportError(
            f"Chromium ({chromium}) wrote no PDF (exit {done.returncode}): "
            f"{_last_line(done.stderr)}"
        )
    partial.replace(pdf)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
