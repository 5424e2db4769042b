"use strict";
// Shared helpers of the rsocket-js peer programs (see interop/README.md for the routes).

const {
  WellKnownMimeType,
  decodeCompositeMetadata,
  decodeRoutes,
  decodeAuthMetadata,
  decodeSimpleAuthPayload,
  encodeCompositeMetadata,
  encodeRoute,
} = require("rsocket-composite-metadata");

const COMPOSITE = "message/x.rsocket.composite-metadata.v0";
const OCTET_STREAM = "application/octet-stream";
const MTU = 16 * 1024;
const ERROR_MESSAGE = "demo error";
const REJECT_ME = "reject-me";

function parseArgs(defaultScenario) {
  const args = { scenario: defaultScenario };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    args[key] = argv[i + 1];
  }
  if (!["tcp", "ws"].includes(args.transport) || !args.port) {
    console.log("FAIL usage: --transport tcp|ws --port N [--scenario NAME]");
    process.exit(2);
  }
  args.port = Number(args.port);
  return args;
}

function blob(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 256;
  return b;
}

// Composite metadata with a route and optional extra [mime, content] entries.
function routeMetadata(route, ...extra) {
  return encodeCompositeMetadata([[WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encodeRoute(route)], ...extra]);
}

// { route, auth } of composite metadata; auth is "simple:user:pass" or "bearer:token".
function parseComposite(metadata) {
  const out = { route: null, auth: null };
  if (!metadata || metadata.length === 0) return out;
  for (const entry of decodeCompositeMetadata(metadata)) {
    if (entry.mimeType === WellKnownMimeType.MESSAGE_RSOCKET_ROUTING.string) {
      const first = decodeRoutes(entry.content).next();
      if (!first.done) out.route = first.value;
    } else if (entry.mimeType === WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION.string) {
      const auth = decodeAuthMetadata(entry.content);
      if (auth.type.string === "simple") {
        const up = decodeSimpleAuthPayload(auth.payload);
        out.auth = `simple:${up.username.toString()}:${up.password.toString()}`;
      } else if (auth.type.string === "bearer") {
        out.auth = `bearer:${auth.payload.toString()}`;
      }
    }
  }
  return out;
}

function parseCode(s) {
  return s.toLowerCase().startsWith("0x") ? parseInt(s.slice(2), 16) : parseInt(s, 10);
}

// Workaround for rsocket-js 1.0.0-alpha.3: RSocketError extends Error but is compiled to ES5,
// so `new RSocketError(...) instanceof RSocketError` is false and every responder sends
// APPLICATION_ERROR instead of the error's code. Restoring the prototype makes the check hold.
function rsocketError(code, message) {
  const { RSocketError } = require("rsocket-core");
  return Object.setPrototypeOf(new RSocketError(code, message), RSocketError.prototype);
}

function finish(ok, message) {
  console.log((ok ? "PASS " : "FAIL ") + message);
  process.exit(ok ? 0 : 1);
}

module.exports = {
  COMPOSITE, OCTET_STREAM, MTU, ERROR_MESSAGE, REJECT_ME,
  parseArgs, blob, routeMetadata, parseComposite, parseCode, rsocketError, finish,
};
