#!/usr/bin/env python3
"""Outside-in conformance probe of `rsocket serve`, part two: the rows of
/work/shared/conformance.md that probe.py does not cover — R1, R3, R6-R8, R10-R13, R14b/c, R15b,
R16, R19-R21, R23 (1 KiB, stream 5), R24, R28, R29, R34, R35, R37 (scaled to 20,000 payloads),
R38, R45 (push counted), R46a. Raw frames built by hand over TCP, same style as probe.py.

Not covered here, on purpose:
  R9, R18  need a test application that makes server-initiated requests (the demo service never
           requests anything from the client);
  R15d     needs a SETUP acceptor that authenticates (the demo server accepts every SETUP).

Servers: plain; `--lease --lease-requests 2 --lease-ttl-ms 600`; `--resume`; `--mtu 65536`;
and, optionally, a fifth with `--lease --lease-requests 2 --lease-ttl-ms 600 --resume` for R28
(without it R28 is reported as SKIP). Prints one line per check, a final "N passed, N failed",
exits 1 on any failure. Every wait is bounded; the whole run takes well under 60 s.

    probe_more.py PLAIN_PORT LEASE_PORT RESUME_PORT MTU_PORT [LEASE_RESUME_PORT]
"""
import os, re, socket, struct, sys, time

PORTS = dict(plain=int(sys.argv[1]), lease=int(sys.argv[2]), resume=int(sys.argv[3]), mtu=int(sys.argv[4]),
             lease_resume=int(sys.argv[5]) if len(sys.argv) > 5 else None)
RESULTS = [0, 0]
AUDIT = []        # R21/R38 outbound violations seen in any server frame, over the whole run
N_ERRORS = [0]    # ERROR frames audited
N_PAYLOADS = [0]  # PAYLOAD frames audited

# Frame types
SETUP, LEASE, KEEPALIVE, REQ_RESP, REQ_FNF, REQ_STREAM, REQ_CHANNEL, REQUEST_N, CANCEL, PAYLOAD, \
    ERROR, METADATA_PUSH, RESUME, RESUME_OK = range(1, 15)
EXT = 0x3F
# Flags
I, M, F, C_, N_ = 0x200, 0x100, 0x80, 0x40, 0x20
KA_R = 0x80


def frame(sid, ftype, flags, body=b''):
    f = struct.pack('>IH', sid, (ftype << 10) | flags) + body
    return struct.pack('>I', len(f))[1:] + f


def setup(mdmime=b'message/x.rsocket.composite-metadata.v0', dmime=b'text/plain', flags=0, ka=20000, life=90000,
          token=None, sid=0, version=(1, 0)):
    body = struct.pack('>HHII', version[0], version[1], ka, life)
    if token is not None:
        flags |= 0x80
        body += struct.pack('>H', len(token)) + token
    body += bytes([len(mdmime)]) + mdmime + bytes([len(dmime)]) + dmime
    return frame(sid, SETUP, flags, body)


def resume(tok, last_server, first_client):
    return frame(0, RESUME, 0, struct.pack('>HHH', 1, 0, len(tok)) + tok + struct.pack('>QQ', last_server, first_client))


def route(r):
    r = r.encode(); return bytes([0xFE]) + struct.pack('>I', len(r) + 1)[1:] + bytes([len(r)]) + r


def pm(meta, data): return struct.pack('>I', len(meta))[1:] + meta + data


def ka(data, respond=True, pos=0, sid=0, extra=0):
    return frame(sid, KEEPALIVE, (KA_R if respond else 0) | extra, struct.pack('>Q', pos) + data)


def rr(sid, r, data=b'', flags=0):
    return frame(sid, REQ_RESP, M | flags, pm(route(r), data))


def rs(sid, r, n, data=b''):
    return frame(sid, REQ_STREAM, M, struct.pack('>I', n) + pm(route(r), data))


def code(f): return struct.unpack('>I', f[3][:4])[0]


def parts(f):
    """(metadata, data) of a PAYLOAD frame."""
    body = f[3]
    if f[2] & M:
        n = int.from_bytes(body[:3], 'big'); return body[3:3 + n], body[3 + n:]
    return b'', body


def audit(f):
    sid, t, fl, body = f
    if t == ERROR:
        N_ERRORS[0] += 1
        c = struct.unpack('>I', body[:4])[0] if len(body) >= 4 else None
        msg = body[4:]
        if c is None:
            AUDIT.append(('ERROR shorter than its code', f))
        elif 0x001 <= c <= 0x102 and sid != 0:
            AUDIT.append(('connection-level code 0x%x on stream %d' % (c, sid), f))
        elif 0x201 <= c <= 0x204 and sid == 0:
            AUDIT.append(('stream-level code 0x%x on stream 0' % c, f))
        elif c in (0, 0xFFFFFFFF):
            AUDIT.append(('reserved code 0x%x' % c, f))
        if msg.endswith(b'\x00'):
            AUDIT.append(('error data ends with NUL', f))
        try:
            msg.decode('utf-8')
        except UnicodeDecodeError:
            AUDIT.append(('error data not UTF-8', f))
    elif t == PAYLOAD:
        N_PAYLOADS[0] += 1
        if fl & (C_ | N_) == 0:
            AUDIT.append(('PAYLOAD with C=0 and N=0', (sid, t, fl, body[:40])))


