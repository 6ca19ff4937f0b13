"""CI's dependency audit (issue 12, point 7): pip-audit on the lock; a known vulnerability fails
with the package and the advisory named, an unreachable vulnerability database skips the audit
with a message. The vulnerability services are remote; here they are stood in for by servers on
loopback that speak their protocols (OSV's query API, PyPI's project pages), and the audit runs
the real pip-audit against them."""

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import audit  # noqa: E402
import lock  # noqa: E402

DJANGO = lock.pins(ROOT / "requirements/dev.txt")["django"]
SQLPARSE = lock.pins(ROOT / "requirements/dev.txt")["sqlparse"]

ADVISORY = {
    "id": "GHSA-test-0000-0001",
    "aliases": ["CVE-2099-0001"],
    "summary": "SQL injection in QuerySet.annotate() with crafted keyword arguments",
    "affected": [{"package": {"name": "django", "ecosystem": "PyPI"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "5.2"}, {"fixed": "5.2.99"}]}]}],
}


@pytest.fixture
def small_lock(tmp_path):
    """Two packages of the real lock, hashes and all."""
    text = (ROOT / "requirements/dev.txt").read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n") if b]
    wanted, keep = ("django==", "sqlparse=="), []
    taking = False
    for line in blocks:
        if not line.startswith((" ", "#")):
            taking = line.startswith(wanted)
        if taking:
            keep.append(line)
    path = tmp_path / "lock.txt"
    path.write_text("\n".join(keep) + "\n")
    assert lock.pins(path) == {"django": DJANGO, "sqlparse": SQLPARSE}
    return path


@pytest.fixture
def serve():
    """Start an HTTP server on loopback that answers with `answer(method, path, body)`."""
    servers = []

    def start(answer):
        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = answer(method, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._reply("GET")

            def do_POST(self):
                self._reply("POST")

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def osv(asked):
    def answer(method, path, body):
        query = json.loads(body)
        asked.append((query["package"]["name"], query["version"]))
        if query["package"]["name"] == "django":
            return 200, {"vulns": [ADVISORY]}
        return 200, {}
    return answer


def run_audit(lock_path, tmp_path, **kwargs):
    lines = []
    code = audit.audit(lock_path, cache_dir=str(tmp_path / "cache"), timeout=5,
                       out=lines.append, **kwargs)
    return code, "\n".join(lines)


def test_a_known_vulnerability_in_a_locked_package_fails_the_audit_naming_it(
        small_lock, tmp_path, serve):
    asked = []
    url = serve(osv(asked))

    code, output = run_audit(small_lock, tmp_path, services=["osv"], osv_url=f"{url}/v1/query")

    assert code == 1
    assert sorted(asked) == [("django", DJANGO), ("sqlparse", SQLPARSE)]
    assert "audit FAILED: 1 known vulnerability in" in output
    # pip-audit names the advisory by its CVE, with the GHSA as its alias
    assert (f"  django {DJANGO}: CVE-2099-0001 (GHSA-test-0000-0001); fixed in 5.2.99: "
            "SQL injection in QuerySet.annotate() with crafted keyword arguments") in output


def test_an_advisory_listed_as_ignored_with_its_reason_passes_and_is_printed(
        small_lock, tmp_path, serve, monkeypatch):
    url = serve(osv([]))
    monkeypatch.setitem(audit.IGNORED, "GHSA-test-0000-0001",
                        "only in annotate() with user-chosen keywords, which Mahnwerk never does")

    code, output = run_audit(small_lock, tmp_path, services=["osv"], osv_url=f"{url}/v1/query")

    assert code == 0
    assert ("audit: ignoring GHSA-test-0000-0001: only in annotate() with user-chosen keywords, "
            "which Mahnwerk never does") in output
    assert "audit: no known vulnerabilities in the 2 audited packages" in output


def test_a_clean_lock_passes(small_lock, tmp_path, serve):
    url = serve(lambda method, path, body: (200, {}))

    code, output = run_audit(small_lock, tmp_path, services=["osv"], osv_url=f"{url}/v1/query")

    assert (code, output.splitlines()[-1]) == (
        0, f"audit: no known vulnerabilities in the 2 audited packages of {small_lock}.")


def test_no_reachable_vulnerability_database_skips_the_audit_with_a_message(
        small_lock, tmp_path):
    nowhere = closed_port_url()

    code, output = run_audit(small_lock, tmp_path, services=["osv", "pypi-project"],
                             osv_url=f"{nowhere}/v1/query", pypi_url=nowhere)

    assert code == 0
    last = output.splitlines()[-1]
    assert last.startswith("audit skipped: no vulnerability database could be reached (OSV")
    assert "Connection refused" in last
    assert last.endswith(f"The 2 packages of {small_lock} were not audited.")


def test_a_database_that_answers_not_found_for_everything_has_audited_nothing(
        small_lock, tmp_path, serve):
    """What PyPI's per-release pages do on this project's machines: pip-audit would report "No
    known vulnerabilities found"; the audit says it was skipped instead."""
    url = serve(lambda method, path, body: (404, {"message": "Not Found"}))

    code, output = run_audit(small_lock, tmp_path, services=["pypi-project"], pypi_url=url)

    assert code == 0
    assert output.splitlines()[-1].startswith("audit skipped: no vulnerability database could "
                                              "be reached (PyPI's project pages")
    assert "HTTP 404 Not Found" in output


def test_pypi_project_pages_audit_the_packages_pinned_at_their_latest_release(
        small_lock, tmp_path, serve):
    def pypi(method, path, body):
        if path == "/pypi/django/json":
            return 200, {"info": {"version": DJANGO}, "vulnerabilities": [
                {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0002"], "fixed_in": ["5.2.98"],
                 "details": "Denial of service in the\nmultipart parser", "withdrawn": None},
                {"id": "PYSEC-2099-2", "aliases": [], "fixed_in": [], "details": "withdrawn",
                 "withdrawn": "2099-01-02T00:00:00Z"}]}
        return 200, {"info": {"version": "99.0"}, "vulnerabilities": []}
    url = serve(pypi)

    code, output = run_audit(small_lock, tmp_path, services=["pypi-project"], pypi_url=url)

    assert code == 1
    assert (f"  django {DJANGO}: PYSEC-2099-1 (CVE-2099-0002); fixed in 5.2.98: Denial of "
            "service in the multipart parser") in output
    assert "PYSEC-2099-2" not in output
    assert (f"  not audited: sqlparse {SQLPARSE}: pinned {SQLPARSE}; the project page lists the "
            "vulnerabilities of 99.0 only") in output


def test_services_are_asked_in_turn_until_one_answers(small_lock, tmp_path, serve):
    asked = []
    url = serve(osv(asked))

    code, output = run_audit(small_lock, tmp_path, services=["pypi-project", "osv"],
                             pypi_url=closed_port_url(), osv_url=f"{url}/v1/query")

    assert code == 1
    assert "PyPI's project pages" in output and "could not be reached" in output
    assert f"django {DJANGO}: CVE-2099-0001 (GHSA-test-0000-0001)" in output


def test_the_audit_refuses_a_file_that_is_not_a_lock(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Django\n")
    lines = []

    assert audit.audit(path, services=["osv"], out=lines.append) == 1
    assert lines == [f"audit: {path} pins no package (is it a lock file?)"]
