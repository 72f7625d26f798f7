"""The security headers every response carries (settings.py imports these; the middleware is listed there).

Content-Security-Policy (django-csp): scripts, styles, fonts and fetches only from this origin, no inline script or
style at all (templates keep behaviour in static/js/app.js and looks in static/css/app.css; htmx is configured in
base.html not to inject its indicator style nor to eval). The documents a knowledge base holds come from
strangers: if a payload ever slipped past escaping, the browser still would not run it. Images may also be data:
URIs, for the TOTP QR code allauth renders inline and the empty favicon. No plugins, no framing by other sites,
forms post only here, and no <base> to re-point relative URLs.

Redoc's API documentation page gets a wider style-src and a blob: worker, on that view only (below).

Permissions-Policy (django-permissions-policy): the app uses no device or sensor; each feature is denied, so an
injected frame or script cannot ask for the camera, the microphone, the location or a payment.
"""

from __future__ import annotations

from csp.constants import NONE, SELF

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# What the Redoc page (/api/v1/redoc/) needs beyond the policy above, added by csp_update on its view alone
# (pages/api_urls.py): its bundle's styled-components write <style> elements, and its search runs in a Worker
# made from a blob: URL (tests/browser/test_csp_pages.py sees both refused without this). Scripts stay 'self'.
# Swagger UI needs nothing more: its set-up script is served from this origin (the split view).
API_DOCS_CSP_UPDATE = {
    "style-src": ["'unsafe-inline'"],
    "worker-src": [SELF, "blob:"],
}

PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}

# No Referer with the path of a document or KB page to other sites; same-origin requests keep it (CSRF checks).
SECURE_REFERRER_POLICY = "same-origin"
# A window this app opens, or that opens it, shares no browsing context group across origins (no window.opener).
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
