import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _german():
    """Mahnwerk speaks German first; tests see what a person sees."""
    with translation.override("de"):
        yield


@pytest.fixture(autouse=True)
def _runs_inside_the_request(settings):
    """A run executed from the workspace runs inside the request (the test's transaction sees
    it); tests/test_browser_runs.py turns the background thread on, as in the demo."""
    settings.MAHNWERK_RUN_IN_THREAD = False