class C:
    def __init__(s, port=None, nodelay=False):
        port = port or PORTS['plain']
        s.s = socket.create_connection(('127.0.0.1', port), timeout=2)
        if nodelay: s.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.buf = b''; s.eof = False

    def send(s, b):
        try:
            s.s.sendall(b)
        except OSError:
            s.eof = True

    def frames(s, t=0.5, maxn=10 ** 9):
        s.s.settimeout(t); out = []
        end = time.time() + t
        while len(out) < maxn:
            while len(s.buf) >= 3:
                n = int.from_bytes(s.buf[:3], 'big')
                if len(s.buf) < 3 + n: break
                f = s.buf[3:3 + n]; s.buf = s.buf[3 + n:]
                sid, tf = struct.unpack('>IH', f[:6]); fr = (sid, tf >> 10, tf & 0x3ff, f[6:])
                audit(fr); out.append(fr)
                if len(out) >= maxn: return out
            if time.time() > end or s.eof: break
            try:
                s.s.settimeout(max(0.001, end - time.time()))
                d = s.s.recv(1 << 20)
                if not d: s.eof = True; continue
                s.buf += d
            except socket.timeout:
                break
            except OSError:
                s.eof = True
        return out

    def until(s, pred, t=1.0):
        """Read until pred(frames so far) is true, EOF, or t seconds."""
        out = []; end = time.time() + t
        while time.time() < end and not s.eof:
            out += s.frames(min(0.05, max(0.001, end - time.time())))
            if pred(out): break
        return out

    def close(s):
        try: s.s.close()
        except OSError: pass


def check(name, cond, info=''):
    RESULTS[0 if cond else 1] += 1
    print(('PASS ' if cond else 'FAIL ') + name, '' if cond else repr(info)[:600])
    return cond


def live(c, sid=999):
    """The liveness probe: KEEPALIVE(R=1, 16 random bytes) echoed with R=0 and the same bytes,
    and a fresh request-response (echo) on stream `sid` answered."""
    rnd = os.urandom(16)
    c.send(ka(rnd)); c.send(rr(sid, 'echo', b'alive'))
    ok_ka = lambda fs: any(f[0] == 0 and f[1] == KEEPALIVE and not f[2] & KA_R and f[3][8:] == rnd for f in fs)
    ok_rr = lambda fs: any(f[0] == sid and f[1] == PAYLOAD and f[2] & N_ and parts(f)[1] == b'alive' for f in fs)
    fs = c.until(lambda fs: ok_ka(fs) and ok_rr(fs), 1.5)
    return (ok_ka(fs) and ok_rr(fs) and not c.eof), fs


def check_live(name, c, sid=999):
    ok, fs = live(c, sid)
    return check(name + ': liveness', ok, ('eof' if c.eof else 'open', fs[-4:]))


def conn(port=None, **kw):
    c = C(port); c.send(setup(**kw)); return c


def counts(c, sid):
    """fnf.count -> (fnf, push) on stream sid."""
    c.send(rr(sid, 'fnf.count'))
    fs = c.until(lambda fs: any(f[0] == sid and f[1] in (PAYLOAD, ERROR) for f in fs), 1.0)
    for f in fs:
        if f[0] == sid and f[1] == PAYLOAD:
            m = re.search(rb'fnf=(\d+) push=(\d+)', parts(f)[1])
            if m: return int(m.group(1)), int(m.group(2))
    return None


def expect_closed_with(name, c, codes, t=1.0, plain_close_ok=False):
    """ERROR on stream 0 with one of `codes`, then EOF (or, if allowed, a plain close)."""
    fs = c.until(lambda fs: False, t)
    errs = [(f[0], hex(code(f))) for f in fs if f[1] == ERROR]
    good_err = any(f[1] == ERROR and f[0] == 0 and code(f) in codes for f in fs)
    ok = c.eof and (good_err or (plain_close_ok and not errs))
    check(name, ok, ('eof' if c.eof else 'NOT closed after %.1fs' % t, 'errors', errs, 'frames', fs[:4]))
    return fs


def quiet(c, t=0.3, sids=None):
    """Frames that arrived in t seconds (only those on `sids`, if given); spontaneous server
    KEEPALIVE(R=1) frames are not replies and are left out."""
    fs = c.frames(t)
    fs = [f for f in fs if not (f[1] == KEEPALIVE and f[2] & KA_R)]
    return [f for f in fs if sids is None or f[0] in sids]


