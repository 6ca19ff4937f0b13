"""The language of the pages: German, the team's language, unless a person chose English.

Django's ``LocaleMiddleware`` would follow the browser's Accept-Language, so a support agent
with an English browser would suddenly see English screens; here only the language cookie
(set by the switch at the foot of every page, Django's ``set_language`` view) counts. The
rest (Content-Language, Vary) is ``LocaleMiddleware``'s own.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class TeamLanguageMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
