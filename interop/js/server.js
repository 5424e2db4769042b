"use strict";
// rsocket-js server for the interop suite.
//
//   node server.js --transport tcp|ws --port N [--scenario all|resume]
//
// Serves the suite's routes (interop/README.md) on 127.0.0.1 (any WebSocket path). With
// `--scenario resume`, sessions whose SETUP asks for resumption are resumable (rsocket-js's
// experimental `resume` option, session timeout 30 s).

const { RSocketServer, ErrorCodes } = require("rsocket-core");
const { TcpServerTransport } = require("rsocket-tcp-server");
const { WebsocketServerTransport } = require("rsocket-websocket-server");
const WebSocket = require("ws");
const { ERROR_MESSAGE, MTU, REJECT_ME, parseArgs, parseComposite, parseCode, rsocketError } = require("./common");

function errorFor(route) {
  if (route && route.startsWith("error.")) {
    return rsocketError(parseCode(route.slice("error.".length)), ERROR_MESSAGE);
  }
  return rsocketError(ErrorCodes.APPLICATION_ERROR, `no handler for route '${route}'`);
}

function responder(setup) {
  const stats = { fnf: 0, push: 0, cancel: 0 };
  const noop = { cancel() {}, request() {}, onExtension() {} };
  return {
    fireAndForget(payload, responderStream) {
      stats.fnf++;
      return noop;
    },
    metadataPush(metadata, responderStream) {
      stats.push++;
      responderStream.onComplete();
    },
    requestResponse(payload, responderStream) {
      const { route, auth } = parseComposite(payload.metadata);
      if (route === null || route === "echo") {
        responderStream.onNext({ data: payload.data, metadata: payload.metadata }, true);
      } else if (route === "count") {
        responderStream.onNext({ data: Buffer.from(`fnf=${stats.fnf} push=${stats.push} cancel=${stats.cancel}`) }, true);
      } else if (route === "auth.whoami") {
        if (auth) responderStream.onNext({ data: Buffer.from(auth) }, true);
        else responderStream.onError(rsocketError(0x301, "no usable authentication"));
      } else if (route === "setup.info") {
        responderStream.onNext({ data: setup.data, metadata: setup.metadata }, true);
      } else {
        responderStream.onError(errorFor(route));
      }
      return noop;
    },
    requestStream(payload, initialRequestN, responderStream) {
      const { route } = parseComposite(payload.metadata);
      if (route === "stream.infinite") {
        let next = 0;
        let cancelled = false;
        const emit = (n) => {
          for (let i = 0; i < n && !cancelled; i++) responderStream.onNext({ data: Buffer.from(String(next++)) }, false);
        };
        setImmediate(() => emit(initialRequestN));
        return {
          request(n) { emit(n); },
          cancel() { cancelled = true; stats.cancel++; },
          onExtension() {},
        };
      }
      const paced = route && /^stream\.paced\.(\d+)\.(\d+)$/.exec(route);
      if (paced) {
        // n items, one every ms milliseconds, within the requester's credit; then COMPLETE.
        const [n, ms] = [Number(paced[1]), Number(paced[2])];
        let next = 0;
        let credit = initialRequestN;
        let timer = null;
        const tick = () => {
          timer = null;
          if (credit <= 0 || next >= n) return;
          credit--;
          const last = next === n - 1;
          responderStream.onNext({ data: Buffer.from(String(next++)) }, false);
          if (last) responderStream.onComplete();
          else schedule();
        };
        const schedule = () => { if (!timer && credit > 0 && next < n) timer = setTimeout(tick, ms); };
        schedule();
        return {
          request(k) { credit += k; schedule(); },
          cancel() { next = n; if (timer) clearTimeout(timer); },
          onExtension() {},
        };
      }
      if (route === null || route === "echo") {
        setImmediate(() => responderStream.onNext({ data: payload.data, metadata: payload.metadata }, true));
      } else {
        setImmediate(() => responderStream.onError(errorFor(route)));
      }
      return noop;
    },
    requestChannel(payload, initialRequestN, isCompleted, responderStream) {
      const { route } = parseComposite(payload.metadata);
      if (route !== null && route !== "echo") {
        setImmediate(() => responderStream.onError(errorFor(route)));
        return { ...noop, onNext() {}, onError() {}, onComplete() {} };
      }
      // Echo within the requester's credit; complete after the requester completes.
      const buffer = [payload];
      let credit = initialRequestN;
      let inboundDone = isCompleted;
      let finished = false;
      const drain = () => {
        while (!finished && buffer.length > 0 && credit > 0) {
          credit--;
          const p = buffer.shift();
          responderStream.onNext({ data: p.data, metadata: p.metadata }, false);
        }
        if (!finished && inboundDone && buffer.length === 0) {
          finished = true;
          responderStream.onComplete();
        }
      };
      setImmediate(() => {
        if (!inboundDone) responderStream.request(1 << 20);
        drain();
      });
      return {
        request(n) { credit += n; drain(); },
        cancel() { finished = true; },
        onNext(p, isComplete) { buffer.push(p); if (isComplete) inboundDone = true; drain(); },
        onComplete() { inboundDone = true; drain(); },
        onError() { finished = true; },
        onExtension() {},
      };
    },
  };
}

async function main() {
  const args = parseArgs("all");
  const transport = args.transport === "tcp"
    ? new TcpServerTransport({ listenOptions: { host: "127.0.0.1", port: args.port } })
    : new WebsocketServerTransport({
      wsCreator: (options) => new WebSocket.Server({ host: "127.0.0.1", port: args.port }),
    });
  const server = new RSocketServer({
    transport,
    ...(args.scenario === "resume" ? { resume: { sessionTimeout: 30000 } } : {}),
    fragmentation: { maxOutboundFragmentSize: MTU },
    acceptor: {
      accept: async (setup, remotePeer) => {
        if (setup.data && setup.data.toString() === REJECT_ME) {
          throw rsocketError(ErrorCodes.REJECTED_SETUP, `setup rejected: ${REJECT_ME}`);
        }
        return responder(setup);
      },
    },
  });
  await server.bind();
  console.log("ready");
}

process.on("uncaughtException", (e) => console.error("uncaught:", e));
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