# ================================================================ R1 framing
c = C(nodelay=True)
for b in setup() + rr(1, 'echo', b'bytewise'):
    c.send(bytes([b])); time.sleep(0.001)
fs = c.until(lambda fs: any(f[0] == 1 for f in fs), 1.5)
check('R1a SETUP + REQUEST_RESPONSE written one byte per write: response arrives',
      any(f[0] == 1 and f[1] == PAYLOAD and parts(f)[1] == b'bytewise' for f in fs), fs)
c.close()
c = C()
c.send(setup() + rr(1, 'echo', b'one') + rr(3, 'echo', b'two') + ka(b'coalesced'))
fs = c.until(lambda fs: len([f for f in fs if f[1] in (PAYLOAD, KEEPALIVE)]) >= 3, 1.5)
check('R1b SETUP, 2 requests and a KEEPALIVE coalesced in one write: all answered',
      any(f[0] == 1 and parts(f)[1] == b'one' for f in fs if f[1] == PAYLOAD)
      and any(f[0] == 3 and parts(f)[1] == b'two' for f in fs if f[1] == PAYLOAD)
      and any(f[1] == KEEPALIVE and f[3][8:] == b'coalesced' for f in fs), fs)
c.close()

# ================================================================ R3 malformed header
bystander = conn()
c = conn(); c.send(b'\x00\x00\x03' + b'\x00\x00\x00')
expect_closed_with('R3a length 3 (< 6-byte header) after SETUP: ERROR 0x101 on stream 0 + close, or plain close',
                   c, (0x101,), plain_close_ok=True)
c.close()
c = conn(); c.send(b'\x00\x00\x0a' + b'\x00\x00\x00\x01')
c.s.shutdown(socket.SHUT_WR)
expect_closed_with('R3b length 10, 4 bytes, then EOF: closed (ERROR 0x101 on stream 0 or plain close)',
                   c, (0x101,), plain_close_ok=True)
c.close()
c = C(); c.send(b'\x00\x00\x03' + b'\x00\x00\x00')
expect_closed_with('R3c length 3 as the very first frame: closed (ERROR 0x101/0x1 on stream 0 or plain close)',
                   c, (0x101, 0x1), plain_close_ok=True)
c.close()
check_live('R3 another connection unaffected', bystander, 1)
c = conn(); check_live('R3 server still accepts new connections', c); c.close()
bystander.close()

# ================================================================ R6 / R7 / R8 unknown frames and flags
c = conn(); c.send(frame(0, 0x21, 0, b'abc'))
fs = c.until(lambda fs: False, 0.4)
if c.eof:
    check('R6 unknown type 0x21 with I=0: ERROR 0x101 on stream 0 then EOF',
          any(f[1] == ERROR and f[0] == 0 and code(f) == 0x101 for f in fs), fs)
else:
    rep = [f for f in fs if not (f[1] == KEEPALIVE and f[2] & KA_R)]
    check('R6 unknown type 0x21 with I=0: ignored (no reply, connection open)', rep == [], rep)
    check_live('R6 ignored unknown frame', c)
c.close()

c = conn()
c.send(frame(0, EXT, I, struct.pack('>I', 12345) + b'extension-data'))
c.send(frame(1, EXT, I, struct.pack('>I', 12345) + b'on stream 1'))
rep = quiet(c, 0.3)
check('R7 EXT (0x3F) with I=1, unknown extended type 12345 (stream 0 and 1): ignored', rep == [] and not c.eof, rep)
check_live('R7', c)
c.close()

c = conn()
c.send(rr(1, 'echo', b'cn-flags', flags=C_ | N_))
c.send(ka(b'ka-0x40', extra=0x40))
fs = c.until(lambda fs: any(f[0] == 1 for f in fs) and any(f[1] == KEEPALIVE and f[3][8:] == b'ka-0x40' for f in fs), 1.0)
check('R8 REQUEST_RESPONSE with undefined C and N bits set: answered normally',
      any(f[0] == 1 and f[1] == PAYLOAD and parts(f)[1] == b'cn-flags' and f[2] & N_ for f in fs), fs)
check('R8 KEEPALIVE R=1 with undefined bit 0x40 set: echoed with R=0',
      any(f[0] == 0 and f[1] == KEEPALIVE and not f[2] & KA_R and f[3][8:] == b'ka-0x40' for f in fs), fs)
check_live('R8', c)
c.close()

