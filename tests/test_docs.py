"""The documents say what the code does."""

from pathlib import Path

from mahnwerk.cases.states import mermaid_diagram

ROOT = Path(__file__).resolve().parent.parent


def test_the_state_diagram_in_the_docs_is_the_transition_table():
    assert mermaid_diagram() in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_the_readme_names_two_commands_and_ci_runs_the_same_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_every_document_the_readme_links_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("architecture", "process-reading", "file-formats", "operations", "benchmarks"):
        assert f"docs/{name}.md" in readme
        assert (ROOT / "docs" / f"{name}.md").exists(), name
