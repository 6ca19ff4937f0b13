import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _german():
    """Mahnwerk speaks German first; tests see what a person sees."""
    with translation.override("de"):
        yield