# ================================================================ R10 stream id in use
c = conn()
before = counts(c, 101)
c.send(rr(1, 'slow.300', b'first'))
c.send(rr(1, 'echo', b'second'))                                                   # request-response on id 1
c.send(rs(1, 'stream.3', 3))                                                       # request-stream on id 1
c.send(frame(1, REQ_FNF, M, pm(route('x'), b'fnf-on-1')))                          # fire-and-forget on id 1
c.send(frame(1, REQ_CHANNEL, M, struct.pack('>I', 3) + pm(route('echo'), b'ch')))  # channel on id 1
fs = c.until(lambda fs: any(f[0] == 1 and f[2] & C_ for f in fs), 1.5)
fs += quiet(c, 0.2, {1})
on1 = [(f[1], f[2], parts(f)[1] if f[1] == PAYLOAD else f[3]) for f in fs if f[0] == 1]
check('R10 requests on a stream id in use are ignored: stream 1 answers once, with the slow answer',
      len(on1) == 1 and on1[0][0] == PAYLOAD and on1[0][2] == b'first' and on1[0][1] & C_, on1)
after = counts(c, 103)
check('R10 FNF on the in-use id did not reach the handler (fnf count unchanged)',
      before is not None and after is not None and after[0] == before[0], (before, after))
check_live('R10a', c)
c.close()
c = conn()
c.send(rs(1, 'stream.infinite', 1))
fs = c.until(lambda fs: any(f[0] == 1 for f in fs), 1.0)
c.send(rr(1, 'echo', b'second'))
fs += quiet(c, 0.3, {1})
c.send(frame(1, REQUEST_N, 0, struct.pack('>I', 2)))
fs += c.until(lambda fs: False, 0.4)
on1 = [(f[1], f[2], parts(f)[1] if f[1] == PAYLOAD else f[3]) for f in fs if f[0] == 1]
check('R10b REQUEST_RESPONSE on a live stream id ignored; the stream continues (1 item, then 2 after REQUEST_N(2))',
      len(on1) == 3 and all(x[0] == PAYLOAD and x[2] != b'second' and not x[1] & C_ for x in on1), on1)
c.send(frame(1, CANCEL, 0))
check_live('R10b', c)
c.close()

# ================================================================ R11 id reuse after max
c = conn()
res = []
for sid, d in ((1, b'first-1'), (0x7fffffff, b'max-id'), (1, b'again-1')):
    c.send(rr(sid, 'echo', d))
    fs = c.until(lambda fs: any(f[0] == sid and f[1] in (PAYLOAD, ERROR) for f in fs), 1.0)
    res.append(any(f[0] == sid and f[1] == PAYLOAD and parts(f)[1] == d and f[2] & C_ for f in fs))
check('R11 id 1, then id 2^31-1, then id 1 again (completed) are all served', res == [True] * 3, res)
check_live('R11', c, 3)
c.close()

# ================================================================ R12 frames on unknown / completed streams
cases = [
    ('CANCEL on stream 0', frame(0, CANCEL, 0)),
    ('CANCEL on unknown stream 77', frame(77, CANCEL, 0)),
    ('CANCEL on completed stream 1', frame(1, CANCEL, 0)),
    ('ERROR 0x201 on unknown stream 77', frame(77, ERROR, 0, struct.pack('>I', 0x201) + b'x')),
    ('ERROR 0x203 on completed stream 1', frame(1, ERROR, 0, struct.pack('>I', 0x203) + b'x')),
    ('ERROR 0x203 (CANCELED, a stream code) on stream 0', frame(0, ERROR, 0, struct.pack('>I', 0x203) + b'x')),
    ('PAYLOAD(N|C) on unknown stream 77', frame(77, PAYLOAD, N_ | C_, b'x')),
    ('PAYLOAD(N) on stream 0', frame(0, PAYLOAD, N_, b'x')),
    ('PAYLOAD(N) on completed stream 1', frame(1, PAYLOAD, N_, b'x')),
    ('REQUEST_N on unknown stream 77', frame(77, REQUEST_N, 0, struct.pack('>I', 5))),
]
for name, fr in cases:
    c = conn(); c.send(rr(1, 'echo', b'done'))
    c.until(lambda fs: any(f[0] == 1 for f in fs), 1.0)
    c.send(fr)
    rep = quiet(c, 0.25)
    check('R12 %s: ignored, no reply' % name, rep == [] and not c.eof, ('eof' if c.eof else 'open', rep))
    check_live('R12 %s' % name, c)
    c.close()
c = conn()
before = counts(c, 1)
c.send(frame(5, METADATA_PUSH, M, b'pushed-on-5'))
rep = quiet(c, 0.25)
after = counts(c, 3)
check('R12 METADATA_PUSH on stream 5: no reply', rep == [] and not c.eof, rep)
check('R12 METADATA_PUSH on stream 5: not delivered (push count unchanged)',
      before is not None and after is not None and after[1] == before[1], (before, after))
check_live('R12 METADATA_PUSH on stream 5', c)
c.close()

