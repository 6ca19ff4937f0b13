"""Reproducible installs (issue 12, point 7): make demo, make test, CI and the deployment install
the lock files requirements/base.txt and dev.txt, pinned with hashes and compiled from
pyproject.toml by `make lock`; `make lock-check` fails when pyproject changed without a re-lock."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import lock  # noqa: E402

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def project(tmp_path):
    """A copy of what `make lock-check` and `make install` read, to change without harm."""
    for name in ("Makefile", "pyproject.toml", "requirements", "scripts/lock.py"):
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    return tmp_path


def edit_pyproject(root: Path, old: str, new: str) -> None:
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def lock_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "lock-check",
                           f"PYTHON={sys.executable}"], cwd=root, capture_output=True, text=True)


def test_the_lock_files_were_compiled_from_pyproject_as_it_is():
    assert lock.check() == []


@needs_make
def test_a_dependency_added_to_pyproject_without_relocking_fails_the_lock_check_naming_it(
        project):
    assert lock_check(project).returncode == 0
    edit_pyproject(project, '    "defusedxml>=0.7",\n',
                   '    "defusedxml>=0.7",\n    "requests-toolbelt>=1.0",\n')

    result = lock_check(project)

    assert result.returncode != 0
    for lock_file in ("requirements/dev.txt", "requirements/base.txt"):
        assert (f"{lock_file} was compiled from another pyproject.toml than this one: "
                "'requests-toolbelt>=1.0' is in pyproject.toml but not in the lock") \
            in result.stderr
    assert "Run `make lock`" in result.stderr


@needs_make
def test_a_dev_tool_added_without_relocking_fails_only_the_dev_lock(project):
    edit_pyproject(project, '    "ruff>=0.6",\n', '    "ruff>=0.6",\n    "mypy>=1.10",\n')

    problems = lock.check(project)

    assert len(problems) == 1
    assert problems[0].startswith("requirements/dev.txt was compiled from another pyproject")
    assert "'mypy>=1.10' is in pyproject.toml but not in the lock" in problems[0]


def test_a_range_that_no_longer_admits_the_locked_release_fails_the_check(project):
    pinned = lock.pins(project / "requirements/base.txt")["django"]
    edit_pyproject(project, '"Django>=5.2,<5.3"', '"Django>=6.0"')

    problems = lock.check(project)

    assert len(problems) == 2
    assert all(f"the lock pins django=={pinned}, pyproject.toml asks 'Django>=6.0'" in p
               for p in problems)


def test_a_dependency_removed_from_pyproject_is_named(project):
    edit_pyproject(project, '    "tqdm>=4.66",\n', "")

    problems = lock.check(project)

    assert len(problems) == 2
    assert all("tqdm is locked for mahnwerk but no longer in pyproject.toml" in p
               for p in problems)


def test_an_extra_changed_on_a_locked_package_fails_the_check_even_with_the_same_pin(project):
    edit_pyproject(project, '"psycopg[binary]>=3.2"', '"psycopg[binary,pool]>=3.2"')

    problems = lock.check(project)

    assert len(problems) == 2
    assert all("its dependency lists changed" in p for p in problems)


def test_comments_spacing_and_order_in_pyproject_are_no_change(project):
    edit_pyproject(project, '    "tqdm>=4.66",\n', '    # Progress bars.\n    "tqdm >= 4.66",\n')
    edit_pyproject(project, '    "Faker>=30",\n    "babel>=2.14",\n',
                   '    "babel>=2.14",\n    "faker>=30",\n')

    assert lock.check(project) == []


def test_a_lock_written_by_hand_without_the_fingerprint_is_refused(project):
    path = project / "requirements/base.txt"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith(lock.FINGERPRINT)))

    assert lock.check(project) == [
        "requirements/base.txt: its header has no '# pyproject-sha256:' line (not written by "
        "`make lock`); run `make lock`"]


@pytest.mark.parametrize("name", ["requirements/base.txt", "requirements/dev.txt"])
def test_every_locked_package_is_pinned_to_one_release_with_its_hashes(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    entries = [e for e in re.split(r"\n(?=[A-Za-z0-9])", text) if not e.startswith("#")]
    assert len(entries) > 20
    for entry in entries:
        requirement = Requirement(entry.split("\\")[0].strip())
        assert len(requirement.specifier) == 1, entry
        assert next(iter(requirement.specifier)).operator == "==", entry
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry


def test_production_runs_the_releases_ci_tested():
    """base.txt (the deployment) is compiled under dev.txt's pins (make test, CI)."""
    base, dev = (lock.pins(ROOT / f"requirements/{n}.txt") for n in ("base", "dev"))
    assert {name: (version, dev.get(name)) for name, version in base.items()
            if dev.get(name) != version} == {}
    assert {"pytest", "ruff", "uv", "pip-audit"} <= set(dev) - set(base)


def test_every_dependency_in_pyproject_is_locked_within_its_range():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = lock.pins(ROOT / "requirements/dev.txt")
    for text in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(text)
        version = dev[lock._canonical(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (text, version)


@needs_make
def test_make_installs_from_the_lock_with_hashes_and_again_when_the_lock_changes(project):
    venv = project / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    stamp = venv / "bin" / "mahnwerk"
    stamp.touch()
    long_ago = stamp.stat().st_mtime - 3600
    for name in ("pyproject.toml", "requirements/dev.txt"):
        os.utime(project / name, (long_ago, long_ago))

    def planned() -> str:
        return subprocess.run(["make", "-n", "install", f"VENV={venv}"], cwd=project,
                              capture_output=True, text=True, check=True).stdout

    assert "pip install" not in planned()  # installed and nothing changed since

    os.utime(project / "requirements/dev.txt")  # `make lock` wrote a new lock
    commands = planned()
    assert f"{venv}/bin/python -m pip install --quiet --require-hashes -r requirements/dev.txt" \
        in commands
    assert f"{venv}/bin/python -m pip install --quiet --no-deps -e ." in commands
    assert commands.index("--require-hashes") < commands.index("--no-deps")
