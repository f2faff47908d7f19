"""The page: a Jinja2 template (templates/report.html.j2) with its stylesheet inlined.

One self-contained HTML file per account and year: inline CSS, inline SVG charts, no
script, no font, no image or stylesheet to fetch, so it opens the same offline, in a mail
attachment and years later as evidence.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from .formatting import FILTERS
from .model import AccountReport
from .quality import TITLES

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def render(report: AccountReport) -> str:
    """The page of one account and year."""
    return environment().get_template("report.html.j2").render(r=report, issue_titles=TITLES)