# ================================================================ R13 stream 0 requests
c = conn()
c.send(frame(0, REQUEST_N, 0, struct.pack('>I', 10)))
c.send(rr(0, 'echo', b'on-zero'))
c.send(rs(0, 'stream.3', 3))
fs = c.until(lambda fs: False, 0.4)
check('R13 REQUEST_N / REQUEST_RESPONSE / REQUEST_STREAM on stream 0: no stream created (no PAYLOAD), connection open',
      not any(f[1] == PAYLOAD for f in fs) and not c.eof, ('eof' if c.eof else 'open', fs))
check_live('R13', c)
c.close()

# ================================================================ R14b/c, R15b, R16, R46a: setup rejects
for name, data, codes in [
        ('R14b REQUEST_RESPONSE as first frame: ERROR 0x1 on stream 0, close', rr(1, 'echo', b'x'), (0x1,)),
        ('R14c SETUP on stream 1: ERROR 0x1 on stream 0, close', setup(sid=1), (0x1,)),
        ('R15b keepalive interval 0: ERROR 0x1/0x2 on stream 0, close', setup(ka=0), (0x1, 0x2)),
        ('R15b max lifetime 0: ERROR 0x1/0x2 on stream 0, close', setup(life=0), (0x1, 0x2)),
        ('R16 SETUP R=1 + token to a server without resume: ERROR 0x3 on stream 0, close',
         setup(token=b'0123456789abcdef'), (0x3,)),
        ('R46a RESUME to a server without resume: ERROR 0x4 on stream 0, close',
         resume(b'0123456789abcdef', 0, 0), (0x4,))]:
    c = C(); c.send(data)
    expect_closed_with(name, c, codes)
    c.close()

# ================================================================ R19 / R20 ignored connection-level frames
c = conn(); c.send(setup()); c.send(setup(dmime=b'application/json', ka=0))
c.send(rr(1, 'echo', b'after-2nd-setup'))
fs = c.until(lambda fs: any(f[0] == 1 for f in fs), 1.0)
check('R19 second (and third, different) SETUP ignored: request answered, no ERROR',
      any(f[0] == 1 and f[1] == PAYLOAD and parts(f)[1] == b'after-2nd-setup' for f in fs)
      and not any(f[1] == ERROR for f in fs) and not c.eof, fs)
check_live('R19', c)
c.close()
c = conn()
for cd in (0x1, 0x2, 0x3, 0x4):
    c.send(frame(0, ERROR, 0, struct.pack('>I', cd) + b'from client'))
rep = quiet(c, 0.3)
check('R20 ERROR 0x1/0x2/0x3/0x4 on stream 0 from the client ignored', rep == [] and not c.eof,
      ('eof' if c.eof else 'open', rep))
check_live('R20', c)
c.close()

# ================================================================ R21 error codes and data
c = conn()
c.send(rr(1, 'error.0x201'))
c.send(rr(3, 'error.0x101'))
c.send(rr(5, 'error.0x1'))
fs = c.until(lambda fs: len([f for f in fs if f[1] == ERROR]) >= 3, 1.0)
e = {f[0]: f for f in fs if f[1] == ERROR}
check('R21 handler error: ERROR 0x201 on the request stream, data "demo error" without trailing NUL',
      1 in e and code(e[1]) == 0x201 and e[1][3][4:] == b'demo error', fs)
check('R21 handler answering a connection-level code (0x101, 0x1): never sent on a stream > 0',
      3 in e and 5 in e and not (1 <= code(e[3]) <= 0x102) and not (1 <= code(e[5]) <= 0x102),
      [(k, hex(code(v))) for k, v in e.items()])
check_live('R21 handler errors', c)
c.close()
c = C(); c.send(setup(version=(2, 0)))
fs = c.until(lambda fs: False, 0.6)
e = [f for f in fs if f[1] == ERROR]
check('R21 setup reject: on stream 0, code 0x1-0x3, data without trailing NUL',
      e and e[0][0] == 0 and code(e[0]) in (1, 2, 3) and not e[0][3].endswith(b'\x00') and c.eof, fs)
c.close()
c = C(PORTS['lease']); c.send(setup(flags=0x40))
fs = c.until(lambda fs: any(f[1] == LEASE for f in fs), 1.0)
for i in range(3): c.send(rr(2 * i + 1, 'echo', b'r%d' % i))
fs = c.until(lambda fs: len([f for f in fs if f[0] in (1, 3, 5)]) >= 3, 1.0)
e = [f for f in fs if f[1] == ERROR]
check('R21 lease reject: ERROR 0x202 on the third request\'s stream, data without trailing NUL',
      len(e) == 1 and e[0][0] == 5 and code(e[0]) == 0x202 and not e[0][3].endswith(b'\x00'), fs)
c.close()

