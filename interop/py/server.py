"""rsocket-py server for the interop suite.

    server.py --transport tcp|ws --port N [--scenario all|lease]

Serves the suite's routes (interop/README.md) on 127.0.0.1, WebSocket path /rsocket. With
--scenario lease, clients must ask for lease and are granted 2 requests for 60 s.
"""

import asyncio
import logging
from datetime import timedelta

from reactivestreams.publisher import Publisher
from reactivestreams.subscriber import Subscriber
from reactivestreams.subscription import Subscription
from rsocket.error_codes import ErrorCode
from rsocket.exceptions import RSocketProtocolError
from rsocket.helpers import create_error_future, create_future
from rsocket.lease import SingleLeasePublisher
from rsocket.payload import Payload
from rsocket.request_handler import BaseRequestHandler
from rsocket.rsocket_server import RSocketServer
from rsocket.streams.error_stream import ErrorStream
from rsocket.transports.tcp import TransportTCP

from common import (ERROR_MESSAGE, MTU, REJECT_ME, accept_custom_error_codes, describe_auth, parse_args, parse_code,
                    parse_composite)


def error_for(route):
    if route and route.startswith("error."):
        code = parse_code(route[len("error."):])
        if code == ErrorCode.APPLICATION_ERROR:
            # rsocket-py sends any non-RSocketProtocolError as APPLICATION_ERROR.
            return RuntimeError(ERROR_MESSAGE)
        return RSocketProtocolError(code, data=ERROR_MESSAGE)
    return RuntimeError("no handler for route '%s'" % route)


class InfiniteStream(Publisher, Subscription):
    """0, 1, ... exactly as requested; counts a cancel."""

    def __init__(self, stats):
        self._stats = stats
        self._next = 0
        self._subscriber = None
        self._cancelled = False

    def subscribe(self, subscriber):
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n):
        for _ in range(n):
            if self._cancelled:
                return
            self._subscriber.on_next(Payload(str(self._next).encode()))
            self._next += 1

    def cancel(self):
        self._cancelled = True
        self._stats["cancel"] += 1


class EchoChannel(Publisher, Subscription, Subscriber):
    """Echoes the first payload and every inbound one, within the requester's credit; completes
    after the requester completes."""

    def __init__(self, first):
        self._buffer = [first]
        self._credit = 0
        self._done = False
        self._completed = False
        self._remote = None
        self._inbound = None

    # Publisher / Subscription: towards the requester.
    def subscribe(self, subscriber):
        self._remote = subscriber
        subscriber.on_subscribe(self)

    def request(self, n):
        self._credit += n
        self._drain()

    def cancel(self):
        self._done = True
        self._completed = True

    # Subscriber: the requester's payloads.
    def on_subscribe(self, subscription):
        self._inbound = subscription
        subscription.request(1 << 20)

    def on_next(self, value, is_complete=False):
        self._buffer.append(value)
        if is_complete:
            self._done = True
        self._drain()

    def on_error(self, exception):
        self._done = True
        self._drain()

    def on_complete(self):
        self._done = True
        self._drain()

    def _drain(self):
        if self._remote is None:
            return
        while self._buffer and self._credit > 0:
            self._credit -= 1
            self._remote.on_next(self._buffer.pop(0))
        if self._done and not self._buffer and not self._completed:
            self._completed = True
            self._remote.on_complete()


class Handler(BaseRequestHandler):
    def __init__(self):
        self.stats = {"fnf": 0, "push": 0, "cancel": 0}
        self.setup = Payload(b"", None)

    async def on_setup(self, data_encoding, metadata_encoding, payload):
        if payload.data == REJECT_ME:
            raise Exception("setup rejected: reject-me")
        self.setup = payload

    async def request_fire_and_forget(self, payload):
        self.stats["fnf"] += 1

    async def on_metadata_push(self, payload):
        self.stats["push"] += 1

    async def request_response(self, payload):
        route, auth = parse_composite(payload.metadata)
        if route in (None, "echo"):
            return create_future(Payload(payload.data, payload.metadata))
        if route == "count":
            s = self.stats
            return create_future(Payload(("fnf=%d push=%d cancel=%d" % (s["fnf"], s["push"], s["cancel"])).encode()))
        if route == "auth.whoami":
            who = describe_auth(auth)
            if who is None:
                return create_error_future(RSocketProtocolError(0x301, data="no usable authentication"))
            return create_future(Payload(who.encode()))
        if route == "setup.info":
            return create_future(Payload(self.setup.data, self.setup.metadata))
        return create_error_future(error_for(route))

    async def request_stream(self, payload):
        route, _ = parse_composite(payload.metadata)
        if route == "stream.infinite":
            return InfiniteStream(self.stats)
        if route in (None, "echo"):
            return OneShot(payload)
        return ErrorStream(error_for(route))

    async def request_channel(self, payload):
        route, _ = parse_composite(payload.metadata)
        if route in (None, "echo"):
            channel = EchoChannel(payload)
            return channel, channel
        return ErrorStream(error_for(route)), None


class OneShot(Publisher, Subscription):
    def __init__(self, payload):
        self._payload = payload
        self._subscriber = None

    def subscribe(self, subscriber):
        self._subscriber = subscriber
        subscriber.on_subscribe(self)

    def request(self, n):
        if self._payload is not None:
            p, self._payload = self._payload, None
            self._subscriber.on_next(p, is_complete=True)

    def cancel(self):
        self._payload = None


def server_options(scenario):
    options = {"handler_factory": Handler, "fragment_size_bytes": MTU}
    if scenario == "lease":
        options["lease_publisher"] = SingleLeasePublisher(
            maximum_request_count=2, maximum_lease_time=timedelta(seconds=60))
    return options


async def main():
    accept_custom_error_codes()
    args = parse_args()
    options = server_options(args.scenario)
    if args.transport == "tcp":
        async def on_connection(reader, writer):
            RSocketServer(TransportTCP(reader, writer), **options)

        server = await asyncio.start_server(on_connection, "127.0.0.1", args.port)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()
    else:
        from aiohttp import web
        from rsocket.transports.aiohttp_websocket import websocket_handler_factory

        app = web.Application()
        app.add_routes([web.get("/rsocket", websocket_handler_factory(**options))])
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
