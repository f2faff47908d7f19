""".ci/leak_check.py, which CI wraps around `make test`, on a throwaway repository: it passes a
command that leaves nothing behind and fails each kind of leak, naming the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[1] / ".ci" / "leak_check.py"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "tracked.txt").write_text("tracked\n")
    (root / ".gitignore").write_text("*.duckdb\n.pytest_cache/\n__pycache__/\n")
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "."],
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"],
    ):
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    return root


def _check(repo: Path, watched: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Runs `python -c code` (in the checkout) under the leak check."""
    return subprocess.run(
        [
            sys.executable,
            str(CHECK),
            "--root",
            str(repo),
            "--watch",
            str(watched),
            "--",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_command_that_leaves_nothing_passes(repo, tmp_path):
    watched = tmp_path / "dlt-global"
    (watched / "pipelines").mkdir(parents=True)
    (watched / ".anonymous_id").write_text("abc")

    result = _check(repo, watched, "open('/dev/null').read()")

    assert result.returncode == 0, result.stderr
    assert "the checkout is clean" in result.stdout


def test_caches_and_virtual_environments_are_allowed(repo, tmp_path):
    code = (
        "import os\n"
        "for d in ('.pytest_cache', 'pkg/__pycache__', '.venv/lib', 'x.egg-info'):\n"
        "    os.makedirs(d, exist_ok=True)\n"
        "    open(os.path.join(d, 'f'), 'w').write('x')\n"
    )
    result = _check(repo, tmp_path / "absent", code)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("open('lune_test.duckdb', 'w').write('x')", "new lune_test.duckdb"),  # ignored by git
        ("open('notes.txt', 'w').write('x')", "new notes.txt"),  # untracked
        ("open('tracked.txt', 'a').write('more')", "changed tracked.txt"),
        ("import os; os.remove('tracked.txt')", "removed tracked.txt"),
        ("import os; os.makedirs('var/demo')", "new var/"),
    ],
)
def test_a_file_left_in_the_checkout_fails(repo, tmp_path, code, named):
    result = _check(repo, tmp_path / "absent", code)
    assert result.returncode == 1
    assert named in result.stderr


def test_a_change_to_the_watched_directory_fails(repo, tmp_path):
    watched = tmp_path / "dlt-global"
    watched.mkdir()
    (watched / ".anonymous_id").write_text("abc")

    new = _check(repo, watched, f"open({str(watched / 'pipelines')!r}, 'w').write('x')")
    assert new.returncode == 1
    assert "new pipelines" in new.stderr

    rewritten = _check(repo, watched, f"open({str(watched / '.anonymous_id')!r}, 'w').write('z')")
    assert rewritten.returncode == 1
    assert "changed .anonymous_id" in rewritten.stderr


def test_creating_an_absent_watched_directory_fails(repo, tmp_path):
    watched = tmp_path / "dlt-global"
    result = _check(repo, watched, f"import os; os.makedirs({str(watched / 'pipelines')!r})")
    assert result.returncode == 1
    assert "created (it did not exist before)" in result.stderr


def test_the_command_failing_is_its_own_exit_status(repo, tmp_path):
    result = _check(repo, tmp_path / "absent", "raise SystemExit(3)")
    assert result.returncode == 3
