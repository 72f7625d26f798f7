"""Request parsing with a size limit on JSON bodies (Django limits only form fields, not a raw JSON body)."""

from django.conf import settings
from rest_framework.parsers import JSONParser

from privexbot.api.exceptions import PayloadTooLarge


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > settings.API_MAX_JSON_BODY:
            raise PayloadTooLarge(f"A JSON body may be at most {settings.API_MAX_JSON_BODY} bytes.")
        return super().parse(stream, media_type, parser_context)
