"use strict";
// rsocket-js client for the interop suite.
//
//   node client.js --transport tcp|ws --port N --scenario NAME
//
// Runs one scenario against a server on 127.0.0.1 (WebSocket path /rsocket), prints
// `PASS ...` or `FAIL reason` and exits 0 or 1. Scenarios and routes: interop/README.md.

const { RSocketConnector } = require("rsocket-core");
const { TcpClientTransport } = require("rsocket-tcp-client");
const { WebsocketClientTransport } = require("rsocket-websocket-client");
const {
  WellKnownMimeType, encodeCompositeMetadata, encodeSimpleAuthMetadata, encodeBearerAuthMetadata,
} = require("rsocket-composite-metadata");
const WebSocket = require("ws");
const crypto = require("crypto");
const { Proxy } = require("./proxy");
const {
  COMPOSITE, OCTET_STREAM, MTU, ERROR_MESSAGE, REJECT_ME, parseArgs, blob, routeMetadata, finish,
} = require("./common");

class Failure extends Error {}

function check(cond, message) {
  if (!cond) throw new Failure(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  return Promise.race([promise, sleep(ms).then(() => { throw new Failure(`${what}: no answer within ${ms} ms`); })]);
}

function req(route, data = "") {
  return { data: Buffer.isBuffer(data) ? data : Buffer.from(data), metadata: routeMetadata(route) };
}

function rr(rsocket, payload) {
  return new Promise((resolve, reject) => {
    rsocket.requestResponse(payload, {
      onNext: (p) => resolve(p),
      onComplete: () => resolve({ data: Buffer.alloc(0) }),
      onError: (e) => reject(e),
      onExtension: () => {},
    });
  });
}

async function count(rsocket) {
  return (await rr(rsocket, req("count"))).data.toString();
}

async function waitCount(rsocket, want) {
  const deadline = Date.now() + 2000;
  for (;;) {
    const c = await count(rsocket);
    if (c.split(" ").includes(want)) return c;
    check(Date.now() < deadline, `count is ${JSON.stringify(c)}, expected ${want}`);
    await sleep(50);
  }
}

class Collector {
  constructor() {
    this.values = [];
    this.error = null;
    this.completed = false;
  }
  onNext(p, isComplete) {
    this.values.push(p);
    if (isComplete) this.completed = true;
  }
  onError(e) { this.error = e; }
  onComplete() { this.completed = true; }
  onExtension() {}
  async waitFor(pred, ms) {
    const deadline = Date.now() + ms;
    while (!pred() && Date.now() < deadline) await sleep(10);
    return pred();
  }
}

const SETUP_META = encodeCompositeMetadata([[WellKnownMimeType.TEXT_PLAIN, Buffer.from("setup-meta")]]);

async function run(rsocket, scenario, closed) {
  switch (scenario) {
    case "rr": {
      const meta = routeMetadata("echo", [WellKnownMimeType.TEXT_PLAIN, Buffer.from("meta-1")]);
      const got = await rr(rsocket, { data: Buffer.from("hello"), metadata: meta });
      check(got.data.toString() === "hello", `data ${got.data}`);
      check(got.metadata && got.metadata.equals(meta), `metadata ${got.metadata && got.metadata.toString("hex")}`);
      return "data and composite metadata echoed";
    }
    case "fnf":
      rsocket.fireAndForget(req("fnf", "x"), { onComplete() {}, onError() {} });
      return waitCount(rsocket, "fnf=1");
    case "metadata_push":
      await count(rsocket);
      rsocket.metadataPush(routeMetadata("push"), { onComplete() {}, onError() {} });
      return waitCount(rsocket, "push=1");
    case "request_n": {
      const c = new Collector();
      const s = rsocket.requestStream(req("stream.infinite"), 3, c);
      check(await c.waitFor(() => c.values.length >= 3, 5000), `after n=3: ${c.values.length} values`);
      await sleep(500);
      check(c.values.length === 3, `${c.values.length} values for a credit of 3`);
      s.request(2);
      check(await c.waitFor(() => c.values.length >= 5, 5000), `after request(2): ${c.values.length} values`);
      await sleep(500);
      check(c.values.length === 5, `${c.values.length} values for a credit of 5`);
      const data = c.values.map((v) => v.data.toString());
      check(data.join(",") === "0,1,2,3,4", `values ${data}`);
      check(!c.error && !c.completed, `stream ended: ${c.error}`);
      s.cancel();
      return "3 values, silence, request(2), 2 values, silence, cancel";
    }
    case "cancel": {
      const c = new Collector();
      const s = rsocket.requestStream(req("stream.infinite"), 5, c);
      check(await c.waitFor(() => c.values.length >= 2, 5000), `${c.values.length} values`);
      s.cancel();
      return waitCount(rsocket, "cancel=1");
    }
    case "channel": {
      // Outbound c1, c2 within the responder's credit, then a separate COMPLETE frame.
      const c = new Collector();
      const outbound = ["c1", "c2"];
      let requester = null;
      let granted = 0;
      const pump = () => {
        while (requester && granted > 0 && outbound.length > 0) {
          granted--;
          requester.onNext({ data: Buffer.from(outbound.shift()) }, false);
        }
        if (requester && outbound.length === 0 && !pump.done) {
          pump.done = true;
          requester.onComplete();
        }
      };
      c.request = (n) => { granted += n; setImmediate(pump); };
      c.cancel = () => { outbound.length = 0; };
      requester = rsocket.requestChannel(req("echo", "c0"), 64, false, c);
      check(await c.waitFor(() => c.completed || c.error, 10000), `no completion: ${c.values.map((v) => v.data)}`);
      check(!c.error, `error ${c.error}`);
      const data = c.values.map((v) => v.data.toString());
      check(data.join(",") === "c0,c1,c2", `got ${data}`);
      return "3 payloads echoed, both sides completed";
    }
    case "errors": {
      for (const code of [0x201, 0x202, 0x204, 0x301, 0x1234]) {
        const hex = "0x" + code.toString(16);
        let e = null;
        try {
          const p = await withTimeout(rr(rsocket, req(`error.${hex}`)), 5000, `error.${hex}`);
          throw new Failure(`error.${hex} answered ${p.data}`);
        } catch (err) {
          if (err instanceof Failure) throw err;
          e = err;
        }
        check(e.code === code && e.message === ERROR_MESSAGE, `error.${hex}: got ${e.code} ${e.message}`);
      }
      const c = new Collector();
      rsocket.requestStream(req("error.0x301"), 10, c);
      check(await c.waitFor(() => c.error || c.completed, 5000), "stream error.0x301: no end");
      check(c.error && c.error.code === 0x301 && c.error.message === ERROR_MESSAGE, `stream error.0x301: got ${c.error}`);
      return "0x201 0x202 0x204 0x301 0x1234 on request-response, 0x301 on stream";
    }
    case "payload_100k":
    case "payload_5m": {
      const n = scenario === "payload_100k" ? 100 * 1024 : 5 * 1024 * 1024;
      const data = blob(n);
      const got = await withTimeout(rr(rsocket, req("echo", data)), 40000, "echo");
      check(got.data.equals(data), `echoed ${got.data.length} bytes, differing from the ${n} sent`);
      return `${n} bytes echoed (fragment size ${MTU})`;
    }
    case "composite_simple":
    case "composite_bearer": {
      const simple = scenario === "composite_simple";
      const auth = simple ? encodeSimpleAuthMetadata("user", "pass") : encodeBearerAuthMetadata("tok-123");
      const want = simple ? "simple:user:pass" : "bearer:tok-123";
      const meta = routeMetadata("auth.whoami", [WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION, auth]);
      const got = await rr(rsocket, { data: Buffer.alloc(0), metadata: meta });
      check(got.data.toString() === want, `got ${got.data}, expected ${want}`);
      return "server saw " + want;
    }
    case "setup": {
      const got = await rr(rsocket, req("setup.info"));
      check(got.data.toString() === "setup-data" && got.metadata && got.metadata.equals(SETUP_META),
        `server saw ${got.data} ${got.metadata && got.metadata.toString("hex")}`);
      return "setup data and metadata seen by the server";
    }
    case "setup_reject": {
      // rsocket-js fails pending requests with a plain Error("Closed. Original cause [...]")
      // that drops the code; the connection's onClose callback gets the RSocketError itself.
      try {
        const p = await rr(rsocket, req("echo", "x"));
        throw new Failure(`request answered: ${p.data}`);
      } catch (err) {
        if (err instanceof Failure) throw err;
      }
      const deadline = Date.now() + 2000;
      while (!closed.error && Date.now() < deadline) await sleep(10);
      const e = closed.error;
      check(e && e.code === 0x003 && String(e.message).includes(REJECT_ME),
        `expected REJECTED_SETUP mentioning ${REJECT_ME}, got ${e && e.code} ${e && e.message}`);
      return `refused: REJECTED_SETUP ${JSON.stringify(e.message)}`;
    }
    case "keepalive": {
      await rr(rsocket, req("echo", "before"));
      await sleep(5000);
      check(!closed.error, `connection closed while idle: ${closed.error}`);
      const got = await withTimeout(rr(rsocket, req("echo", "after")), 5000, "echo after idle");
      check(got.data.toString() === "after", `got ${got.data}`);
      return "alive after 5 s idle (keepalive 500 ms, lifetime 2 s)";
    }
    default:
      throw new Failure("unknown scenario " + scenario);
  }
}

// `resume`: a resumable connection through a TCP proxy on 127.0.0.1 (interop/js/proxy.js) in
// front of the server's port; a paced request-stream of RESUME_ITEMS items with a credit of 16
// topped up by 8; the proxy is killed after items 50 and 120 and restarted 300 ms later. Every
// item must arrive exactly once, in order, then COMPLETE.
const RESUME_ITEMS = 200;
const RESUME_PACE_MS = 20;
const RESUME_KILL_AT = [50, 120];
const RESUME_DOWN_MS = 300;

async function resume(args) {
  // Frames are traced (stderr, the cell's log) over TCP, where they are length-prefixed.
  const proxy = new Proxy(args.port, args.transport === "tcp");
  await proxy.start();
  let reconnects = 0;
  const connector = new RSocketConnector({
    setup: { dataMimeType: OCTET_STREAM, metadataMimeType: COMPOSITE, keepAlive: 500, lifetime: 30000 },
    transport: transport(args.transport, proxy.port),
    fragmentation: { maxOutboundFragmentSize: MTU },
    resume: {
      tokenGenerator: () => crypto.randomBytes(16),
      reconnectFunction: (attempt) => {
        reconnects = attempt + 1;
        return attempt >= 100 ? Promise.reject(new Error("gave up after 100 reconnection attempts")) : sleep(100);
      },
    },
  });
  const rsocket = await connector.connect();
  const closes = [];
  rsocket.onClose((e) => closes.push(String(e && e.message)));
  const c = new Collector();
  let kills = 0;
  let stream = null;
  const onNext = c.onNext.bind(c);
  c.onNext = (p, isComplete) => {
    onNext(p, isComplete);
    const n = c.values.length;
    if (n % 8 === 0 && n + 8 <= RESUME_ITEMS) stream.request(8);
    if (RESUME_KILL_AT.includes(n)) {
      kills++;
      proxy.kill();
      setTimeout(() => proxy.restart().catch((e) => { c.error = e; }), RESUME_DOWN_MS);
    }
  };
  stream = rsocket.requestStream(req(`stream.paced.${RESUME_ITEMS}.${RESUME_PACE_MS}`), 16, c);
  await c.waitFor(() => c.completed || c.error, 40000);
  const data = c.values.map((v) => v.data.toString());
  const expected = Array.from({ length: RESUME_ITEMS }, (_, i) => String(i));
  const state = `${data.length} items, ${kills} proxy kills, ${proxy.accepted} connections, ${reconnects} reconnection attempts`;
  check(!c.error, `stream failed (${state}): ${c.error && c.error.message} (code ${c.error && c.error.code})`);
  check(c.completed, `no COMPLETE within 40 s (${state}; last item ${data[data.length - 1]})`);
  const bad = data.findIndex((d, i) => d !== expected[i]);
  check(bad < 0 && data.length === RESUME_ITEMS,
    `items out of order or missing (${state}): first difference at index ${bad}: ${data.slice(Math.max(0, bad - 2), bad + 3)}`);
  check(proxy.accepted >= 3, `only ${proxy.accepted} connections through the proxy: not resumed twice`);
  proxy.kill();
  return `${RESUME_ITEMS} items once and in order; ${kills} proxy kills, ${proxy.accepted} connections`;
}

function transport(kind, port) {
  return kind === "tcp"
    ? new TcpClientTransport({ connectionOptions: { host: "127.0.0.1", port } })
    : new WebsocketClientTransport({
      url: `ws://127.0.0.1:${port}/rsocket`,
      wsCreator: (url) => new WebSocket(url),
    });
}

async function main() {
  const args = parseArgs(null);
  if (args.scenario === "resume") {
    finish(true, await withTimeout(resume(args), 45000, "resume"));
  }
  const setup = {
    dataMimeType: OCTET_STREAM, metadataMimeType: COMPOSITE, keepAlive: 20000, lifetime: 90000,
  };
  if (args.scenario === "setup") setup.payload = { data: Buffer.from("setup-data"), metadata: SETUP_META };
  if (args.scenario === "setup_reject") setup.payload = { data: Buffer.from(REJECT_ME) };
  if (args.scenario === "keepalive") Object.assign(setup, { keepAlive: 500, lifetime: 2000 });
  const connector = new RSocketConnector({
    setup, transport: transport(args.transport, args.port), fragmentation: { maxOutboundFragmentSize: MTU },
  });
  const closed = { error: null };
  const rsocket = await connector.connect();
  rsocket.onClose((e) => { closed.error = e || new Error("closed"); });
  const message = await withTimeout(run(rsocket, args.scenario, closed), 45000, args.scenario);
  finish(true, message);
}

main().catch((e) => finish(false, e instanceof Failure ? e.message : `${e && e.name}: ${e && e.message} (code ${e && e.code})`));
