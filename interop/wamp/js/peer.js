'use strict';
// autobahn-js peer for the WAMP router interop test (the JavaScript twin of ../peer.py).
//
// Joins realm1 over the given transport/serializer and runs a scenario: RPC results with
// args/kwargs, application errors with payload, no_such_procedure, binary payloads (msgpack/cbor),
// progressive results, router-side call timeout, caller-side cancel, acknowledged publish with
// exclude_me=false, prefix subscriptions (details.topic) and the session meta API.
// Prints one line "js_<transport>_<serializer>_<auth>: ok|FAILED" and exits 0 on success, 1 on
// failure. Run by ../run.sh; needs node_modules from ../install.sh.
//
//   node peer.js --transport websocket --url ws://127.0.0.1:18080/ws --serializer cbor
//   node peer.js --transport rawsocket --url rs://127.0.0.1:18081 --serializer json --auth wampcra
//   (--debug sets AUTOBAHN_DEBUG and prints every WAMP message)

const STEP_TIMEOUT_MS = 5000;
const RUN_TIMEOUT_MS = 45000;

function parseArgs(argv) {
  const out = { transport: null, url: null, serializer: null, auth: 'anonymous', debug: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--debug') { out.debug = true; continue; }
    const key = a.replace(/^--/, '');
    if (!(key in out) || i + 1 >= argv.length) throw new Error(`bad argument ${a}`);
    out[key] = argv[++i];
  }
  if (!['websocket', 'rawsocket'].includes(out.transport)) throw new Error('--transport websocket|rawsocket');
  if (!['json', 'msgpack', 'cbor'].includes(out.serializer)) throw new Error('--serializer json|msgpack|cbor');
  if (!['anonymous', 'ticket', 'wampcra'].includes(out.auth)) throw new Error('--auth anonymous|ticket|wampcra');
  if (!out.url) throw new Error('--url required');
  // autobahn-js 22.11.1's RawSocket (lib/transport/rawsocket.js) only speaks JSON.
  if (out.transport === 'rawsocket' && out.serializer !== 'json') {
    throw new Error('autobahn-js 22.11.1 RawSocket supports only the json serializer');
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.debug) global.AUTOBAHN_DEBUG = true;

// autobahn-js logs "connection closed ..." / "auto-reconnect disabled!" through console.warn on
// every normal close; keep its chatter and print it only if the run fails.
const logged = [];
for (const level of ['warn', 'error']) {
  const orig = console[level].bind(console);
  console[level] = (...args) => {
    if (opts.debug) orig(...args);
    else logged.push(`[${level}] ` + args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : safeJson(a))).join(' '));
  };
}

const autobahn = require('autobahn');

// Record the WebSocket close code (autobahn-js does not pass it on to Connection.onclose).
let wsCloseCode = null;
{
  const WebSocket = require('ws'); // the copy autobahn-js uses (hoisted)
  const emit = WebSocket.prototype.emit;
  WebSocket.prototype.emit = function (ev, ...args) {
    if (ev === 'close') wsCloseCode = args[0];
    return emit.call(this, ev, ...args);
  };
}

function safeJson(v) {
  try { return JSON.stringify(v); } catch (_) { return String(v); }
}

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Bound every wait: a promise that the router never answers fails the step by name.
function step(name, p) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step "${name}" timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([Promise.resolve(p), t]).finally(() => clearTimeout(timer));
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Expects `p` to reject with an autobahn.Error whose URI is one of `uris`; returns the error.
async function expectError(name, p, uris) {
  let res;
  try {
    res = await step(name, p);
  } catch (e) {
    if (!(e instanceof autobahn.Error)) throw new Error(`${name}: expected autobahn.Error, got ${e && e.stack ? e.stack : safeJson(e)}`);
    assert(uris.includes(e.error), `${name}: error uri ${e.error} in ${uris}`);
    return e;
  }
  throw new Error(`${name}: expected error ${uris}, got result ${safeJson(res)}`);
}

