"use strict";
// A killable TCP proxy on 127.0.0.1 for the `resume` scenario (interop/README.md): kill() drops
// every connection through it (both sides, bytes in flight are lost) and stops listening;
// restart() listens again on the same port. With `trace`, it logs to stderr, per connection and
// direction, the frames of a length-prefixed (TCP) RSocket stream: every frame but PAYLOAD,
// with the positions of KEEPALIVE, RESUME and RESUME_OK, and a count of PAYLOAD frames.

const net = require("net");

const TYPES = {
  0x01: "SETUP", 0x02: "LEASE", 0x03: "KEEPALIVE", 0x04: "REQUEST_RESPONSE", 0x05: "REQUEST_FNF",
  0x06: "REQUEST_STREAM", 0x07: "REQUEST_CHANNEL", 0x08: "REQUEST_N", 0x09: "CANCEL",
  0x0a: "PAYLOAD", 0x0b: "ERROR", 0x0c: "METADATA_PUSH", 0x0d: "RESUME", 0x0e: "RESUME_OK",
};

function describe(f) {
  const streamId = f.readUInt32BE(0);
  const type = f.readUInt16BE(4) >> 10;
  const flags = f.readUInt16BE(4) & 0x3ff;
  const name = TYPES[type] || `0x${type.toString(16)}`;
  let extra = "";
  if (type === 0x03) {
    extra = ` R=${(flags & 0x80) ? 1 : 0} position=${f.readBigUInt64BE(6)}`;
  } else if (type === 0x0d) {
    const tokenLen = f.readUInt16BE(10);
    const p = 12 + tokenLen;
    extra = ` version=${f.readUInt16BE(6)}.${f.readUInt16BE(8)} token=${tokenLen}B`
      + ` lastReceivedServerPosition=${f.readBigUInt64BE(p)} firstAvailableClientPosition=${f.readBigUInt64BE(p + 8)}`;
  } else if (type === 0x0e) {
    extra = ` lastReceivedClientPosition=${f.readBigUInt64BE(6)}`;
  } else if (type === 0x01) {
    extra = ` resume=${(flags & 0x80) ? 1 : 0}`;
  } else if (type === 0x0b) {
    const end = f.length;
    extra = ` code=0x${f.readUInt32BE(6).toString(16)} ${JSON.stringify(f.slice(10, end).toString())}`;
  } else if (type === 0x08) {
    extra = ` n=${f.readUInt32BE(6)}`;
  }
  return `${name} stream=${streamId}${extra}`;
}

// Splits a byte stream into length-prefixed frames and logs them.
function tracer(label) {
  let buf = Buffer.alloc(0);
  let payloads = 0;
  let position = 0n; // bytes of resumable frames (streamId != 0) seen on this connection
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 3) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 3 + len) break;
      const f = buf.slice(3, 3 + len);
      buf = buf.slice(3 + len);
      if (len < 6) {
        console.error(`${label} short frame of ${len} bytes`);
        continue;
      }
      const type = f.readUInt16BE(4) >> 10;
      if (f.readUInt32BE(0) !== 0) position += BigInt(len);
      if (type === 0x0a) {
        payloads++;
        continue;
      }
      console.error(`${label} ${describe(f)} (after ${payloads} PAYLOAD, ${position} resumable bytes on this connection)`);
    }
  };
}

class Proxy {
  constructor(upstreamPort, trace) {
    this.upstreamPort = upstreamPort;
    this.trace = trace;
    this.port = 0;
    this.accepted = 0;
    this.sockets = new Set();
    this.server = null;
  }

  listen() {
    return new Promise((resolve, reject) => {
      const server = net.createServer((down) => this.accept(down));
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: this.port }, () => {
        server.removeListener("error", reject);
        this.server = server;
        this.port = server.address().port;
        resolve();
      });
    });
  }

  accept(down) {
    const n = ++this.accepted;
    const up = net.connect({ host: "127.0.0.1", port: this.upstreamPort });
    for (const s of [down, up]) {
      s.setNoDelay(true);
      this.sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        this.sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    if (this.trace) {
      const c2s = tracer(`[proxy conn ${n}] client->server`);
      const s2c = tracer(`[proxy conn ${n}] server->client`);
      down.on("data", c2s);
      up.on("data", s2c);
    }
    down.pipe(up);
    up.pipe(down);
  }

  start() {
    return this.listen();
  }

  kill() {
    if (this.trace) console.error(`[proxy] kill (${this.sockets.size} sockets)`);
    if (this.server) this.server.close();
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async restart() {
    for (let i = 0; i < 200; i++) {
      try {
        await this.listen();
        if (this.trace) console.error("[proxy] restarted");
        return;
      } catch (e) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    throw new Error(`cannot listen on ${this.port} again`);
  }
}

module.exports = { Proxy };
