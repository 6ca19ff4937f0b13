"""Known vulnerabilities in the locked packages: CI's dependency audit (make audit).

    python scripts/audit.py requirements/dev.txt

The audit is pip-audit's, on the lock file as it is (hash-checked, no resolution, nothing
installed). Exit 1 names each package, its pinned version and the advisory; exit 0 otherwise,
also when no vulnerability database could be reached: then it prints "skipped: …" and why.

Why a wrapper around pip-audit: pip-audit reports "No known vulnerabilities found" and exits 0
when PyPI answers 404 for every package (it counts them as "not found on PyPI" and skips them),
which is what some networks do to PyPI's per-release pages; an audit that audited nothing must
say so. Services are asked in turn until every package is audited:

1. pip-audit with PyPI's vulnerability data (its default; pypi.org/pypi/NAME/VERSION/json),
2. pip-audit with OSV (api.osv.dev; --osv-url another OSV-compatible address),
3. PyPI's project pages (pypi.org/pypi/NAME/json), read here: they list the vulnerabilities of a
   project's latest release only, so they audit the packages pinned at their latest release and
   name the others as not audited. pip-audit has no such service; it is what can be reached where
   the per-release pages cannot (as on the machines this project is built on).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# Advisories that cannot be fixed within pyproject's ranges, each with why (ID: reason). Every one
# goes to pip-audit as --ignore-vuln and is printed on each audit, so it is not forgotten.
IGNORED: dict[str, str] = {}

SERVICES = ["pypi", "osv", "pypi-project"]
PYPI_URL = "https://pypi.org"


@dataclass
class Vulnerability:
    package: str
    version: str
    id: str
    aliases: list[str] = field(default_factory=list)
    fixed_in: list[str] = field(default_factory=list)
    description: str = ""

    def line(self) -> str:
        ids = self.id + (f" ({', '.join(self.aliases)})" if self.aliases else "")
        fix = f"; fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "; no fix released"
        text = " ".join(self.description.split())
        text = text[:157] + "…" if len(text) > 160 else text
        return f"{self.package} {self.version}: {ids}{fix}" + (f": {text}" if text else "")


@dataclass
class Answer:
    """What one service said: the packages it audited, what it found, why it could not."""

    service: str
    audited: set[str] = field(default_factory=set)
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    not_audited: dict[str, str] = field(default_factory=dict)  # package: why
    unreachable: str = ""  # the whole service could not be reached, and why


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", line)
        if m:
            found[canonical(m.group(1))] = m.group(2)
    return found


def ignored(vulnerability: Vulnerability) -> bool:
    return bool({vulnerability.id, *vulnerability.aliases} & set(IGNORED))


def pip_audit(service: str, lock: Path, *, osv_url: str | None, timeout: int,
              cache_dir: str | None) -> Answer:
    answer = Answer(service)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "-r", str(lock), "--disable-pip",
                   "--progress-spinner", "off", "--format", "json", "--output", str(out),
                   "--vulnerability-service", service, "--timeout", str(timeout)]
        if service == "osv" and osv_url:
            command += ["--osv-url", osv_url]
        if cache_dir:
            command += ["--cache-dir", cache_dir]
        for vuln_id in IGNORED:
            command += ["--ignore-vuln", vuln_id]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=20 * timeout)
        except subprocess.TimeoutExpired:
            answer.unreachable = f"no answer within {20 * timeout} s"
            return answer
        if not out.exists() or not out.read_text().strip():
            errors = [line for line in run.stderr.splitlines() if line.strip()]
            last = errors[-1] if errors else f"pip-audit exit {run.returncode}"
            answer.unreachable = _reason(last)
            return answer
        report = json.loads(out.read_text())
    for dependency in report["dependencies"]:
        name = canonical(dependency["name"])
        if "skip_reason" in dependency:
            answer.not_audited[name] = dependency["skip_reason"]
            continue
        answer.audited.add(name)
        for vuln in dependency.get("vulns", []):
            answer.vulnerabilities.append(Vulnerability(
                name, dependency["version"], vuln["id"], vuln.get("aliases", []),
                vuln.get("fix_versions", []), vuln.get("description") or ""))
    if not answer.audited and answer.not_audited:
        answer.unreachable = ("it answered 'not found' for every package "
                              f"(e.g. {next(iter(answer.not_audited.values()))})")
    return answer


def project_pages(lock: Path, *, pypi_url: str, timeout: int) -> Answer:
    """Service 3: the vulnerabilities PyPI lists on a project's page, for its latest release."""
    answer = Answer("pypi-project")

    def fetch(item: tuple[str, str]) -> tuple[str, str, dict | str]:
        name, version = item
        url = f"{pypi_url.rstrip('/')}/pypi/{name}/json"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return name, version, json.load(response)
        except urllib.error.HTTPError as error:
            return name, version, f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            return name, version, _reason(str(getattr(error, "reason", error)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, sorted(pins(lock).items())))
    for name, version, page in results:
        if isinstance(page, str):
            answer.not_audited[name] = page
            continue
        latest = page.get("info", {}).get("version")
        if latest != version:
            answer.not_audited[name] = (f"pinned {version}; the project page lists the "
                                        f"vulnerabilities of {latest} only")
            continue
        answer.audited.add(name)
        for vuln in page.get("vulnerabilities") or []:
            if vuln.get("withdrawn"):
                continue
            answer.vulnerabilities.append(Vulnerability(
                name, version, vuln["id"], vuln.get("aliases") or [], vuln.get("fixed_in") or [],
                vuln.get("summary") or vuln.get("details") or ""))
    if not answer.audited and all(
            not why.startswith("pinned") for why in answer.not_audited.values()):
        answer.unreachable = next(iter(answer.not_audited.values()), "no package to ask about")
    return answer


