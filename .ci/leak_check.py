"""Runs a command, then fails when it left anything outside its temporary directories.

    .venv/bin/python .ci/leak_check.py -- make test

Two places are checked, each snapshotted before the command and compared after it:
- the checkout: no file may appear, change or vanish, except inside the virtual
  environments and tool caches (ALLOWED); and `git status --porcelain --ignored` may list
  nothing new beyond those;
- dlt's global data directory (`dlt.common.runtime.run_context.global_dir()`, shared by every
  checkout and by production pipelines on the machine), and DLT_DATA_DIR when this process
  has one: nothing in them may appear, change or vanish (directories absent before must stay
  absent).

Exit status: the command's own when it failed, else 1 when something leaked, else 0. Run it
with an interpreter that has dlt installed (it asks dlt where the global directory is).
`--root` and `--watch` exist so that tests/test_leak_check.py can prove the check on a
throwaway repository without touching the real directories.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# what a test run may leave in the checkout: virtual environments and tool caches
ALLOWED = (".venv", ".venv-airflow", ".pytest_cache", ".ruff_cache", ".hypothesis")
ALLOWED_ANYWHERE = ("__pycache__", "*.egg-info")

Snapshot = dict[str, tuple[int, int, str]]


def _allowed(relative: str) -> bool:
    parts = Path(relative).parts
    if parts and parts[0] in ALLOWED:
        return True
    return any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in ALLOWED_ANYWHERE)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:  # a socket, a file that vanished under us: still recorded
        return f"unreadable: {e.__class__.__name__}"
    return digest.hexdigest()


def snapshot(root: Path, *, skip_allowed: bool, hash_files: bool) -> Snapshot | None:
    """{relative path: (size, mtime_ns, content digest)} for every file and empty folder
    under `root` (None when `root` does not exist)."""
    if not root.exists():
        return None
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        relative_folder = os.path.relpath(folder, root)
        if not dirs and not files and relative_folder != ".":
            found[relative_folder + "/"] = (0, 0, "")  # an empty folder: files show the rest
        kept = []
        for name in dirs:
            relative = os.path.normpath(os.path.join(relative_folder, name))
            if relative == ".git" or (skip_allowed and _allowed(relative)):
                continue
            kept.append(name)
        dirs[:] = kept
        for name in files:
            relative = os.path.normpath(os.path.join(relative_folder, name))
            if skip_allowed and _allowed(relative):
                continue
            path = Path(folder, name)
            try:
                stat = path.lstat()
            except OSError:
                continue
            content = _digest(path) if hash_files else ""
            found[relative] = (stat.st_size, stat.st_mtime_ns, content)
    return found


def changes(before: Snapshot | None, after: Snapshot | None) -> list[str]:
    """What differs, one line each: `new`, `changed` or `removed` and the relative path."""
    if before is None and after is None:
        return []
    if before is None:
        return ["created (it did not exist before)"] + [f"new {p}" for p in sorted(after or {})]
    if after is None:
        return ["removed (it existed before)"]
    lines = [f"new {p}" for p in sorted(set(after) - set(before))]
    lines += [f"removed {p}" for p in sorted(set(before) - set(after))]
    lines += [f"changed {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return lines


def git_status(root: Path) -> set[str]:
    """`git status --porcelain --ignored` entries outside the allowed folders (`matching`:
    an ignored cache inside a new folder is listed as itself, not as the folder)."""
    result = subprocess.run(
        ["git", "status", "--porcelain", "--ignored=matching"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    entries = set()
    for line in result.stdout.splitlines():
        path = line[3:].strip().strip('"').rstrip("/")
        if not _allowed(path):
            entries.add(line)
    return entries


def dlt_directories() -> list[Path]:
    """dlt's global data directory, and DLT_DATA_DIR when set here."""
    try:
        from dlt.common.runtime.run_context import global_dir
    except ImportError:
        raise SystemExit(
            "leak_check: dlt is not importable; run this with the project's interpreter "
            "(.venv/bin/python .ci/leak_check.py -- ...)."
        ) from None
    folders = [Path(global_dir())]
    if os.environ.get("DLT_DATA_DIR"):
        folders.append(Path(os.environ["DLT_DATA_DIR"]))
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="the checkout (default: this)")
    parser.add_argument(
        "--watch",
        type=Path,
        action="append",
        help="a folder that must stay untouched (default: dlt's global data directory)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    root = args.root.resolve()
    watched = [w.resolve() for w in args.watch] if args.watch else dlt_directories()

    checkout_before = snapshot(root, skip_allowed=True, hash_files=False)
    status_before = git_status(root)
    watched_before = {w: snapshot(w, skip_allowed=False, hash_files=True) for w in watched}

    returncode = subprocess.run(command, cwd=root).returncode

    problems = [
        f"  checkout: {line}"
        for line in changes(checkout_before, snapshot(root, skip_allowed=True, hash_files=False))
    ]
    problems += [
        f"  checkout, git status: {line}" for line in sorted(git_status(root) - status_before)
    ]
    for folder, before in watched_before.items():
        after = snapshot(folder, skip_allowed=False, hash_files=True)
        problems += [f"  {folder}: {line}" for line in changes(before, after)]
    if problems:
        print(
            f"leak_check: `{' '.join(command)}` left files outside its temporary directories "
            f"(allowed in the checkout: {', '.join(ALLOWED + ALLOWED_ANYWHERE)}):",
            file=sys.stderr,
        )
        print("\n".join(problems), file=sys.stderr)
    else:
        watched_text = ", ".join(str(w) for w in watched)
        print(f"leak_check: the checkout is clean and {watched_text} untouched.")
    if returncode != 0:
        return returncode
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