async function scenario(session, details, tag) {
  const uri = (s) => `com.interop.${tag}.${s}`;

  // RPC: plain single result, and a Result with args and kwargs (call with args and kwargs).
  await step('register add', session.register(uri('add'), (args) => args[0] + args[1]));
  const five = await step('call add', session.call(uri('add'), [2, 3]));
  assert(five === 5, `add(2,3) == 5, got ${safeJson(five)}`);

  await step('register add2', session.register(uri('add2'), (args, kwargs) =>
    new autobahn.Result([args[0] + args[1], 'sum'], { sum: args[0] + args[1], echo: kwargs })));
  const r = await step('call add2', session.call(uri('add2'), [2, 3], { x: 'y', n: [1, null, true] }));
  assert(r instanceof autobahn.Result, `add2 result is a Result, got ${safeJson(r)}`);
  assert(sameJson(r.args, [5, 'sum']), `add2 args, got ${safeJson(r.args)}`);
  assert(sameJson(r.kwargs, { sum: 5, echo: { x: 'y', n: [1, null, true] } }), `add2 kwargs, got ${safeJson(r.kwargs)}`);

  // RPC: application error with payload.
  await step('register oops', session.register(uri('oops'), () => {
    throw new autobahn.Error('com.interop.oops', ['bad thing'], { code: 7 });
  }));
  const e = await expectError('call oops', session.call(uri('oops')), ['com.interop.oops']);
  assert(sameJson(e.args, ['bad thing']), `oops args, got ${safeJson(e.args)}`);
  assert(e.kwargs.code === 7, `oops kwargs, got ${safeJson(e.kwargs)}`);

  // RPC: unknown procedure.
  await expectError('call nothing', session.call(uri('nothing')), ['wamp.error.no_such_procedure']);

  // RPC: binary payload round trip. autobahn-js's JSON serializer has no binary convention (a
  // Buffer would go out as {"type":"Buffer","data":[...]}), so only for msgpack and cbor.
  if (opts.serializer !== 'json') {
    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await step('register echo', session.register(uri('echo'), (args) => args[0]));
    const got = await step('call echo', session.call(uri('echo'), [blob]));
    assert(Buffer.isBuffer(got) && got.equals(blob), `binary echo, got ${safeJson(got)}`);
  }

  // RPC: progressive results.
  await step('register count', session.register(uri('count'), async (args, kwargs, details) => {
    const n = args[0];
    for (let i = 0; i < n; i++) {
      if (details.progress) details.progress([i]);
      await sleep(0);
    }
    return n;
  }));
  const progress = [];
  const pc = session.call(uri('count'), [3], {}, { receive_progress: true });
  pc.then(null, null, (p) => progress.push(p)).catch(() => {}); // when.js progress handler
  const counted = await step('call count', pc);
  assert(counted === 3 && sameJson(progress, [0, 1, 2]), `count: result ${counted}, progress ${safeJson(progress)}`);

  // RPC: router-side call timeout. autobahn-js's callee does not announce call_canceling, so the
  // router must not INTERRUPT it (autobahn-js has no INTERRUPT handler: it would fail the
  // transport as a protocol violation) and must drop the late YIELD.
  const SLOW_MS = 600;
  await step('register slow', session.register(uri('slow'), () => sleep(SLOW_MS).then(() => 'late')));
  const started = Date.now();
  await expectError('call slow (timeout 200 ms)', session.call(uri('slow'), [], {}, { timeout: 200 }),
    ['wamp.error.timeout', 'wamp.error.canceled']);

  // RPC: caller-side cancel, mode "kill". Autobahn-js's promise.cancel() with the default mode
  // ("skip") rejects the call locally and forgets the request, so the router's ERROR (which the
  // spec requires for skip) then arrives for an unknown request and autobahn-js closes the
  // transport as a protocol violation; with "kill" it keeps the request until the router's ERROR.
  const pk = session.call(uri('slow'), [], {}, {});
  await sleep(50);
  pk.cancel({ mode: 'kill' });
  await expectError('cancel slow (kill)', pk, ['wamp.error.canceled']);

  // Pub/sub: acknowledged publish delivered to ourselves with exclude_me=false.
  let gotEvent;
  const eventSeen = new Promise((res) => { gotEvent = res; });
  await step('subscribe topic', session.subscribe(uri('topic'), (args, kwargs, ev) => gotEvent({ args, kwargs, ev })));
  const pub = await step('publish topic', session.publish(uri('topic'), [1, 'two'], { k: true },
    { acknowledge: true, exclude_me: false }));
  assert(pub && typeof pub.id === 'number' && pub.id > 0, `publication id, got ${safeJson(pub)}`);
  const ev = await step('event topic', eventSeen);
  assert(sameJson(ev.args, [1, 'two']) && sameJson(ev.kwargs, { k: true }), `event payload, got ${safeJson([ev.args, ev.kwargs])}`);
  assert(ev.ev.publication === pub.id, `event publication ${ev.ev.publication} == ${pub.id}`);

  // Pub/sub: prefix subscription sees the concrete topic.
  let gotTopic;
  const topicSeen = new Promise((res) => { gotTopic = res; });
  await step('subscribe prefix', session.subscribe(uri('pfx'), (args, kwargs, ev) => gotTopic(ev.topic), { match: 'prefix' }));
  await step('publish pfx.a', session.publish(uri('pfx.a'), [], {}, { acknowledge: true, exclude_me: false }));
  const seenTopic = await step('event pfx.a', topicSeen);
  assert(seenTopic === uri('pfx.a'), `prefix event topic, got ${seenTopic}`);

  // Session meta API.
  const n = await step('wamp.session.count', session.call('wamp.session.count'));
  assert(Number.isInteger(n) && n >= 1, `wamp.session.count >= 1, got ${safeJson(n)}`);
  const ids = await step('wamp.session.list', session.call('wamp.session.list'));
  assert(Array.isArray(ids) && ids.includes(session.id), `session ${session.id} in wamp.session.list ${safeJson(ids)}`);

  // The session still works after the late YIELD of the timed-out and the cancelled call.
  await sleep(Math.max(0, started + 2 * SLOW_MS + 100 - Date.now()));
  const again = await step('call add after late yields', session.call(uri('add'), [20, 22]));
  assert(again === 42, `add(20,22) == 42, got ${safeJson(again)}`);
}