# ================================================================ R23 / R24 keepalive
c = conn()
kib = os.urandom(1024)
c.send(ka(kib))
fs = c.until(lambda fs: any(f[1] == KEEPALIVE and not f[2] & KA_R for f in fs), 1.0)
k = [f for f in fs if f[1] == KEEPALIVE and not f[2] & KA_R]
check('R23 KEEPALIVE R=1 with 1 KiB data: echoed on stream 0 with R=0, byte for byte',
      len(k) == 1 and k[0][0] == 0 and k[0][3][8:] == kib, [(f[0], f[2], len(f[3])) for f in fs])
c.send(ka(b'stream-five-ka', sid=5))
rep = quiet(c, 0.3)
check('R23 KEEPALIVE on stream 5 ignored (no reply, connection open)', rep == [] and not c.eof,
      ('eof' if c.eof else 'open', rep))
check_live('R23 stream-5 keepalive', c)
c.close()
c = conn(ka=300, life=30000)
c.send(ka(b'do-not-answer', respond=False))
fs = c.frames(0.7)
check('R24 KEEPALIVE R=0 not answered within 2x the 300 ms interval',
      not any(f[1] == KEEPALIVE and not f[2] & KA_R for f in fs) and not c.eof, fs)
check_live('R24', c)
c.close()

# ================================================================ R28 lease restarted after resume
if PORTS['lease_resume']:
    tok = os.urandom(16)
    c = C(PORTS['lease_resume']); c.send(setup(flags=0x40, token=tok))
    fs = c.until(lambda fs: any(f[1] == LEASE for f in fs), 1.0)
    check('R28 lease+resume session: LEASE after SETUP', any(f[1] == LEASE for f in fs), fs)
    # spend the whole lease (N=2) at once, well before the half-TTL renewal (300 ms)
    reqs = [rr(1, 'echo', b'pre-resume-1'), rr(3, 'echo', b'pre-resume-2')]
    c.send(b''.join(reqs))
    fs = c.until(lambda fs: len([f for f in fs if f[0] in (1, 3) and f[1] in (PAYLOAD, ERROR)]) >= 2, 1.0)
    got = [f for f in fs if f[0] in (1, 3)]
    # implied position: tracked frames (PAYLOAD/ERROR/...) without the 3-byte length; LEASE not tracked
    pos = sum(6 + len(f[3]) for f in got)
    check('R28 both leased requests served before the resume',
          len([f for f in got if f[1] == PAYLOAD]) == 2, fs)
    c.close()
    time.sleep(0.05)
    c = C(PORTS['lease_resume']); c.send(resume(tok, pos, 0))
    fs = c.until(lambda fs: any(f[1] == RESUME_OK for f in fs), 1.0)
    t_ok = time.time()
    fs += c.until(lambda fs: any(f[1] == LEASE for f in fs), 0.15)   # the renewal timer would need 300 ms
    kinds = [f[1] for f in fs]
    ok_i = kinds.index(RESUME_OK) if RESUME_OK in kinds else None
    lease_after = [f for f in fs[ok_i + 1:] if f[1] == LEASE] if ok_i is not None else []
    check('R28 RESUME_OK, then at once (< 150 ms) a fresh LEASE (stream 0, TTL>0, N>0)',
          ok_i is not None and lease_after and lease_after[0][0] == 0
          and all(x > 0 for x in struct.unpack('>II', lease_after[0][3][:8])),
          ('%.3fs' % (time.time() - t_ok), [(f[0], f[1], f[3][:8]) for f in fs]))
    sent_bytes = sum(len(r) - 3 for r in reqs)
    check('R28 RESUME_OK carries the client bytes the server received',
          ok_i is not None and struct.unpack('>Q', fs[ok_i][3][:8])[0] == sent_bytes,
          (fs[ok_i][3] if ok_i is not None else None, sent_bytes))
    c.send(rr(5, 'echo', b'post-resume'))
    fs = c.until(lambda fs: any(f[0] == 5 for f in fs), 1.0)
    check('R28 request after the new LEASE served (the old one was spent)',
          any(f[0] == 5 and f[1] == PAYLOAD and parts(f)[1] == b'post-resume' for f in fs), fs)
    c.close()
else:
    print('SKIP R28 (needs a 5th server with --lease --resume; pass its port as the 5th argument)')

# ================================================================ R29 request n must be > 0
c = conn()
c.send(rs(1, 'stream.infinite', 0))
fs = quiet(c, 0.4, {1})
check('R29 REQUEST_STREAM n=0: no payloads (ignored or ERROR 0x204)',
      not any(f[1] == PAYLOAD for f in fs) and all(f[1] == ERROR and code(f) == 0x204 for f in fs),
      [(f[1], f[2], f[3][:20]) for f in fs])
