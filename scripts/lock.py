"""The lock files: every package Mahnwerk installs, pinned with its hashes, from pyproject.toml.

    python scripts/lock.py compile   # make lock: re-resolve requirements/*.txt with uv
    python scripts/lock.py check     # make lock-check: exit 1 if pyproject.toml changed since

requirements/base.txt holds what runs in production (pyproject's [project] dependencies; the
deployment installs it), requirements/dev.txt that plus the `dev` extra (make demo, make test,
CI). Both are one universal resolution (uv pip compile --universal): the same pins install on
Linux x86_64, where CI runs, and on aarch64, macOS or Windows; only the markers differ.

The compiler is uv (see pyproject.toml's dev extra for why). What uv does not have is a check
that a requirements.txt still matches its source without resolving again (which needs the
network and may move pins): so `compile` writes a fingerprint of the dependency lists it was given
into each file's header, and `check` compares it with pyproject.toml as it is now, with the
standard library alone (it runs before anything is installed). Where the fingerprint differs it
says what changed, read with `packaging` when that is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.11"
# One resolution for every platform; the oldest Python we support decides the pins.
UV_OPTIONS = ["--universal", "--python-version", PYTHON_VERSION, "--generate-hashes"]
FINGERPRINT = "# pyproject-sha256: "


@dataclass(frozen=True)
class Lock:
    path: str  # relative to the project root
    extras: tuple[str, ...]

    def inputs(self, pyproject: dict) -> dict:
        """What this lock is compiled from: the lists of pyproject.toml that go into it."""
        project = pyproject.get("project", {})
        optional = project.get("optional-dependencies", {})
        return {
            "requires-python": project.get("requires-python", ""),
            "dependencies": sorted(_normal(r) for r in project.get("dependencies", [])),
            "extras": {e: sorted(_normal(r) for r in optional.get(e, [])) for e in self.extras},
            "uv": UV_OPTIONS,
        }


LOCKS = [Lock("requirements/dev.txt", ("dev",)), Lock("requirements/base.txt", ())]


def _normal(requirement: str) -> str:
    """One spelling of a requirement, so that moving a space or a comment is no change."""
    requirement = re.sub(r"\s+", "", requirement)
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    if not name:
        return requirement
    return _canonical(name.group()) + requirement[name.end():]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def fingerprint(lock: Lock, pyproject_path: Path) -> str:
    with pyproject_path.open("rb") as f:
        pyproject = tomllib.load(f)
    text = json.dumps(lock.inputs(pyproject), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def stored_fingerprint(lock_path: Path) -> str | None:
    for line in lock_path.read_text(encoding="utf-8").splitlines():
        if line.startswith(FINGERPRINT):
            return line[len(FINGERPRINT):].split()[0]
        if not line.startswith("#"):
            return None
    return None


def pins(lock_path: Path) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line of a lock file."""
    found = {}
    for line in lock_path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", line)
        if m:
            found[_canonical(m.group(1))] = m.group(2)
    return found


def direct_names(lock_path: Path) -> set[str]:
    """The packages the lock says it holds for mahnwerk itself (`# via mahnwerk (pyproject…)`)."""
    names, current = set(), None
    for line in lock_path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9._-]+)==", line)
        if m:
            current = _canonical(m.group(1))
        elif current and re.match(r"#\s+(via\s+)?mahnwerk \(pyproject\.toml\)", line.strip()):
            names.add(current)
    return names


def differences(lock: Lock, lock_path: Path, pyproject_path: Path) -> list[str]:
    """What in pyproject.toml the lock does not follow, one line each, as far as it can be read."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # before the install: the fingerprint alone speaks
        return []
    with pyproject_path.open("rb") as f:
        project = tomllib.load(f).get("project", {})
    wanted = list(project.get("dependencies", []))
    for extra in lock.extras:
        wanted += project.get("optional-dependencies", {}).get(extra, [])
    pinned, direct = pins(lock_path), direct_names(lock_path)
    found, names = [], set()
    for text in wanted:
        requirement = Requirement(text)
        name = _canonical(requirement.name)
        names.add(name)
        if name not in pinned:
            found.append(f"{text!r} is in pyproject.toml but not in the lock")
        elif not requirement.specifier.contains(pinned[name], prereleases=True):
            found.append(f"the lock pins {name}=={pinned[name]}, pyproject.toml asks {text!r}")
    for name in sorted(direct - names):
        found.append(f"{name} is locked for mahnwerk but no longer in pyproject.toml")
    return found


def check(root: Path = ROOT) -> list[str]:
    """Every lock that does not match pyproject.toml, with why; empty when all match."""
    problems = []
    for lock in LOCKS:
        path = root / lock.path
        if not path.exists():
            problems.append(f"{lock.path}: missing; run `make lock`")
            continue
        stored = stored_fingerprint(path)
        if stored is None:
            problems.append(f"{lock.path}: its header has no '{FINGERPRINT.strip()}' line "
                            "(not written by `make lock`); run `make lock`")
            continue
        if stored == fingerprint(lock, root / "pyproject.toml"):
            continue
        what = differences(lock, path, root / "pyproject.toml") or [
            "its dependency lists changed (a requirement, an extra, a marker, requires-python "
            "or the uv options)"]
        problems.append(f"{lock.path} was compiled from another pyproject.toml than this one: "
                        + "; ".join(what) + ". Run `make lock` and commit the lock files.")
    return problems


def compile_locks(root: Path = ROOT, upgrade: bool = False) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        sys.exit("uv is not installed: `make install` puts it into the virtualenv (dev extra).")
    for lock in LOCKS:
        path = root / lock.path
        path.parent.mkdir(exist_ok=True)
        command = [uv, "pip", "compile", "pyproject.toml", *UV_OPTIONS, "--quiet",
                   "--custom-compile-command", "make lock", "-o", lock.path]
        for extra in lock.extras:
            command += ["--extra", extra]
        if lock.path != LOCKS[0].path:
            # The runtime lock takes the pins of the full one: production runs what CI tested.
            command += ["--constraint", LOCKS[0].path]
        if upgrade:
            command.append("--upgrade")
        print(f"{lock.path}: uv pip compile …", flush=True)
        subprocess.run(command, cwd=root, check=True)
        _write_header(path, lock, fingerprint(lock, root / "pyproject.toml"))


def _write_header(path: Path, lock: Lock, digest: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if not line.startswith(FINGERPRINT)]
    at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    source = "[project] dependencies" + "".join(f" + extra '{e}'" for e in lock.extras)
    lines[at:at] = [
        f"# From pyproject.toml's {source},",
        "# one resolution for Linux x86_64 and aarch64, macOS and Windows, "
        f"Python {PYTHON_VERSION}.",
        f"# Install: pip install --require-hashes -r {lock.path}",
        "# make lock-check compares this with pyproject.toml:",
        f"{FINGERPRINT}{digest}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    compile_parser = sub.add_parser("compile", help="re-resolve the lock files from pyproject")
    compile_parser.add_argument("--upgrade", action="store_true",
                                help="take the newest releases pyproject allows (else keep pins)")
    sub.add_parser("check", help="exit 1 if pyproject.toml changed since the lock was compiled")
    args = parser.parse_args(argv)
    if args.command == "compile":
        compile_locks(upgrade=args.upgrade)
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("lock: requirements/*.txt match pyproject.toml")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
