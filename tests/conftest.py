import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _german():
    """Mahnwerk speaks German first; tests see what a person sees."""
    with translation.override("de"):
        yield


@pytest.fixture(scope="session")
def _own_var_dir(tmp_path_factory):
    """A folder of the test session's own (one per xdist worker) for what Mahnwerk writes
    under var/: mail files, import uploads, the demo's handover files."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(autouse=True)
def _files_in_the_sessions_own_folder(settings, _own_var_dir):
    """Tests never write into the checkout's var/ and never into another worker's files."""
    settings.VAR_DIR = _own_var_dir
    settings.MEDIA_ROOT = _own_var_dir / "media"
    settings.EMAIL_FILE_PATH = _own_var_dir / "mail"
    settings.MAHNWERK_IMPORT_DIR = _own_var_dir / "imports"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Signing in a test user need not cost a real password hash (PBKDF2's 870,000 rounds)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _nothing_kept_from_another_test():
    """The Übersicht keeps its figures in the cache for a minute: a test reads its own."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _runs_inside_the_request(settings):
    """A run executed from the workspace runs inside the request (the test's transaction sees
    it); tests/test_browser_runs.py turns the background thread on, as in the demo."""
    settings.MAHNWERK_RUN_IN_THREAD = False


@pytest.fixture
def browser():
    """Debian's Chromium, headless, through Playwright (tests/browser.py); skipped, with the
    reason, where either is missing."""
    import shutil
    from pathlib import Path

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()