if not any(f[1] == ERROR for f in fs): c.send(frame(1, CANCEL, 0))
c.send(rs(3, 'stream.infinite', 1))
fs = c.until(lambda fs: any(f[0] == 3 for f in fs), 1.0)
c.send(frame(3, REQUEST_N, 0, struct.pack('>I', 0)))
fs += quiet(c, 0.4, {3})
p = [f for f in fs if f[0] == 3 and f[1] == PAYLOAD]
er = [f for f in fs if f[0] == 3 and f[1] == ERROR]
check('R29 REQUEST_N n=0: no payload beyond the 1 credit (ignored or ERROR 0x204)',
      len(p) == 1 and all(code(f) == 0x204 for f in er), [(f[1], f[2], f[3][:20]) for f in fs])
c.send(frame(3, CANCEL, 0))
c.send(rs(5, 'stream.infinite', 1))
fs = c.until(lambda fs: any(f[0] == 5 for f in fs), 1.0)
c.send(frame(5, REQUEST_N, 0, struct.pack('>I', 0x80000000)))
fs += quiet(c, 0.4, {5})
p = [f for f in fs if f[0] == 5 and f[1] == PAYLOAD]
er = [f for f in fs if f[0] == 5 and f[1] == ERROR]
check('R29 REQUEST_N 0x80000000 (top bit set): no payload beyond the 1 credit (ignored or ERROR 0x204)',
      len(p) == 1 and all(code(f) == 0x204 for f in er), (len(p), [(f[1], f[2], f[3][:20]) for f in fs[:5]]))
c.send(frame(5, CANCEL, 0))
check_live('R29', c)
c.close()

# ================================================================ R34 / R35 inbound fragmentation
pad = b'p' * 100; mime = b'application/x.pad'
meta = route('echo') + bytes([len(mime) - 1]) + mime + struct.pack('>I', len(pad))[1:] + pad
data = bytes(range(256)) * 2
c = conn()
# every non-final fragment carries >= 64 bytes (rsocket-java's minimum fragment size, A7)
c.send(frame(1, REQ_RESP, F | M, pm(meta[:80], b'')))
c.send(frame(1, PAYLOAD, F | M | N_, pm(meta[80:], data[:200])))
c.send(frame(1, PAYLOAD, N_, data[200:]))
fs = c.until(lambda fs: any(f[0] == 1 and f[2] & C_ or f[0] == 1 and f[1] == ERROR for f in fs), 1.0)
p = [f for f in fs if f[0] == 1 and f[1] == PAYLOAD]
check('R34 REQUEST_RESPONSE(F) + PAYLOAD(F) + PAYLOAD: echo equals the reassembled metadata and data',
      b''.join(parts(f)[0] for f in p) == meta and b''.join(parts(f)[1] for f in p) == data, fs)
c.send(frame(3, REQ_STREAM, F | M, struct.pack('>I', 5) + pm(meta[:80], b'')))
c.send(frame(3, PAYLOAD, F | M | N_, pm(meta[80:], data[:200])))
c.send(frame(3, PAYLOAD, N_, data[200:]))
fs = c.until(lambda fs: any(f[0] == 3 and (f[2] & C_ or f[1] == ERROR) for f in fs), 1.0)
p = [f for f in fs if f[0] == 3 and f[1] == PAYLOAD]
nx = [f for f in p if f[2] & N_]
check('R34 REQUEST_STREAM(F, n=5) + PAYLOAD(F) + PAYLOAD: one reassembled item then COMPLETE',
      len(nx) == 1 and parts(nx[0])[1] == data and parts(nx[0])[0] == meta and p and p[-1][2] & C_,
      [(f[0], f[1], f[2], len(f[3])) for f in fs])
check_live('R34', c)
c.close()

c = conn()
c.send(frame(1, REQ_CHANNEL, M, struct.pack('>I', 10) + pm(route('echo'), b'first')))
fs = c.until(lambda fs: any(f[0] == 1 and f[1] == REQUEST_N for f in fs) and any(f[0] == 1 and f[1] == PAYLOAD for f in fs), 1.0)
got_rn = any(f[0] == 1 and f[1] == REQUEST_N for f in fs)
c.send(frame(1, PAYLOAD, F | N_, data[:200]))
c.send(frame(1, PAYLOAD, F | C_ | N_, data[200:]))    # F and C: F is ignored, this is the last fragment
fs += c.until(lambda fs: any(f[0] == 1 and f[1] == PAYLOAD and f[2] & C_ for f in fs), 1.0)
p = [f for f in fs if f[0] == 1 and f[1] == PAYLOAD]
nx = [parts(f)[1] for f in p if f[2] & N_]
check('R35 channel: last fragment with F=1 and C=1 treated as final; echo of the reassembled payload, then COMPLETE',
      got_rn and nx == [b'first', data] and p[-1][2] & C_ and not any(f[0] == 1 and f[1] == ERROR for f in fs),
      (got_rn, [(f[1], f[2], len(f[3])) for f in fs if f[0] == 1]))