function connectionOptions() {
  const o = {
    realm: 'realm1',
    max_retries: 0,
    retry_if_unreachable: false,
    on_user_error: (err, msg) => {
      // autobahn-js reports every error an invocation handler throws, including the intended
      // autobahn.Error of the "oops" procedure; only anything else is a failure.
      if (err instanceof autobahn.Error && /invocation handler/.test(msg || '')) return;
      internalErrors.push(`user error: ${msg || ''} ${err && err.stack ? err.stack : safeJson(err)}`);
    },
    on_internal_error: (err, msg) => internalErrors.push(`internal error: ${msg || ''} ${err && err.stack ? err.stack : safeJson(err)}`),
  };
  if (opts.transport === 'websocket') {
    const ser = {
      json: () => new autobahn.serializer.JSONSerializer(),
      msgpack: () => new autobahn.serializer.MsgpackSerializer(),
      cbor: () => new autobahn.serializer.CBORSerializer(),
    }[opts.serializer]();
    o.transports = [{ type: 'websocket', url: opts.url, serializers: [ser] }];
  } else {
    const m = /^rs:\/\/([^:/]+):(\d+)\/?$/.exec(opts.url);
    if (!m) throw new Error(`bad rawsocket url ${opts.url} (want rs://HOST:PORT)`);
    o.transports = [{ type: 'rawsocket', url: opts.url, host: m[1], port: Number(m[2]) }];
  }
  if (opts.auth === 'ticket') {
    o.authmethods = ['ticket'];
    o.authid = 'joe';
    o.onchallenge = (session, method) => {
      assert(method === 'ticket', `challenge method ticket, got ${method}`);
      return 'secret1';
    };
  } else if (opts.auth === 'wampcra') {
    o.authmethods = ['wampcra'];
    o.authid = 'peter';
    o.onchallenge = (session, method, extra) => {
      assert(method === 'wampcra', `challenge method wampcra, got ${method}`);
      let key = 'secret2';
      if (extra.salt) key = autobahn.auth_cra.derive_key(key, extra.salt, extra.iterations, extra.keylen);
      return autobahn.auth_cra.sign(key, extra.challenge);
    };
  }
  return o;
}

