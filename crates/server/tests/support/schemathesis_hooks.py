"""Schemathesis hooks for the hardening test: WHEP offers are `application/sdp`, text that
schemathesis has no serializer for; the generated strings go out as UTF-8, as an SDP offer would."""

import schemathesis


@schemathesis.serializer("application/sdp")
def sdp(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")