check_live('R35', c)
c.close()

# ================================================================ R37 long channel (10^6 scaled to 20,000)
TOTAL = 20000
c = conn()
c.send(frame(1, REQ_CHANNEL, M, struct.pack('>I', 0x7fffffff) + pm(route('echo'), b'0')))
sent, credit, echoed, done, bad, nexts = 1, 0, 0, False, [], []
end = time.time() + 20
while not done and time.time() < end and not c.eof:
    for f in c.frames(0.01):
        if f[0] != 1: continue
        if f[1] == REQUEST_N: credit += struct.unpack('>I', f[3][:4])[0]
        elif f[1] == PAYLOAD:
            if f[2] & N_: nexts.append(parts(f)[1])
            if f[2] & C_: done = True
        else: bad.append(f); done = True
    k = min(credit, TOTAL - sent, 2000)
    if k > 0:
        c.send(b''.join(frame(1, PAYLOAD, N_ | (C_ if sent + i + 1 == TOTAL else 0), b'%d' % (sent + i)) for i in range(k)))
        sent += k; credit -= k
check('R37 echo channel of %d payloads (server credit honoured) echoes all, in order, then completes' % TOTAL,
      done and not bad and nexts == [b'%d' % i for i in range(TOTAL)],
      (done, sent, len(nexts), bad[:2], 'credit left', credit))
check_live('R37', c)
c.close()

# ================================================================ R38 PAYLOAD without C and N
c = conn()
c.send(frame(1, REQ_CHANNEL, M, struct.pack('>I', 10) + pm(route('echo'), b'first')))
c.until(lambda fs: any(f[0] == 1 and f[1] == REQUEST_N for f in fs) and any(f[0] == 1 and f[1] == PAYLOAD for f in fs), 1.0)
c.send(frame(1, PAYLOAD, 0, b'bad-no-C-no-N'))
fs = quiet(c, 0.3, {1})
if any(f[1] == ERROR for f in fs):
    check('R38 inbound PAYLOAD with C=0 N=0 on a live channel: stream ERROR (0x201-0x204)',
          all(f[1] in (ERROR, CANCEL) for f in fs) and all(0x201 <= code(f) <= 0x204 for f in fs if f[1] == ERROR), fs)
else:
    check('R38 inbound PAYLOAD with C=0 N=0 on a live channel: ignored (not echoed)', fs == [], fs)
    c.send(frame(1, PAYLOAD, N_ | C_, b'good'))
    fs = c.until(lambda fs: any(f[0] == 1 and f[2] & C_ for f in fs), 1.0)
    check('R38 ... and the channel still works afterwards',
          [parts(f)[1] for f in fs if f[0] == 1 and f[1] == PAYLOAD and f[2] & N_] == [b'good'], fs)
check_live('R38', c)
c.close()
# outbound fragments on the MTU server must also carry N (or C)
c = conn(PORTS['mtu'])
c.send(rr(1, 'blob.300000'))
fs = c.until(lambda fs: any(f[0] == 1 and f[2] & C_ for f in fs), 3.0)
p = [f for f in fs if f[0] == 1 and f[1] == PAYLOAD]
check('R38 outbound: fragments of a 300 KB answer (MTU 64 KiB) all carry N or C',
      len(p) > 1 and all(f[2] & (N_ | C_) for f in p) and b''.join(parts(f)[1] for f in p) == bytes(i % 256 for i in range(300000)),
      [(f[2], len(f[3])) for f in p])
c.close()

# ================================================================ R45 METADATA_PUSH delivered
c = conn()
before = counts(c, 1)
c.send(frame(0, METADATA_PUSH, M, b'pushed-metadata'))
rep = quiet(c, 0.25)
after = counts(c, 3)
check('R45 METADATA_PUSH (stream 0, M, no length prefix): no reply', rep == [] and not c.eof, rep)
check('R45 METADATA_PUSH delivered to the app (push count +1)',
      before is not None and after is not None and after[1] == before[1] + 1 and after[0] == before[0], (before, after))
check_live('R45', c)
c.close()

# ================================================================ R21 / R38 over every frame of the run
check('R21 every ERROR seen (%d): codes 0x1-0x102 on stream 0 only, 0x201-0x204 on streams > 0, UTF-8 data without trailing NUL'
      % N_ERRORS[0], not [a for a in AUDIT if 'PAYLOAD' not in a[0]], [a for a in AUDIT if 'PAYLOAD' not in a[0]][:5])
check('R38 every server PAYLOAD seen (%d) has C or N set' % N_PAYLOADS[0],
      not [a for a in AUDIT if 'PAYLOAD' in a[0]], [a for a in AUDIT if 'PAYLOAD' in a[0]][:5])

print(f"{RESULTS[0]} passed, {RESULTS[1]} failed")
sys.exit(1 if RESULTS[1] else 0)
