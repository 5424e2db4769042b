"""Shared helpers of the rsocket-py peer programs (see interop/README.md for the routes)."""

import argparse
import sys

from rsocket.extensions.authentication import AuthenticationBearer, AuthenticationSimple
from rsocket.extensions.authentication_content import AuthenticationContent
from rsocket.extensions.composite_metadata import CompositeMetadata
from rsocket.extensions.routing import RoutingMetadata

COMPOSITE = b"message/x.rsocket.composite-metadata.v0"
OCTET_STREAM = b"application/octet-stream"
MTU = 16 * 1024
ERROR_MESSAGE = "demo error"
REJECT_ME = b"reject-me"


def parse_args(default_scenario="all"):
    p = argparse.ArgumentParser()
    p.add_argument("--transport", choices=["tcp", "ws"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--scenario", default=default_scenario)
    return p.parse_args()


def blob(n):
    return bytes(i % 256 for i in range(n))


def parse_composite(metadata):
    """(route, authentication) of composite metadata; either may be None."""
    route, auth = None, None
    if not metadata:
        return route, auth
    composite = CompositeMetadata()
    composite.parse(metadata)
    for item in composite.items:
        if isinstance(item, RoutingMetadata) and item.tags:
            tag = item.tags[0]
            route = tag if isinstance(tag, str) else bytes(tag).decode()
        elif isinstance(item, AuthenticationContent):
            auth = item.authentication
    return route, auth


def describe_auth(auth):
    if isinstance(auth, AuthenticationSimple):
        return "simple:%s:%s" % (auth.username.decode(), auth.password.decode())
    if isinstance(auth, AuthenticationBearer):
        return "bearer:%s" % auth.token.decode()
    return None


def parse_code(s):
    return int(s, 16) if s.lower().startswith("0x") else int(s)


def finish(ok, message):
    print(("PASS " if ok else "FAIL ") + message, flush=True)
    sys.exit(0 if ok else 1)


def accept_custom_error_codes():
    """Workaround for rsocket-py 0.4.20: ErrorFrame.parse converts the code with the ErrorCode
    enum, so a custom code (0x301 and up) raises ValueError inside the frame parser and the
    ERROR frame is lost (the request never ends). Keep unknown codes as plain ints."""
    from rsocket.error_codes import ErrorCode
    from rsocket.frame import HEADER_LENGTH, ErrorFrame, ParseHelper, unpack_32bit

    def parse(self, buffer, offset):
        ParseHelper.parse_header(self, buffer, offset)
        offset += HEADER_LENGTH
        code = unpack_32bit(buffer, offset)
        try:
            self.error_code = ErrorCode(code)
        except ValueError:
            self.error_code = code
        offset += 4
        offset += self.parse_data(buffer, offset)

    ErrorFrame.parse = parse