def _reason(text: str) -> str:
    """The telling part of a connection error (pip-audit prints whole tracebacks)."""
    m = re.search(r"(Failed to resolve '[^']+'|Connection refused|timed out|Name or service not "
                  r"known|HTTP Error \d+[^)]*|\d{3} Client Error[^)]*)", text)
    return m.group(1) if m else text.strip()[-200:]


def audit(lock: Path, *, services: list[str], osv_url: str | None = None,
          pypi_url: str = PYPI_URL, timeout: int = 15, cache_dir: str | None = None,
          out=print) -> int:
    wanted = pins(lock)
    if not wanted:
        out(f"audit: {lock} pins no package (is it a lock file?)")
        return 1
    remaining, answers = set(wanted), []
    for service in services:
        out(f"audit: asking {_label(service, osv_url, pypi_url)} about {len(remaining)} "
            f"of {len(wanted)} packages of {lock} …")
        if service == "pypi-project":
            answer = project_pages(lock, pypi_url=pypi_url, timeout=timeout)
        else:
            answer = pip_audit(service, lock, osv_url=osv_url, timeout=timeout,
                               cache_dir=cache_dir)
        answers.append(answer)
        if answer.unreachable:
            out(f"audit: {_label(service, osv_url, pypi_url)} could not be reached: "
                f"{answer.unreachable}")
            continue
        remaining -= answer.audited
        if not remaining:
            break
    audited = set(wanted) - remaining
    found: dict[tuple[str, str], Vulnerability] = {}
    for answer in answers:
        for vulnerability in answer.vulnerabilities:
            if not ignored(vulnerability):
                found.setdefault((vulnerability.package, vulnerability.id), vulnerability)
    for vuln_id, why in IGNORED.items():
        out(f"audit: ignoring {vuln_id}: {why}")
    if remaining and audited:
        why = {}
        for answer in answers:
            for name, reason in answer.not_audited.items():
                why[name] = reason  # the last service asked says it best
        out(f"audit: {len(remaining)} of {len(wanted)} packages could not be audited (their "
            "vulnerability data could not be reached):")
        for name in sorted(remaining):
            out(f"  not audited: {name} {wanted[name]}: {why.get(name, 'no service answered')}")
    if found:
        out(f"audit FAILED: {len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'} "
            f"in {lock}:")
        for vulnerability in found.values():
            out(f"  {vulnerability.line()}")
        out("Upgrade the package within pyproject.toml's range and `make lock`; an advisory "
            "that cannot be fixed goes into IGNORED in scripts/audit.py with why.")
        return 1
    if not audited:
        reasons = "; ".join(f"{_label(a.service, osv_url, pypi_url)}: {a.unreachable}"
                            for a in answers)
        out(f"audit skipped: no vulnerability database could be reached ({reasons}). "
            f"The {len(wanted)} packages of {lock} were not audited.")
        return 0
    out(f"audit: no known vulnerabilities in the {len(audited)} audited packages of {lock}.")
    return 0


def _label(service: str, osv_url: str | None, pypi_url: str) -> str:
    return {
        "pypi": "PyPI's vulnerability data (pip-audit, pypi.org/pypi/NAME/VERSION/json)",
        "osv": f"OSV (pip-audit, {osv_url or 'api.osv.dev'})",
        "pypi-project": f"PyPI's project pages ({pypi_url}/pypi/NAME/json)",
    }[service]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path, help="a hashed requirements file, e.g. "
                        "requirements/dev.txt")
    parser.add_argument("--service", action="append", choices=SERVICES, dest="services",
                        help="ask only these, in this order (default: all three)")
    parser.add_argument("--osv-url", help="an OSV-compatible query address instead of OSV's")
    parser.add_argument("--pypi-url", default=PYPI_URL, help="PyPI's address (project pages)")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request")
    parser.add_argument("--cache-dir", help="pip-audit's HTTP cache (default: pip's)")
    args = parser.parse_args(argv)
    if not args.lock.is_file():
        parser.error(f"{args.lock}: no such file")
    return audit(args.lock, services=args.services or SERVICES, osv_url=args.osv_url,
                 pypi_url=args.pypi_url, timeout=args.timeout, cache_dir=args.cache_dir)


if __name__ == "__main__":
    sys.exit(main())
