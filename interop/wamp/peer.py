"""autobahn-python peer for the WAMP router interop test.

Joins realm1 over the given transport/serializer and runs a scenario that exercises RPC
(results, application errors, binary payloads, progressive results, cancelling, timeouts),
pub/sub (acknowledged publish, exclude_me, pattern subscriptions) and the session meta API.
Exits 0 on success, 1 on failure. Run by run.sh; needs the venv from install.sh.
"""

import argparse
import asyncio
import sys
import traceback

from autobahn.asyncio.component import Component, run
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions, SubscribeOptions

STEP_TIMEOUT = 5.0


async def scenario(session, details, tag):
    def step(coro):
        return asyncio.wait_for(coro, STEP_TIMEOUT)

    # RPC: result.
    await step(session.register(lambda a, b: a + b, f"com.interop.{tag}.add"))
    assert await step(session.call(f"com.interop.{tag}.add", 2, 3)) == 5

    # RPC: application error with payload.
    def oops():
        raise ApplicationError("com.interop.oops", "bad thing", code=7)

    await step(session.register(oops, f"com.interop.{tag}.oops"))
    try:
        await step(session.call(f"com.interop.{tag}.oops"))
        raise AssertionError("expected an ApplicationError")
    except ApplicationError as e:
        assert e.error == "com.interop.oops", e.error
        assert e.args[0] == "bad thing", e.args
        assert e.kwargs.get("code") == 7, e.kwargs

    # RPC: unknown procedure.
    try:
        await step(session.call(f"com.interop.{tag}.nothing"))
        raise AssertionError("expected no_such_procedure")
    except ApplicationError as e:
        assert e.error == "wamp.error.no_such_procedure", e.error

    # RPC: binary payload round trip.
    blob = bytes(range(256))
    await step(session.register(lambda b: b, f"com.interop.{tag}.echo"))
    got = await step(session.call(f"com.interop.{tag}.echo", blob))
    assert got == blob, got

    # RPC: progressive results.
    async def count(n, details=None):
        for i in range(n):
            if details is not None and details.progress:
                details.progress(i)
            await asyncio.sleep(0)
        return n

    await step(session.register(count, f"com.interop.{tag}.count", RegisterOptions(details_arg="details")))
    progress = []
    res = await step(
        session.call(f"com.interop.{tag}.count", 3, options=CallOptions(on_progress=lambda i: progress.append(i)))
    )
    assert res == 3 and progress == [0, 1, 2], (res, progress)

    # RPC: router-side timeout.
    async def slow():
        await asyncio.sleep(3)
        return "late"

    await step(session.register(slow, f"com.interop.{tag}.slow"))
    try:
        await step(session.call(f"com.interop.{tag}.slow", options=CallOptions(timeout=200)))
        raise AssertionError("expected a timeout")
    except ApplicationError as e:
        assert e.error in ("wamp.error.timeout", "wamp.error.canceled"), e.error

    # Pub/sub: acknowledged publish delivered to ourselves with exclude_me=False.
    got_event = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        if not got_event.done():
            got_event.set_result((args, kwargs))

    await step(session.subscribe(on_event, f"com.interop.{tag}.topic"))
    pub = await step(
        session.publish(
            f"com.interop.{tag}.topic", 1, "two", k=True,
            options=PublishOptions(acknowledge=True, exclude_me=False),
        )
    )
    assert pub.id > 0
    args, kwargs = await step(got_event)
    assert args == (1, "two") and kwargs == {"k": True}, (args, kwargs)

    # Pub/sub: prefix subscription sees the concrete topic.
    topic_seen = asyncio.get_running_loop().create_future()

    def on_prefix(*args, details=None):
        if not topic_seen.done():
            topic_seen.set_result(details.topic)

    await step(
        session.subscribe(on_prefix, f"com.interop.{tag}.pfx", SubscribeOptions(match="prefix", details_arg="details"))
    )
    await step(
        session.publish(f"com.interop.{tag}.pfx.a", options=PublishOptions(acknowledge=True, exclude_me=False))
    )
    assert await step(topic_seen) == f"com.interop.{tag}.pfx.a"

    # Session meta API.
    n = await step(session.call("wamp.session.count"))
    assert n >= 1, n
    ids = await step(session.call("wamp.session.list"))
    assert details.session in ids, (details.session, ids)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--transport", choices=["websocket", "rawsocket"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--serializer", choices=["json", "msgpack", "cbor"], required=True)
    p.add_argument("--auth", choices=["anonymous", "ticket", "wampcra"], default="anonymous")
    args = p.parse_args()

    authentication = {}
    if args.auth == "ticket":
        authentication = {"ticket": {"authid": "joe", "ticket": "secret1"}}
    elif args.auth == "wampcra":
        authentication = {"wampcra": {"authid": "peter", "secret": "secret2"}}
    transport = {"type": args.transport, "url": args.url, "max_retries": 0}
    if args.transport == "websocket":
        transport["serializers"] = [args.serializer]
    else:
        transport["serializer"] = args.serializer
    comp = Component(transports=[transport], realm="realm1", authentication=authentication)
    outcome = {"ok": False}
    tag = f"{args.transport}_{args.serializer}_{args.auth}"

    @comp.on_join
    async def joined(session, details):
        try:
            if args.auth != "anonymous":
                assert details.authmethod == args.auth, details.authmethod
            await scenario(session, details, tag)
            outcome["ok"] = True
        except Exception:
            traceback.print_exc()
        finally:
            session.leave()

    run([comp], log_level="warn")
    print(f"{tag}: {'ok' if outcome['ok'] else 'FAILED'}")
    sys.exit(0 if outcome["ok"] else 1)


if __name__ == "__main__":
    main()
