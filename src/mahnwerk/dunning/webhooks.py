"""The mail providers' tracking webhooks (bounces), mounted only where they prove their sender.

django-anymail's own ``anymail.urls`` mounts every provider's webhooks, and a provider without
``WEBHOOK_SECRET`` takes calls from anyone (anymail only warns), so a buyer who knows a letter's
Message-ID could report it bounced. Here ``/anymail/<provider>/tracking/`` answers only for a
provider that is configured with a proof of its sender:

* the basic-auth credentials ``ANYMAIL["WEBHOOK_SECRET"] = "user:password"`` (every provider
  supports them; the provider calls ``https://user:password@host/anymail/<provider>/tracking/``),
* or the provider's own signing key (e.g. ``MAILGUN_WEBHOOK_SIGNING_KEY``, see ``SIGNING_KEYS``).

Any other provider's path, an unknown provider and the inbound webhooks (Mahnwerk receives no
mail) answer 404; a provider whose anymail view refuses its configuration answers 404 too, and
the reason is logged. A configured provider's view checks every call itself and refuses a forged
or unsigned one (400) before any tracking signal is sent.
"""

from __future__ import annotations

import logging

from anymail import urls as anymail_urls
from anymail.utils import get_anymail_setting
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

#: The tracking view of every provider anymail knows, by the name in its URL.
TRACKING_VIEWS = {
    str(pattern.name).removesuffix("_tracking_webhook"): pattern.callback
    for pattern in anymail_urls.urlpatterns
    if str(pattern.name).endswith("_tracking_webhook")
}

#: Settings (``ANYMAIL["<PROVIDER>_<NAME>"]``) with which a provider signs its calls and anymail
#: checks the signature; any one of them configures the provider.
SIGNING_KEYS = {
    "mailgun": ("webhook_signing_key",),
    "mailersend": ("signing_secret",),
    "mailtrap": ("tracking_secret",),
    "mandrill": ("webhook_key",),
    "postal": ("webhook_key",),
    "resend": ("signing_secret",),
    "sendgrid": ("tracking_webhook_verification_key",),
    "unisender_go": ("api_key",),
}


def _setting(name: str, *, esp_name: str | None = None) -> object:
    return get_anymail_setting(name, esp_name=esp_name, default=None, kwargs={},
                               allow_bare=esp_name is not None)


def provider_configured(esp: str) -> bool:
    """Whether the provider's calls must prove who sent them: basic auth or its signing key."""
    if esp not in TRACKING_VIEWS:
        return False
    if _setting("webhook_secret"):
        return True
    return any(_setting(name, esp_name=esp) for name in SIGNING_KEYS.get(esp, ()))


@csrf_exempt
def tracking_webhook(request: HttpRequest, esp: str) -> HttpResponse:
    if not provider_configured(esp):
        raise Http404("no such webhook")
    try:
        return TRACKING_VIEWS[esp](request)
    except ImproperlyConfigured as exc:  # e.g. Mailgun with basic auth but no signing key
        logger.error("Mail provider webhook %s is not usable: %s", esp, exc)
        raise Http404("no such webhook") from None
