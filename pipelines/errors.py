"""One sentence for a failed run: the step, the package if there is one, and the root cause.

dlt wraps a failure in layers (`PipelineStepFailed` -> `NormalizeJobFailed` / `LoadClientJobRetry`
-> `DatabaseTransientException` -> the driver's own error) and its top message ends with a
blank line, so its first line says only "Pipeline execution failed at step=normalize ... with
exception:". The user needs the bottom of that chain (a truncated parquet file, a refused
connection) together with the top (which step, which package); the full chain goes to the
debug log.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime

from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination.exceptions import WithJobError
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.logs import mask
from sources.lune.errors import LuneAPIError, LuneError
from transforms.errors import TransformError

log = logging.getLogger("lune.pipeline")

MAX_LENGTH = 600
_TRACEBACK_HEAD = "Traceback (most recent call last):"


class RunError(Exception):
    """A run failed; `str()` is one sentence for the user, with no secret in it."""


class StepFailed(Exception):
    """A failure in a step of ours (the leftover handling) that names the step itself.

    `str()` is the already described sentence; the original error is `__cause__`.
    """

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


def package_label(load_id: str) -> str:
    """'the package extracted at 2026-11-30 03:12:05 UTC (load id 1796...)': dlt's load ids
    are the extract's start time, which is what an operator can match with a killed run."""
    try:
        at = datetime.fromtimestamp(float(load_id), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError):
        return f"package {load_id}"
    return f"the package extracted at {at} (load id {load_id})"


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what caused it, innermost last (cycles and repeats skipped)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nxt = current.__cause__ or current.__context__
        if nxt is None and isinstance(current, PipelineStepFailed):
            nxt = current.exception
        current = nxt


def describe_error(
    error: BaseException, step: str | None = None, *, with_package: bool = True
) -> str:
    """One line naming the failed step (`step` when dlt's error does not carry one), the
    package it was working on (unless the caller names it already), and the underlying
    reason; secrets masked."""
    return mask(_describe(error, step, with_package))[:MAX_LENGTH]


def _describe(error: BaseException, step: str | None, with_package: bool) -> str:
    chain = list(error_chain(error))
    for current in chain:
        if isinstance(current, StepFailed):
            return str(current)
        if isinstance(current, RunError):
            return str(current)
        if isinstance(current, ConfigFieldMissingException):
            return _missing_config(current)
        if isinstance(current, TransformError):  # names the model or test at fault already
            return f"transform failed: {_squash(str(current))}"
        if isinstance(current, LuneError):
            # the source's own errors are written for the user already
            if isinstance(current, LuneAPIError):
                return f"extract failed: {current}"
            return str(current)
    failed = next((c for c in chain if isinstance(c, PipelineStepFailed)), None)
    if failed is not None and not with_package:
        return f"{failed.step} failed: {root_cause(chain)}"
    head = ""
    if failed is not None:
        head = f"{failed.step} failed"
        if failed.load_id:
            head += f" on {package_label(failed.load_id)}"
    elif step:
        head = f"{step} failed"
    cause = root_cause(chain)
    return f"{head}: {cause}" if head else cause


def root_cause(chain: list[BaseException]) -> str:
    """The innermost error's type and first line - or, when an outer error of ours or a
    library's (not one of dlt's wrappers) already quotes it with context, that one - with the
    job (file) it happened in when a dlt job error on the way names one."""
    job = next(
        (c.job_id for c in chain if isinstance(c, WithJobError) and getattr(c, "job_id", None)),
        None,
    )
    root = chain[-1]
    root_text = _first_line(str(root))
    if not root_text:  # e.g. KeyError() or a bare assertion: the nearest message outwards
        root_text = next((_first_line(str(c)) for c in reversed(chain) if str(c).strip()), "")
    cause = _labelled(root, root_text)
    outer = next((c for c in chain if not _is_dlt(c)), root)
    if outer is not root:
        outer_text = _first_line(str(outer))
        if root_text and root_text in outer_text:
            cause = _labelled(outer, outer_text)
        elif outer_text:
            cause = f"{_labelled(outer, outer_text)} (caused by {cause})"
    if job and job not in cause:
        cause = f"job {job}: {cause}"
    return cause


def _is_dlt(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] == "dlt"


def _labelled(error: BaseException, text: str) -> str:
    name = type(error).__name__
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


def _first_line(text: str) -> str:
    """The first non-empty line; for a message that embeds a traceback (dlt keeps a failed
    job's traceback as its message), the exception line at the end of that traceback."""
    lines = text.strip().splitlines()
    if any(_TRACEBACK_HEAD in line for line in lines):
        last_head = max(i for i, line in enumerate(lines) if _TRACEBACK_HEAD in line)
        for line in lines[last_head + 1 :]:
            if line.strip() and not line.startswith((" ", "\t")):
                return _squash(line)
    for line in lines:
        if line.strip():
            return _squash(line)
    return ""


def _squash(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def _missing_config(error: ConfigFieldMissingException) -> str:
    fields = ", ".join(error.fields)
    if "api_key" in fields:
        return (
            "No Lune API key is configured: set SOURCES__LUNE__API_KEY or "
            "[sources.lune] api_key in .dlt/secrets.toml."
        )
    return (
        f"Missing configuration: {fields} of {error.spec_name} "
        f"({str(error).strip().splitlines()[-1].strip()})."
    )


def log_error_chain(error: BaseException, message: str) -> None:
    """The whole chain with tracebacks, at debug level (the log handler masks secrets)."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s; full error chain:\n%s",
            message,
            "".join(traceback.format_exception(error)).rstrip(),
        )