const internalErrors = [];
// The router's GOODBYE reply to our GOODBYE (wamp.close.normal).
const CLEAN_REASONS = ['wamp.close.goodbye_and_out', 'wamp.error.goodbye_and_out', 'wamp.close.normal'];
const tag = `js_${opts.transport}_${opts.serializer}_${opts.auth}`;
let finished = false;

function finish(ok, why) {
  if (finished) return;
  finished = true;
  if (ok && internalErrors.length) {
    ok = false;
    why = internalErrors.join('\n');
  }
  if (!ok) {
    for (const l of logged) process.stderr.write(l + '\n');
    if (why) process.stderr.write(`${tag}: ${why}\n`);
  }
  process.stdout.write(`${tag}: ${ok ? 'ok' : 'FAILED'}\n`);
  process.exit(ok ? 0 : 1);
}

setTimeout(() => finish(false, `run timed out after ${RUN_TIMEOUT_MS} ms`), RUN_TIMEOUT_MS).unref();

const connection = new autobahn.Connection(connectionOptions());
let outcome = null; // null until the scenario ends, then { ok, why }

connection.onopen = (session, details) => {
  (async () => {
    if (opts.auth !== 'anonymous') {
      assert(details.authmethod === opts.auth, `authmethod ${opts.auth}, got ${details.authmethod}`);
      assert(details.authid === (opts.auth === 'ticket' ? 'joe' : 'peter'), `authid, got ${details.authid}`);
    }
    await scenario(session, details, tag);
  })().then(
    () => { outcome = { ok: true }; },
    (err) => { outcome = { ok: false, why: err && err.stack ? err.stack : safeJson(err) }; },
  ).finally(() => {
    // Leave with GOODBYE; the router's GOODBYE reply makes autobahn-js close the transport.
    try {
      connection.close('wamp.close.normal');
    } catch (err) {
      finish(false, `${outcome && outcome.why ? outcome.why + '\n' : ''}close: ${err}`);
    }
    // Bound the wait for the close handshake.
    setTimeout(() => finish(false, `${outcome && outcome.why ? outcome.why + '\n' : ''}no clean close within 5 s`), 5000).unref();
  });
};

connection.onclose = (reason, details) => {
  if (outcome === null) {
    finish(false, `connection closed before the scenario ended: ${reason} ${safeJson(details)}`);
  } else if (!outcome.ok) {
    finish(false, outcome.why);
  } else if (!CLEAN_REASONS.includes(details.reason)) {
    finish(false, `no GOODBYE reply: ${reason} ${safeJson(details)}`);
  } else if (reason !== 'closed' && !(reason === 'lost' && opts.transport === 'websocket' && wsCloseCode === 1005)) {
    // autobahn-js (Node) closes its WebSocket with no status code (transport.close ignores the
    // code), so the echoed close carries none (1005) and it reports "lost" after a clean GOODBYE.
    // Any other code is a real unclean close.
    finish(false, `unclean close: ${reason} (WebSocket close code ${wsCloseCode}) ${safeJson(details)}`);
  } else {
    finish(true);
  }
  return true; // no reconnect
};

connection.open();
