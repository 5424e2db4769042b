#!/usr/bin/env python3
"""Outside-in attack probe of `rsocket serve`: hand-built frames over raw TCP for the "Attacks"
table of /work/shared/conformance.md (A1-A11, A13, A15-A18; A12 and A14 are in probe.py),
scaled down to run in under a minute on a 2-core machine. After each attack a fresh connection
must pass the liveness probe (KEEPALIVE R=1 echoed with R=0, and an echo request-response), and
the server's RSS (read from /proc, the server found by its listening port) must stay under
RSS_LIMIT. Prints one line per check and a final "N passed, N failed"; exits 1 on any failure.

    attacks.py PLAIN_PORT [RESUME_PORT [MTU_PORT [LEASE_PORT]]]

The servers are `rsocket serve` with default limits (rsocket-proto connection/config.rs):
PLAIN plain, RESUME with --resume, MTU with --mtu 65536, LEASE with --lease --lease-requests 2
--lease-ttl-ms 600 (as run.sh starts them). The limits targeted:
  frame_read_timeout 30 s (A1), setup_timeout 10 s (A2), max_cancels_per_window 10,000/s (A3),
  max_concurrent_streams 100,000 (A4), max_payload_size 64 MiB and max_reassembly_bytes
  128 MiB (A6), min_fragment_size 64 (A7), max_keepalive_data 64 KiB and the 30 s write
  timeout (A8, A10), max_ignored_per_window 100,000/s (A9), max_connections 10,000 and
  max_connections_per_ip 1,000 (A16).
The slow tests (A1's trickle, A2's idle sockets, A8's and A10's peers that never read) run in
background threads while the others run; A8's and A10's go to the MTU server when given, so
that their memory shows alone in its RSS. Connections come from a random 127/8 source address
of each run (so that TIME_WAIT sockets of an earlier run cannot stall connects).

Run it against freshly started servers: the allocator keeps freed memory, so a server's RSS
after an earlier run (or after probe.py) is the baseline every RSS check here starts from.
"""
import os, random, select, socket, struct, sys, threading, time

PORTS = dict(plain=int(sys.argv[1]))
for i, k in enumerate(['resume', 'mtu', 'lease']):
    if len(sys.argv) > 2 + i:
        PORTS[k] = int(sys.argv[2 + i])
RESULTS = [0, 0]
RSS_LIMIT = 200 << 20
T0 = time.time()
ERRORS = []   # (stream, code, message bytes) of every ERROR frame received (A18)
LOCK = threading.Lock()

# ---- frames --------------------------------------------------------------------------------
def frame(sid, ftype, flags, body=b''):
    f = struct.pack('>IH', sid, (ftype << 10) | flags) + body
    return struct.pack('>I', len(f))[1:] + f
COMPOSITE = b'message/x.rsocket.composite-metadata.v0'
def setup(mdmime=COMPOSITE, dmime=b'text/plain', flags=0, ka=20000, life=90000, meta=None, data=b''):
    body = struct.pack('>HHII', 1, 0, ka, life) + bytes([len(mdmime)]) + mdmime + bytes([len(dmime)]) + dmime
    if meta is not None:
        flags |= 0x100
        body += pm(meta, data)
    else:
        body += data
    return frame(0, 1, flags, body)
def rsetup(tok, ka=20000, life=90000):
    dm = b'text/plain'
    body = struct.pack('>HHIIH', 1, 0, ka, life, len(tok)) + tok + bytes([len(COMPOSITE)]) + COMPOSITE + bytes([len(dm)]) + dm
    return frame(0, 1, 0x80, body)
def route(r):
    r = r.encode() if isinstance(r, str) else r
    return bytes([0xFE]) + struct.pack('>I', len(r) + 1)[1:] + bytes([len(r)]) + r
def entry(wk_id, value):
    """Composite-metadata entry with a well-known MIME id."""
    return bytes([0x80 | wk_id]) + struct.pack('>I', len(value))[1:] + value
def pm(meta, data): return struct.pack('>I', len(meta))[1:] + meta + data
def rr(sid, r, data=b''): return frame(sid, 4, 0x100, pm(route(r), data))
def rs(sid, r, n, data=b''): return frame(sid, 6, 0x100, struct.pack('>I', n) + pm(route(r), data))
def reqn(sid, n): return frame(sid, 8, 0, struct.pack('>I', n))
def cancel(sid): return frame(sid, 9, 0)
def keepalive(data, respond=True, pos=0): return frame(0, 3, 0x80 if respond else 0, struct.pack('>Q', pos) + data)
def code(f): return struct.unpack('>I', f[3][:4])[0] if len(f[3]) >= 4 else None
def conn_errors(fs): return [code(f) for f in fs if f[1] == 11 and f[0] == 0]
def stream_frames(fs, sid): return [f for f in fs if f[0] == sid]

def rand_ip(): return '127.%d.%d.%d' % (random.randrange(1, 255), random.randrange(256), random.randrange(1, 255))
# Connections come from a loopback address of this run's own: the server-side TIME_WAIT
# sockets a previous run left behind cannot collide with our ports (a collision stalls a
# connect for a second).
SRC = rand_ip()
class C:
    def __init__(s, port=None, src=None, timeout=5):
        port = port or PORTS['plain']
        s.s = socket.socket(); s.s.settimeout(timeout)
        try: s.s.setsockopt(socket.IPPROTO_IP, 24, 1)   # IP_BIND_ADDRESS_NO_PORT
        except OSError: pass
        s.s.bind((src or SRC, 0)); s.s.connect(('127.0.0.1', port))
        s.buf = b''; s.eof = False; s.broken = False; s.port = port
        s.lport = s.s.getsockname()[1]
    def send(s, b):
        try:
            s.s.settimeout(30); s.s.sendall(b); return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            s.broken = True; return False
    def frames(s, t=0.5, maxn=10**9, until=None):
        """Frames for up to t seconds (or maxn frames, or until until(frame) is true)."""
        out = []; end = time.time() + t
        while len(out) < maxn:
            buf = s.buf; off = 0; size = len(buf); done = False
            while size - off >= 3:
                n = int.from_bytes(buf[off:off + 3], 'big')
                if size - off < 3 + n: break
                sid, tf = struct.unpack_from('>IH', buf, off + 3)
                fr = (sid, tf >> 10, tf & 0x3ff, buf[off + 9:off + 3 + n])
                off += 3 + n
                if fr[1] == 11:
                    with LOCK: ERRORS.append((sid, code(fr), fr[3][4:]))
                out.append(fr)
                if len(out) >= maxn or (until and until(fr)): done = True; break
            s.buf = buf[off:]
            if done: return out
            left = end - time.time()
            if left <= 0 or s.eof: break
            s.s.settimeout(left)
            try:
                d = s.s.recv(1 << 20)
                if not d: s.eof = True; break
                s.buf += d
            except socket.timeout: break
            except (ConnectionResetError, OSError): s.eof = True; break
        return out
    def until_eof(s, t):
        t0 = time.time(); fs = []
        while not s.eof and time.time() - t0 < t:
            fs += s.frames(min(0.5, t - (time.time() - t0)))
        return fs, time.time() - t0
    def ping(s, t=1.0):
        """Keepalive echo on this connection."""
        data = os.urandom(16)
        if not s.send(keepalive(data)): return False
        mine = lambda f: f[0] == 0 and f[1] == 3 and not f[2] & 0x80 and f[3][8:] == data
        return any(mine(f) for f in s.frames(t, until=mine))
    def close(s):
        try: s.s.close()
        except OSError: pass

def live(port=None, t=2.0):
    """The liveness probe: KEEPALIVE(R=1, 16 random bytes) echoed with R=0, and an echo
    request-response answered, on a fresh connection."""
    try:
        c = C(port)
    except OSError as e:
        return False, f'connect failed: {e}'
    data, probe = os.urandom(16), os.urandom(8)
    c.send(setup() + keepalive(data) + rr(1, 'echo', probe))
    fs = []; end = time.time() + t
    while time.time() < end and not c.eof:
        fs += c.frames(end - time.time(), until=lambda f: f[0] == 1)
        if any(f[0] == 1 for f in fs) and any(f[1] == 3 for f in fs): break
    c.close()
    ka_ok = any(f[0] == 0 and f[1] == 3 and not f[2] & 0x80 and f[3][8:] == data for f in fs)
    rr_ok = any(f[0] == 1 and f[1] == 10 and f[3].endswith(probe) for f in fs)
    return ka_ok and rr_ok, fs[:4]

def note(*a): print('     ', *a, flush=True)
def check(name, cond, info='', extra=''):
    RESULTS[0 if cond else 1] += 1
    line = ('PASS ' if cond else 'FAIL ') + name
    if extra: line += f'  [{extra}]'
    if not cond and info != '': line += '  ' + repr(info)[:400]
    print(line, flush=True)
    return cond
def check_live(tag, port=None):
    ok, info = live(port)
    return check(f'{tag}: liveness probe on a fresh connection', ok, info)

# ---- the server process, from outside ------------------------------------------------------
def tcp_table():
    rows = []
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as fh:
                next(fh)
                for line in fh:
                    p = line.split()
                    rows.append((int(p[1].split(':')[1], 16), int(p[2].split(':')[1], 16), p[3], p[9]))
        except OSError:
            pass
    return rows
def find_pid(port):
    inodes = {r[3] for r in tcp_table() if r[0] == port and r[2] == '0A'}
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            for fd in os.listdir(f'/proc/{pid}/fd'):
                l = os.readlink(f'/proc/{pid}/fd/{fd}')
                if l.startswith('socket:[') and l[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None
def status(pid, key):
    try:
        with open(f'/proc/{pid}/status') as fh:
            for line in fh:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
def rss(pid): return status(pid, 'VmRSS')
def cpu(pid):
    try:
        with open(f'/proc/{pid}/stat') as fh:
            p = fh.read().rsplit(')', 1)[1].split()
        return (int(p[11]) + int(p[12])) / os.sysconf('SC_CLK_TCK')
    except OSError:
        return None
def logsize(pid):
    try:
        p = os.readlink(f'/proc/{pid}/fd/2')
        return os.stat(p).st_size if os.path.isfile(p) else None
    except OSError:
        return None
def server_side_open(port, client_port):
    """True while the server's end of our connection is ESTABLISHED (or CLOSE_WAIT: the
    server has not closed it)."""
    return any(r[0] == port and r[1] == client_port and r[2] in ('01', '08') for r in tcp_table())
def mib(b): return f'{(b or 0) / 1048576:.1f} MiB'

PIDS = {k: find_pid(p) for k, p in PORTS.items()}
PID = PIDS['plain']

class Sampler(threading.Thread):
    """Samples the RSS of every server every 50 ms."""
    def __init__(s):
        super().__init__(daemon=True); s.samples = {k: [] for k in PIDS}; s.stop = False
    def run(s):
        while not s.stop:
            t = time.time()
            for k, pid in PIDS.items():
                if pid: s.samples[k].append((t, rss(pid) or 0))
            time.sleep(0.05)
    def peak(s, t1, t2=None, which='plain'):
        t2 = t2 or time.time() + 1
        v = [r for t, r in s.samples[which] if t1 - 0.06 <= t <= t2]
        return max(v) if v else (rss(PIDS[which]) or 0)
SAMPLER = Sampler(); SAMPLER.start()

HWM_SEEN = {k: status(p, 'VmHWM') or 0 for k, p in PIDS.items() if p}
def rss_check(tag, t1, which='plain', allow=None):
    """The RSS peak since t1: the 50 ms samples, and VmHWM when it rose since the previous
    check (a short peak the samples may miss; this can only overstate the phase's peak)."""
    peak = SAMPLER.peak(t1, which=which)
    hwm = status(PIDS[which], 'VmHWM') or 0
    if hwm > HWM_SEEN.get(which, 0):
        peak = max(peak, hwm); HWM_SEEN[which] = hwm
    if allow:   # (RSS at the start, the limit under test): growth within twice the limit + 32 MiB
        # (a buffer growing past the limit is copied into one twice as large: both live for a moment)
        base, lim = allow
        return check(f'{tag}: server RSS growth bounded by the {mib(lim)} limit (< 2 x limit + 32 MiB)', PIDS[which] is not None and peak - base < 2 * lim + (32 << 20),
                     f'RSS {mib(base)} -> peak {mib(peak)}', f'RSS {mib(base)} -> peak {mib(peak)}')
    return check(f'{tag}: server RSS bounded (< {mib(RSS_LIMIT)})', PIDS[which] is not None and 0 < peak < RSS_LIMIT,
                 f'peak {mib(peak)} (pid {PIDS[which]})', f'peak {mib(peak)}')

print(f'servers: ' + ', '.join(f'{k}={PORTS[k]} pid {PIDS[k]} RSS {mib(rss(PIDS[k]) if PIDS[k] else 0)}' for k in PORTS), flush=True)
check('server process found from its port (for RSS)', PID is not None, PORTS)
check_live('baseline')

# ---- A6: never-completing fragments (first: the most memory-hungry, from a clean baseline)
MiB = 1 << 20
t1 = time.time(); r0 = rss(PID)
c = C(); c.send(setup()); c.frames(0.1)
c.send(frame(1, 4, 0x180, pm(route('echo'), b'a' * MiB)))
frag = frame(1, 10, 0xA0, b'b' * MiB)
fs = []; sent = 1
while sent < 110 and not c.eof:
    c.send(frag * 4); sent += 4
    fs += c.frames(0.02)
    if any(f[0] == 1 for f in fs): break
fs += c.frames(0.5)
c.send(frame(1, 10, 0x20, b'end'))
e = stream_frames(fs, 1)
check('A6 fragments beyond the 64 MiB payload limit: ERROR[REJECTED] on the stream at the cap',
      len(e) == 1 and e[0][1] == 11 and code(e[0]) in (0x202, 0x204) and 64 <= sent <= 100 and not c.eof,
      (sent, e[:1], conn_errors(fs), c.eof), f'refused after {sent} MiB sent')
check('A6 connection alive after the refused payload', c.ping(), '')
c.close()
rss_check('A6 one stream', t1, allow=(r0, 64 << 20))
t1 = time.time()
c = C(); c.send(setup()); c.frames(0.1)
for sid in (1, 3, 5): c.send(frame(sid, 4, 0x180, pm(route('echo'), b'a' * MiB)))
sent = 3; fs = []; r0 = rss(PID)
while sent < 180 and not c.eof and not c.broken:
    for sid in (1, 3, 5): c.send(frame(sid, 10, 0xA0, b'c' * MiB))
    sent += 3
    if sent % 30 == 0 or sent > 120: fs += c.frames(0.02)
f2, _ = c.until_eof(3); fs += f2
# (what we count as sent includes what was still in the socket buffers when the server closed)
check('A6 three partial payloads over the 128 MiB connection budget: ERROR[CONNECTION_ERROR] then EOF',
      c.eof and conn_errors(fs) == [0x101] and 128 <= sent <= 165, (sent, conn_errors(fs), c.eof), f'closed after {sent} MiB sent')
c.close()
rss_check('A6 connection budget', t1, allow=(r0, 128 << 20))
time.sleep(0.3)
t1 = time.time(); r0 = rss(PID)
c = C(); c.send(setup()); c.frames(0.1)
c.send(b''.join(frame(2 * i + 1, 4, 0x180, pm(route('echo'), b'p' * 1024)) for i in range(10000)))
ok = c.ping(3); r1 = rss(PID)
c.send(b''.join(cancel(2 * i + 1) for i in range(10000)))
fs = c.frames(0.5)
check('A6 10,000 parallel partial reassemblies: connection up, memory bounded, cancels silent',
      ok and c.ping() and r1 < RSS_LIMIT and not [f for f in fs if f[0] != 0],
      (ok, mib(r1), fs[:2]), f'RSS {mib(r0)} -> {mib(r1)} with 10 MiB held')
c.close()
check_live('A6')

# ---- A1: lying length prefixes -------------------------------------------------------------
# Many connections each declare a 16 MB frame and send only part of it: the server must not
# reserve memory from the declared length (VmData would grow 16 MB per connection).
a1_start = t1 = time.time(); vd0 = status(PID, 'VmData'); r0 = rss(PID)
liars = []
for i in range(50):
    c = C(); c.send(setup() + b'\xff\xff\xff' + struct.pack('>IH', 1, (4 << 10)) + b'z' * (64 << 10)); liars.append(c)
time.sleep(0.7)
vd1 = status(PID, 'VmData'); r1 = rss(PID)
check('A1 50 connections declaring 16 MB frames: no allocation from the declared length',
      vd1 - vd0 < 200 << 20 and r1 - r0 < 50 << 20,
      (mib(vd1 - vd0), mib(r1 - r0)), f'VmData +{mib(vd1 - vd0)}, RSS +{mib(r1 - r0)} (50 x 16 MB declared)')
alive_liars = sum(1 for c in liars if not c.frames(0.01) and not c.eof)
check('A1 liars are not answered or dropped before the frame deadline', alive_liars == 50, alive_liars)
for c in liars[1:]: c.close()
check_live('A1')

BG = {}
def bg(name):
    def deco(fn):
        th = threading.Thread(target=lambda: BG.__setitem__(name, fn()), daemon=True)
        th.start(); BG[name + '.thread'] = th
        return fn
    return deco

# A1 trickle: one byte per second into the declared 16 MB frame (liars[0]); the frame-read
# deadline (30 s) must close it.
@bg('A1')
def a1_trickle():
    c = liars[0]; t = time.time(); fs = []
    while time.time() - t < 45 and not c.eof:
        if not c.send(b'z'): break
        fs += c.frames(1.0)
    if not c.eof: fs += c.frames(2.0)
    return dict(eof=c.eof or c.broken, t=time.time() - a1_start, errs=conn_errors(fs),
                other=[f for f in fs if f[1] != 11])

# ---- A2: slowloris on setup (background) ---------------------------------------------------
# 500 idle sockets, one SETUP drip-fed a byte every 0.5 s, one with a partial frame header:
# all closed at the time-to-first-frame deadline (setup_timeout, 10 s).
a2_t0 = time.time()
idle = []
for i in range(500):
    idle.append(C())
drip = C(); drip_setup = setup()
half = C(); half.send(b'\x00\x00')
@bg('A2')
def a2():
    socks = idle + [drip, half]
    closed = {}; frames_seen = {}
    poller = select.poll()
    by_fd = {c.s.fileno(): c for c in socks}
    for fd in by_fd: poller.register(fd, select.POLLIN)
    i = 0; last_drip = 0
    while len(closed) < len(socks) and time.time() - a2_t0 < 18:
        if drip not in closed and time.time() - last_drip >= 0.5 and i < len(drip_setup) - 1:
            drip.send(drip_setup[i:i + 1]); i += 1; last_drip = time.time()
        for fd, ev in poller.poll(100):
            c = by_fd[fd]
            fs = c.frames(0.01)
            if fs: frames_seen.setdefault(fd, []).extend(fs)
            if c.eof:
                closed[c] = time.time() - a2_t0; poller.unregister(fd)
    times = sorted(closed.values())
    codes = sorted({cd for fs in frames_seen.values() for cd in conn_errors(fs)})
    res = dict(n=len(socks), closed=len(closed), tmin=times[0] if times else None,
               tmax=times[-1] if times else None, drip=closed.get(drip), half=closed.get(half),
               codes=codes, drip_bytes=i)
    for c in socks: c.close()
    return res

# Established session opened before the slowloris, used to show it is unaffected.
est = C(); est.send(setup()); est.frames(0.2)

# ---- A8: keepalive flood while not reading (background) -------------------------------------
# A8's and A10's peers that never read run against the MTU server when there is one: their
# memory then shows alone in that server's RSS.
FLOOD = 'mtu' if 'mtu' in PORTS else 'plain'
@bg('A8flood')
def a8_flood():
    c = C(PORTS[FLOOD]); c.send(setup()); t = time.time()
    ka = keepalive(b'k' * (64 << 10))
    sent = 0
    c.s.settimeout(None)
    try:
        while time.time() - t < 50:
            c.s.sendall(ka * 16); sent += 16
    except OSError:
        pass
    return dict(t=time.time() - t, sent=sent)
# A10: a fast unbounded stream to a peer that stops reading (background)
def a10(port, tok=None):
    c = C(port); c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    c.send((rsetup(tok) if tok else setup()) + rs(1, 'stream.infinite', 0x7fffffff))
    t = time.time()
    while time.time() - t < 45 and server_side_open(port, c.lport):
        time.sleep(0.25)
    res = dict(t=time.time() - t, dropped=not server_side_open(port, c.lport))
    c.close(); return res
bg('A10')(lambda: a10(PORTS[FLOOD]))
if 'resume' in PORTS:
    bg('A10r')(lambda: a10(PORTS['resume'], b'slow-consumer-' + os.urandom(8).hex().encode()))
bg_t0 = time.time()

# ---- A3: rapid cancel ----------------------------------------------------------------------
def honest(stop, lat):
    c = C(); c.send(setup()); c.frames(0.1); i = 1
    while not stop.is_set():
        t = time.time(); c.send(rr(i, 'echo', b'h'))
        fs = c.frames(2.0, until=lambda f: f[0] == i)
        lat.append(time.time() - t if any(f[0] == i for f in fs) else 9.9)
        i += 2; time.sleep(0.005)
    c.close()
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))] if v else 9.9
base = []; st = threading.Event(); th = threading.Thread(target=honest, args=(st, base)); th.start()
time.sleep(0.6); st.set(); th.join()

def rapid(port, pairs, tok=None):
    c = C(port); c.send(rsetup(tok) if tok else setup()); c.frames(0.1)
    burst = b''.join(rr(2 * i + 1, 'slow.5000', b'x') + cancel(2 * i + 1) for i in range(pairs))
    t = time.time(); cpu0 = cpu(PIDS['resume' if tok else 'plain'])
    c.send(burst)
    return c, t, cpu0
t1 = time.time()
during = []; st = threading.Event(); th = threading.Thread(target=honest, args=(st, during)); th.start()
time.sleep(0.1)
c, t, cpu0 = rapid(PORTS['plain'], 20000)
fs, _ = c.until_eof(5); el = time.time() - t; dcpu = cpu(PID) - cpu0
time.sleep(0.3); st.set(); th.join()
check('A3 20,000 request+cancel pairs: ERROR[CONNECTION_ERROR] on stream 0, then EOF',
      c.eof and conn_errors(fs) == [0x101], (c.eof, conn_errors(fs), fs[:3]), f'closed after {el:.2f} s, server CPU {dcpu:.2f} s')
check('A3 no response to any cancelled request', not [f for f in fs if f[0] != 0], [f for f in fs if f[0] != 0][:3])
check('A3 parallel honest client keeps its latency', pct(during, 0.99) < 0.25 and len(during) > 5,
      (len(during), pct(during, 0.99), max(during or [0])),
      f'p99 {1000 * pct(during, 0.99):.1f} ms over {len(during)} requests (before: p99 {1000 * pct(base, 0.99):.1f} ms)')
rss_check('A3', t1)
check_live('A3')
# Below the threshold the guard must not fire: 2,000 pairs, then the same connection works.
c, t, _ = rapid(PORTS['plain'], 2000)
fs = c.frames(0.5)
check('A3 2,000 pairs (below the 10,000/s guard): connection stays up, nothing answered',
      not c.eof and c.ping() and not [f for f in fs if f[0] != 0], (c.eof, fs[:3]))
c.close()
if 'resume' in PORTS:
    c, t, _ = rapid(PORTS['resume'], 20000, b'rapid-cancel-' + os.urandom(8).hex().encode())
    fs, el = c.until_eof(5)
    check('A3 on a resumable session: ERROR[CONNECTION_ERROR] then EOF', c.eof and 0x101 in conn_errors(fs),
          (c.eof, conn_errors(fs)), f'{el:.2f} s')
    check_live('A3 resume', PORTS['resume'])

# ---- A4: concurrent-stream exhaustion ------------------------------------------------------
# max_concurrent_streams = 100,000: 50,000 request-streams with n=1 that never get more credit
# and 50,000 slow request-responses; the next request gets ERROR[REJECTED] 0x202.
t1 = time.time(); r0 = rss(PID)
c = C(); c.send(setup())
LIMIT = 100000
reqs = [rs(2 * i + 1, 'stream.infinite', 1) for i in range(LIMIT // 2)]
reqs += [rr(2 * i + 1, 'slow.30000', b's') for i in range(LIMIT // 2, LIMIT)]
extra = 2 * LIMIT + 1
c.send(b''.join(reqs)); c.send(rr(extra, 'echo', b'one too many'))
fs = c.frames(15, until=lambda f: f[0] == extra)
fs += c.frames(0.3)
r1 = SAMPLER.peak(t1)
items = len([f for f in fs if f[1] == 10 and f[0] < LIMIT])
ex = stream_frames(fs, extra)
check('A4 request over the 100,000-stream limit gets ERROR[REJECTED] 0x202',
      len(ex) == 1 and ex[0][1] == 11 and code(ex[0]) == 0x202, (ex, fs[-3:]), f'{time.time() - t1:.1f} s for 100,001 requests')
check('A4 the 100,000 streams below the limit were served (one item each from the n=1 streams, no errors)',
      items == LIMIT // 2 and not [f for f in fs if f[1] == 11 and f[0] != extra], (items, [f for f in fs if f[1] == 11][:3]))
check('A4 memory with 100,000 open streams bounded', r1 < RSS_LIMIT,
      (mib(r0), mib(r1)), f'RSS {mib(r0)} -> {mib(r1)}: {(r1 - r0) / LIMIT:.0f} B per stream')
# One stream ending frees a slot: cancel stream 1 (it has answered), then a new request works.
c.send(cancel(1) + rr(extra + 2, 'echo', b'room again'))
fs = c.frames(2, until=lambda f: f[0] == extra + 2)
ex = stream_frames(fs, extra + 2)
check('A4 a slot freed by CANCEL admits the next request', ex and ex[0][1] == 10 and ex[0][3].endswith(b'room again'), ex)
c.close(); time.sleep(0.3)
check_live('A4')

# ---- A5: stream-ID abuse -------------------------------------------------------------------
t1 = time.time(); r0 = rss(PID)
c = C(); c.send(setup())
c.send(rr(1, 'slow.300', b'first') + rr(1, 'echo', b'reuse of a live id'))      # live ID reuse
c.send(rr(2, 'echo', b'even') + rr(0x7ffffffe, 'echo', b'even max') + rr(0, 'echo', b'zero'))
c.send(rr(0x7fffffff, 'echo', b'max'))
fs = c.frames(0.8)
s1 = [f[3] for f in stream_frames(fs, 1)]
check('A5 a request on a live stream ID is ignored', s1 == [b'first'], s1)
check('A5 client requests on even IDs (and 0) are ignored', not [f for f in fs if f[0] % 2 == 0], [f for f in fs if f[0] % 2 == 0][:3])
check('A5 stream 2^31-1 served', any(f[0] == 0x7fffffff and f[3].endswith(b'max') for f in fs), fs)
c.send(rr(1, 'echo', b'wrapped'))   # 1 has completed: reuse after the top of the space
fs = c.frames(0.5, until=lambda f: f[0] == 1)
check('A5 a completed ID is served again (wrap after 2^31-1)', any(f[0] == 1 and f[3].endswith(b'wrapped') for f in fs), fs)
# Sweep: 20,000 frames of random kinds on random IDs over the whole space (and with the
# reserved top bit set); echo requests on fresh odd IDs must each be answered once.
rnd = random.Random(5); burst = []; want = set(); used = {1, 0x7fffffff}
for i in range(20000):
    sid = rnd.choice([rnd.randrange(1, 1 << 31), rnd.randrange(1, 64), (1 << 31) - rnd.randrange(1, 64)])
    k = rnd.randrange(6)
    if k == 0 and sid % 2 == 1 and sid not in used:
        used.add(sid); want.add(sid); burst.append(rr(sid, 'echo', b'sw'))
    elif k == 1: burst.append(reqn(sid, rnd.choice([1, 0x7fffffff])))
    elif k == 2: burst.append(frame(sid, 10, 0x20, b'p'))
    elif k == 3: burst.append(frame(sid | 0x80000000, 8, 0, struct.pack('>I', 1)))   # reserved bit set
    elif k == 4: burst.append(frame(sid & ~1 or 2, 11, 0, struct.pack('>I', 0x201) + b'e'))   # even IDs: never one of ours
    else: burst.append(frame(sid if sid % 2 == 0 else sid + 1 if sid < 0x7fffffff else 2, 4, 0x100, pm(route('echo'), b'even')))
# cancels go to IDs nobody uses (a cancel of an answered echo would be a legal no-op anyway)
r_sweep = rss(PID)
c.send(b''.join(burst))
fs = c.frames(3.0, until=lambda f: False) if want else []
got = {}
for f in fs:
    if f[1] == 10: got[f[0]] = got.get(f[0], 0) + 1
extra_ids = [s for s in got if s not in want]
check('A5 sweep of 20,000 frames over the ID space: each fresh echo answered once, nothing else',
      set(got) == want and all(v == 1 for v in got.values()) and not extra_ids and not conn_errors(fs) and not c.eof,
      (len(want), len(got), extra_ids[:5], conn_errors(fs), c.eof), f'{len(want)} echo requests among 20,000 frames')
check('A5 connection alive after the sweep', c.ping())
r_after = rss(PID)
check('A5 no memory kept for the IDs swept (RSS growth < 16 MiB)', r_after - r_sweep < 16 << 20, (mib(r_sweep), mib(r_after)), f'RSS {mib(r_sweep)} -> {mib(r_after)}')
c.close()
rss_check('A5', t1)
check_live('A5')

# ---- A7: empty-fragment flood --------------------------------------------------------------
c = C(); c.send(setup()); c.frames(0.1)
cpu0 = cpu(PID); t = time.time()
c.send(frame(1, 4, 0x180, pm(route('echo'), b'x' * 100)) + frame(1, 10, 0xA0) * 200000)
fs, _ = c.until_eof(5); el = time.time() - t; dcpu = cpu(PID) - cpu0
check('A7 200,000 empty F fragments: ERROR[CONNECTION_ERROR] on stream 0, then EOF, quickly',
      c.eof and conn_errors(fs) == [0x101] and el < 2 and dcpu < 1, (c.eof, conn_errors(fs), el, dcpu, fs[:2]),
      f'closed after {el:.2f} s, server CPU {dcpu:.2f} s')
check_live('A7')

# ---- A9: ignored-frame flood ---------------------------------------------------------------
def ignorable(n, start=1001):
    kinds = [lambda i: cancel(start + 2 * i),                                    # CANCEL, unknown stream
             lambda i: reqn(start + 2 * i, 5),                                    # REQUEST_N, unknown stream
             lambda i: frame(start + 2 * i, 10, 0x20, b'x'),                      # PAYLOAD, unknown stream
             lambda i: frame(0, 0x20, 0x200, b'ign'),                             # unknown type, I=1
             lambda i: frame(0, 0x3f, 0x200, struct.pack('>I', 12345) + b'e'),   # EXT, I=1
             lambda i: frame(5, 3, 0x80, struct.pack('>Q', 0) + b'k'),           # KEEPALIVE on stream 5
             lambda i: frame(0, 11, 0, struct.pack('>I', 0x201) + b'm'),         # stream code on stream 0
             lambda i: frame(3, 12, 0x100, b'mp')]                                # METADATA_PUSH, stream 3
    return b''.join(kinds[i % len(kinds)](i) for i in range(n))
c = C(); c.send(setup()); c.frames(0.1)
small = ignorable(50000)
cpu0 = cpu(PID); t = time.time(); c.send(small); ok = c.ping(3); el = time.time() - t
fs = c.frames(0.3)
check('A9 50,000 ignorable frames: ignored (no reply, connection up)', ok and not c.eof and not [f for f in fs if f[1] != 3],
      (ok, c.eof, fs[:3]), f'{el:.2f} s, server CPU {cpu(PID) - cpu0:.2f} s')
c.close()
c = C(); c.send(setup()); c.frames(0.1)
flood = ignorable(200000)
log0 = logsize(PID); cpu0 = cpu(PID); t = time.time()
c.send(flood); c.send(keepalive(b'after'))
fs = []
while not c.eof and time.time() - t < 8:
    fs += c.frames(0.5)
    if any(f[1] == 3 for f in fs): break
el = time.time() - t; dcpu = cpu(PID) - cpu0
time.sleep(0.2); log1 = logsize(PID)
replies = [f for f in fs if not (f[1] == 11 and f[0] == 0) and f[1] != 3]
closed_by_budget = c.eof and conn_errors(fs) == [0x101]
alive_after = (not c.eof) and any(f[1] == 3 for f in fs)
check('A9 200,000 ignorable frames: ignored or closed by the budget (ERROR 0x101 + EOF)', closed_by_budget or alive_after,
      (c.eof, conn_errors(fs), fs[-2:]), ('closed by budget' if closed_by_budget else 'ignored') + f' after {el:.2f} s, server CPU {dcpu:.2f} s')
check('A9 no per-frame replies', not replies, replies[:3])
check('A9 low cost (server CPU < 2 s)', dcpu < 2, dcpu)
check('A9 log volume bounded (< 16 KiB for 200,000 frames)', log0 is None or log1 - log0 < 16384,
      (log0, log1), 'log not a file' if log0 is None else f'log +{log1 - log0} B')
c.close()
check_live('A9')

# ---- A11: credit overflow ------------------------------------------------------------------
def drain_items(c, sid, want, t):
    n = 0; end = time.time() + t
    while n < want and time.time() < end and not c.eof:
        n += len([f for f in c.frames(0.3, maxn=50000) if f[0] == sid and f[1] == 10])
    return n
c = C(); c.send(setup())
c.send(rs(1, 'stream.infinite', 0x7fffffff) + reqn(1, 0x7fffffff) * 5)
n = drain_items(c, 1, 50000, 10)
check('A11 REQUEST_STREAM(2^31-1) + 5 x REQUEST_N(2^31-1): the stream keeps going', n >= 50000, n, f'{n} items')
c.send(cancel(1))
# 2^31-2 + 2^31-2 + 4 = 2^32: a 32-bit counter would wrap to 0 and stop.
c.send(rs(3, 'stream.infinite', 0x7ffffffe) + reqn(3, 0x7ffffffe) + reqn(3, 4))
n = drain_items(c, 3, 50000, 10)
check('A11 credits summing to exactly 2^32 do not wrap', n >= 50000, n, f'{n} items')
c.send(cancel(3)); c.frames(0.3); c.close()
def credit_case(frames_, sid, maxp):
    c = C(); c.send(setup()); c.send(frames_)
    fs = c.frames(0.7)
    p = [f for f in fs if f[0] == sid and f[1] == 10]
    e = [code(f) for f in fs if f[0] == sid and f[1] == 11]
    ok = len(p) <= maxp and all(x == 0x204 for x in e) and not c.eof and c.ping()
    c.close()
    return ok, (len(p), e, conn_errors(fs))
for name, fr, maxp in [('REQUEST_STREAM n=0', rs(1, 'stream.infinite', 0), 0),
                       ('REQUEST_N(0) after n=3', rs(1, 'stream.infinite', 3) + reqn(1, 0), 3),
                       ('REQUEST_N(0x80000005) after n=3', rs(1, 'stream.infinite', 3) + reqn(1, 0x80000005), 3),
                       ('REQUEST_N(0xFFFFFFFF) after n=3', rs(1, 'stream.infinite', 3) + reqn(1, 0xffffffff), 3),
                       ('REQUEST_STREAM n=0x80000001', rs(1, 'stream.infinite', 0x80000001), 0)]:
    ok, info = credit_case(fr, 1, maxp)
    check(f'A11 {name}: no payload beyond credit, at most ERROR[INVALID], connection up', ok, info, f'{info[0]} payloads, stream errors {[hex(x) for x in info[1]]}')
check_live('A11')

# ---- A13: large metadata in SETUP and requests (no auth acceptor configured) ---------------
AUTH = 0x7C   # message/x.rsocket.authentication.v0
def big_setup(n, extra=b''):
    meta = entry(AUTH, b'\x01' + os.urandom(n))   # simple auth, garbage
    return setup(meta=meta) + extra
t1 = time.time()
for n, label, limit in [(1 << 20, '1 MiB', 1.0), (0xFFFFFF - 200, '16 MB', 3.0)]:
    c = C(); t = time.time()
    probe = os.urandom(8)
    c.send(big_setup(n) + rr(1, 'echo', probe))
    fs = c.frames(limit + 2, until=lambda f: f[0] == 1 or f[1] == 11)
    el = time.time() - t
    answered = any(f[0] == 1 and f[3].endswith(probe) for f in fs)
    rejected = any(f[0] == 0 and f[1] == 11 and code(f) in (1, 2, 3) for f in fs)
    if rejected: c.until_eof(2)
    check(f'A13 SETUP with {label} of auth metadata: accepted or refused quickly',
          el < limit and (answered or (rejected and c.eof)), (el, fs[:2], c.eof),
          f"{'answered' if answered else 'refused'} in {el:.2f} s")
    c.close()
c = C(); c.send(setup()); c.frames(0.1); t = time.time()
c.send(frame(1, 4, 0x100, pm(route('echo') + entry(AUTH, b'\x01' + os.urandom(1 << 20)), b'big-auth')))
fs = c.frames(3, until=lambda f: f[0] == 1); el = time.time() - t
ok = any(f[0] == 1 for f in fs) and el < 1
check('A13 request with 1 MiB of auth metadata handled quickly (answered or stream error)', ok and not c.eof, (el, fs[:1]), f'{el:.2f} s')
c.send(frame(3, 4, 0x100, pm(route('echo') + bytes([0x80 | AUTH]) + b'\xff\xff\xff' + b'short', b'x')))
fs = c.frames(1, until=lambda f: f[0] == 3)
check('A13 garbled auth entry (length past the end) -> stream ERROR, connection up',
      any(f[0] == 3 and f[1] == 11 for f in fs) and c.ping(), fs)
c.close()
# Many connections with large SETUP metadata, held open: memory stays bounded.
held = []
r0 = rss(PID)
for i in range(8):
    c = C(); c.send(big_setup(4 << 20)); held.append(c)
time.sleep(0.5)
up = sum(1 for c in held if c.ping(2))
r1 = rss(PID)
check('A13 8 connections with 4 MiB SETUP metadata each: served, memory bounded', up == 8 and r1 < RSS_LIMIT,
      (up, mib(r1)), f'RSS {mib(r0)} -> {mib(r1)} while held ({mib(r1 - r0)} for 32 MiB of SETUP metadata)')
for c in held: c.close()
rss_check('A13', t1)
check_live('A13')

# ---- A15: malformed frames -----------------------------------------------------------------
t1 = time.time()
watch = C(); watch.send(setup()); watch.frames(0.1)
def outcome(c, t=1.5):
    """'closed' (plain close or ERROR 0x101/0x1 then EOF), 'alive' (keepalive echoed), or why not."""
    fs = []
    if not c.eof:
        if c.ping(t): return 'alive', fs
        fs += c.frames(0.5)
    if c.eof:
        bad = [cd for cd in conn_errors(fs) if cd not in (0x1, 0x2, 0x101)]
        return ('closed' if not bad else f'closed with codes {bad}'), fs
    return 'hang', fs
malformed = [
    ('length 3 (shorter than the header)', b'\x00\x00\x03\x00\x00\x00', {'closed'}),
    ('length 10 then 4 bytes then EOF', b'\x00\x00\x0a\x00\x00\x00\x01', {'closed', 'eof'}),
    ('REQUEST_RESPONSE metadata length past the end', frame(1, 4, 0x100, b'\x00\x10\x00abc'), {'closed'}),
    ('REQUEST_RESPONSE M set, no room for the metadata length', frame(1, 4, 0x100, b'\x00'), {'closed'}),
    ('REQUEST_STREAM without initial n', frame(1, 6, 0, b'\x00\x01'), {'closed'}),
    ('REQUEST_CHANNEL without initial n', frame(1, 7, 0x100, b''), {'closed'}),
    ('REQUEST_N with 2-byte body', frame(1, 8, 0, b'\x00\x01'), {'closed', 'alive'}),
    ('ERROR with 2-byte body', frame(1, 11, 0, b'\x00\x01'), {'closed', 'alive'}),
    ('ERROR with invalid UTF-8 message', frame(1, 11, 0, struct.pack('>I', 0x201) + b'\xff\xfe\xfd'), {'alive'}),
    ('KEEPALIVE shorter than its position', frame(0, 3, 0x80, b'\x00\x01'), {'closed'}),
    ('LEASE with a short body', frame(0, 2, 0, b'\x00'), {'closed', 'alive'}),
    ('RESUME truncated', frame(0, 13, 0, b'\x00\x01\x00\x00\x00\x10ab'), {'closed'}),
    ('EXT I=0 unknown extension', frame(0, 0x3f, 0, struct.pack('>I', 7)), {'closed'}),
    ('EXT with I=1 and a short body', frame(0, 0x3f, 0x200, b'\x00'), {'alive', 'closed'}),
    ('METADATA_PUSH without M', frame(0, 12, 0, b'meta'), {'alive', 'closed'}),
    ('PAYLOAD on stream 0 with every flag', frame(0, 10, 0x3ff, b''), {'alive', 'closed'}),
    ('unknown type 0x21 I=0', frame(0, 0x21, 0, b'x'), {'closed', 'alive'}),
    ('frame type 0 (reserved)', frame(0, 0, 0, b'x'), {'closed', 'alive'}),
]
for name, data, allowed in malformed:
    c = C(); c.send(setup() + data)
    if 'then EOF' in name:
        c.s.shutdown(socket.SHUT_WR); fs, _ = c.until_eof(3); res = 'eof' if c.eof else 'hang'
    else:
        res, fs = outcome(c)
    check(f'A15 {name}: {"/".join(sorted(allowed))}', res in allowed, (res, fs[:3]), res)
    c.close()
for name, data in [('SETUP with invalid UTF-8 MIME type', setup(dmime=b'\xff\xfe/\xc0')),
                   ('SETUP with a MIME length past the end', frame(0, 1, 0, struct.pack('>HHII', 1, 0, 20000, 90000) + b'\x40abc')),
                   ('SETUP truncated after the version', frame(0, 1, 0, struct.pack('>HH', 1, 0)))]:
    c = C(); c.send(data); fs, _ = c.until_eof(2)
    check(f'A15 {name}: ERROR 0x1/0x2 on stream 0, then EOF', c.eof and conn_errors(fs) and set(conn_errors(fs)) <= {1, 2},
          (c.eof, conn_errors(fs)), f'codes {conn_errors(fs)}')
    c.close()
# Random bytes after a valid SETUP, then half-close: the server must close, never crash.
rnd = random.Random(15); hang = 0; codes = set(); t = time.time()
socks = []
for i in range(150):
    c = C(); c.send(setup() + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400))))
    try: c.s.shutdown(socket.SHUT_WR)
    except OSError: pass
    socks.append(c)
for c in socks:
    fs, _ = c.until_eof(max(0.2, 4 - (time.time() - t)))
    codes |= set(conn_errors(fs))
    if not c.eof: hang += 1
    c.close()
check('A15 150 connections: SETUP + random bytes + half-close -> every one closed', hang == 0 and codes <= {0x101},
      (hang, codes), f'codes seen {sorted(hex(x) for x in codes)}')
# Well-framed frames with random type, flags, stream ID and body.
closed = alive = weird = 0; bad = []
for i in range(150):
    c = C(); body = []
    for j in range(20):
        sid = rnd.choice([0, 1, 2, 3, 5, 0x7fffffff, rnd.randrange(1 << 32)])
        body.append(frame(sid & 0xffffffff, rnd.randrange(64), rnd.randrange(1024),
                          bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 3, 4, 8, 12, 40])))))
    c.send(setup() + b''.join(body))
    res, fs = outcome(c, 1.0)
    if res == 'alive': alive += 1
    elif res == 'closed': closed += 1
    else: bad.append((res, fs[-2:]))
    c.close()
check('A15 150 connections of random well-framed frames: each closed (0x101) or alive, none hangs',
      not bad, bad[:3], f'{closed} closed, {alive} alive')
# Plausible frames with one field wrong at a time: these get past the decoder into the
# stream state machine (credit, fragments, errors, cancels on live streams).
def fuzz_frame(rnd):
    t = rnd.choice([3, 4, 4, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 10, 11, 12, 0x3f, 0x20])
    sid = rnd.choice([0, 1, 3, 5, 7, 9, 2, 0x7fffffff, rnd.randrange(1 << 31)])
    flags = rnd.choice([0, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xE0, 0x100, 0x120, 0x140, 0x1A0, 0x200, 0x300, rnd.randrange(1024)])
    if t in (0x20, 0x3f) and rnd.random() < 0.8: flags |= 0x200   # mostly ignorable
    big = flags & 0x80 and rnd.random() < 0.8                     # a non-final fragment, mostly >= 64 bytes
    def payload():
        meta = rnd.choice([route('echo'), route('stream.3'), route('stream.infinite'), route('slow.20'), route('error.0x201'),
                           os.urandom(rnd.randrange(8)), b''])
        data = b'f' * rnd.randrange(64, 200) if big else rnd.choice([b'', b'd', b'x' * 70, os.urandom(rnd.randrange(100))])
        if flags & 0x100:
            n = rnd.choice([len(meta)] * 4 + [len(meta) + 1, max(0, len(meta) - 1), rnd.randrange(1 << 24)])
            return struct.pack('>I', n)[1:] + meta + data
        return data
    n32 = lambda: struct.pack('>I', rnd.choice([1, 2, 5, 0x7fffffff, 0, 0x80000000, rnd.randrange(1 << 32)]))
    if t in (6, 7): body = n32() + payload()
    elif t == 8: body = n32()
    elif t == 11: body = struct.pack('>I', rnd.choice([0x201, 0x202, 0x203, 0x204, 0x300, 0x101, rnd.randrange(1 << 32)])) + rnd.choice([b'e', b'\xff\xfe', b''])
    elif t == 3: body = struct.pack('>Q', rnd.choice([0, 1, rnd.randrange(1 << 64)])) + os.urandom(rnd.randrange(20))
    elif t == 12: body = os.urandom(rnd.randrange(20))
    elif t == 0x3f: body = struct.pack('>I', rnd.randrange(1 << 32)) + os.urandom(rnd.randrange(8))
    elif t == 9: body = b''
    else: body = payload()
    return frame(sid, t, flags, body)
closed = alive = 0; bad = []
for i in range(150):
    c = C(); c.send(setup() + b''.join(fuzz_frame(rnd) for j in range(12)))
    res, fs = outcome(c, 1.0)
    if res == 'alive': alive += 1
    elif res == 'closed': closed += 1
    else: bad.append((res, fs[-2:]))
    c.close()
check('A15 150 connections of plausible frames with bad fields: each closed (0x101) or alive, none hangs',
      not bad, bad[:3], f'{closed} closed, {alive} alive')
check('A15 server process survived', os.path.exists(f'/proc/{PID}') and find_pid(PORTS['plain']) == PID)
check('A15 a session established before the fuzzing is unaffected', watch.ping())
watch.close()
if 'resume' in PORTS:
    bad = []
    for i in range(60):
        c = C(PORTS['resume']); body = b''.join(frame(rnd.choice([0, 1, 3, 2]), rnd.randrange(64), rnd.randrange(1024),
                                                   bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 4, 8, 16])))) for j in range(20))
        c.send(rsetup(b'fuzz-' + os.urandom(8).hex().encode()) + body)
        res, fs = outcome(c, 1.0)
        if res not in ('alive', 'closed'): bad.append((res, fs[-2:]))
        c.close()
    check('A15 resumable sessions: random frames -> closed or alive, none hangs', not bad, bad[:3])
    check_live('A15 resume', PORTS['resume'])
rss_check('A15', t1)
check_live('A15')

# ---- A17: lease bypass ---------------------------------------------------------------------
def fnf_count(port):
    c = C(port); c.send(setup() + rr(1, 'fnf.count')); fs = c.frames(1, until=lambda f: f[0] == 1); c.close()
    return next((f[3] for f in fs if f[0] == 1), None)
before = fnf_count(PORTS['plain'])
c = C(); c.send(setup(flags=0x40) + frame(1, 5, 0x100, pm(route('x'), b'f')) * 10 + rr(3, 'echo', b'sneak'))
fs, _ = c.until_eof(2)
after = fnf_count(PORTS['plain'])
check('A17 SETUP(L=1) on a server without lease: ERROR 0x2 then EOF, requests sent with it not run',
      c.eof and conn_errors(fs) == [2] and not stream_frames(fs, 3) and before == after and before is not None,
      (c.eof, conn_errors(fs), stream_frames(fs, 3), before, after))
c.close()
if 'lease' in PORTS:
    lp = PORTS['lease']
    c = C(lp); c.send(setup(flags=0x40))
    fs = c.frames(2, until=lambda f: f[1] == 2)
    leases = [f for f in fs if f[1] == 2]
    c.send(rr(1, 'fnf.count'))
    fs = c.frames(1, until=lambda f: f[0] == 1)
    base_count = next((f[3] for f in fs if f[0] == 1 and f[1] == 10), None)
    leases += [f for f in fs if f[1] == 2]
    burst = b''.join(frame(5 + 2 * i, 5, 0x100, pm(route('x'), b'f')) for i in range(50))
    burst += b''.join(rr(201 + 2 * i, 'echo', b'over') for i in range(20))
    c.send(burst)
    fs = c.frames(0.4)
    leases += [f for f in fs if f[1] == 2]
    ok_rr = [f for f in fs if f[1] == 10 and f[0] >= 201]
    rej = [f for f in fs if f[1] == 11 and f[0] >= 201 and code(f) == 0x202]
    # Renewals may come mid-burst: whatever was granted in total bounds what may run.
    time.sleep(0.2); fs = c.frames(1, until=lambda f: f[1] == 2); leases += [f for f in fs if f[1] == 2]
    c.send(rr(501, 'fnf.count')); fs = c.frames(1, until=lambda f: f[0] == 501)
    after_count = next((f[3] for f in fs if f[0] == 501 and f[1] == 10), None)
    granted = sum(struct.unpack('>II', f[3][:8])[1] for f in leases)
    def cnt(b): return int(b.split()[0].split(b'=')[1]) if b else None
    ran = (cnt(after_count) - cnt(base_count)) + len(ok_rr) if base_count and after_count else None
    check('A17 requests beyond the lease are refused: ERROR[REJECTED] on their streams, handlers not run',
          ran is not None and ran <= granted and len(rej) + len([f for f in ok_rr]) == 20 and len(rej) >= 20 - granted,
          (ran, granted, len(rej), len(ok_rr), base_count, after_count), f'{ran} of 70 ran with {granted} granted in {len(leases)} leases; {len(rej)} REJECTED')
    c.close()
    check_live('A17 lease-less fresh connection', PORTS['plain'])

# ---- A8: keepalive limits (foreground part) -------------------------------------------------
c = C(); c.send(setup()); big = os.urandom(64 << 10)
c.send(keepalive(big)); fs = c.frames(2, until=lambda f: f[1] == 3)
check('A8 KEEPALIVE with 64 KiB (the limit) is echoed', any(f[1] == 3 and f[3][8:] == big for f in fs), [f[:3] for f in fs])
c.send(keepalive(big + b'!')); fs, _ = c.until_eof(2)
check('A8 KEEPALIVE with 64 KiB + 1 is refused: ERROR[CONNECTION_ERROR] then EOF, no echo',
      c.eof and conn_errors(fs) == [0x101] and not [f for f in fs if f[1] == 3], (c.eof, conn_errors(fs), [f[:3] for f in fs]))
c.close()
if 'mtu' in PORTS:
    c = C(PORTS['mtu']); c.send(setup()); c.send(keepalive(big))
    fs = c.frames(2, until=lambda f: f[1] == 3)
    check('A8 64 KiB keepalive echo on the MTU 65536 server: one whole frame, bytes equal',
          any(f[1] == 3 and f[3][8:] == big for f in fs), [f[:3] for f in fs]); c.close()

# ---- A18: error data ------------------------------------------------------------------------
c = C(); c.send(setup())
c.send(rr(1, 'nope') + rr(3, 'blob.99999999999') + rr(5, 'stream.x') + rr(7, b'\xff\xfe\xc0')
       + frame(9, 4, 0x100, pm(b'\x7f\x00\x00\x10ab', b'x')) + rs(11, 'slow.5', 1) + frame(13, 7, 0x140, struct.pack('>I', 1) + pm(route('blob.3'), b''))
       + rr(15, 'error.0x201') + rr(17, 'error.0x00000000') + rs(19, 'stream.infinite', 0))
c.frames(1.0); c.close()

# ---- A2 and A16: connection floods ----------------------------------------------------------
BG['A2.thread'].join(20)
r = BG.get('A2') or {}
check('A2 500 idle sockets, a drip-fed SETUP and a half header: all closed at the setup deadline (10 s)',
      r.get('closed') == r.get('n') and (r.get('tmin') or 0) >= 9.5 and (r.get('tmax') or 99) < 16,
      r, f"closed {r.get('closed')}/{r.get('n')} between {r.get('tmin') or 0:.2f} and {r.get('tmax') or 0:.2f} s; codes {r.get('codes')}")
check('A2 the session established before the slowloris still works', est.ping(), '')
est.close()
check_live('A2')

# A16: one address opens 1,100 connections (paced, so that the listen backlog does not
# overflow and every one reaches the server at once): those over max_connections_per_ip
# (1,000) must be closed at once. A client from another address then shows whether one
# address can take every slot (the checklist's per-IP and pre-setup caps, A2 and A16).
def fd_limit(pid):
    try:
        with open(f'/proc/{pid}/limits') as fh:
            for line in fh:
                if line.startswith('Max open files'): return int(line.split()[3])
    except (OSError, ValueError):
        return None
try:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except Exception:
    pass
CAP = 1000; N = CAP + 100
lim = fd_limit(PID)
est = C(); est.send(setup()); est.frames(0.2)
attacker, other = rand_ip(), rand_ip()
t1 = time.time(); r0 = rss(PID); socks = []; failed = 0
for i in range(N):
    try:
        sk = socket.socket()
        try: sk.setsockopt(socket.IPPROTO_IP, 24, 1)   # IP_BIND_ADDRESS_NO_PORT
        except OSError: pass
        sk.bind((attacker, 0)); sk.setblocking(False); sk.connect_ex(('127.0.0.1', PORTS['plain'])); socks.append(sk)
    except OSError:
        failed += 1
    if i % 100 == 99:
        d = t1 + (i + 1) / 4000 - time.time()
        if d > 0: time.sleep(d)
pend = {sk.fileno(): sk for sk in socks}; pl = select.poll()
for fd in pend: pl.register(fd, select.POLLOUT)
while pend and time.time() - t1 < 8:
    for fd, ev in pl.poll(100):
        pl.unregister(fd); pend.pop(fd, None)
t_open = time.time() - t1
closed = set(); pl = select.poll(); byfd = {sk.fileno(): sk for sk in socks}
for fd in byfd: pl.register(fd, select.POLLIN)
t2 = time.time()
while time.time() - t2 < 3 and len(closed) < N - CAP:
    for fd, ev in pl.poll(200):
        try:
            d = byfd[fd].recv(64)
        except BlockingIOError:
            continue
        except OSError:
            d = b''
        if not d:
            closed.add(fd); pl.unregister(fd)
t_closed = time.time() - t2
held = len(socks) - len(closed)
other_ok = False
try:
    o = C(src=other, timeout=3); o.send(setup()); other_ok = o.ping(1.5); o.close()
except OSError:
    pass
est_ok = est.ping(); est.close()
r1 = rss(PID)
reachable = lim is None or lim > N + 200
check('A16 1,100 connections from one address: those over its 1,000 cap are closed at once',
      reachable and len(closed) >= N - CAP and held <= CAP and not pend and os.path.exists(f'/proc/{PID}'),
      dict(opened=len(socks), failed=failed, unconnected=len(pend), closed=len(closed), held=held, server_fd_limit=lim),
      f'{len(socks)} connected in {t_open:.1f} s, {len(closed)} closed within {t_closed:.2f} s, {held} held; RSS {mib(r0)} -> {mib(r1)}')
check('A16 an established session keeps working while the cap is full', est_ok)
check('A2/A16 one address holding every slot with idle pre-setup connections does not lock out another address',
      other_ok, f'a client from {other} was refused while {attacker} held {held} idle pre-setup connections (no per-IP or pre-setup cap)')
for sk in socks: sk.close()
socks = byfd = pend = None
time.sleep(1.0)
check_live('A16 after the flood')
rss_check('A16', t1)

# ---- background results --------------------------------------------------------------------
for k in ('A1', 'A8flood', 'A10', 'A10r'):
    th = BG.get(k + '.thread')
    if th: th.join(max(0, 50 - (time.time() - bg_t0)))
r = BG.get('A1') or {}
check('A1 16 MB frame trickled at 1 byte/s: connection closed at the frame deadline (30 s)',
      r.get('eof') and r.get('t', 99) < 36 and not r.get('other'), r,
      f"closed after {r.get('t', 0):.1f} s, ERROR codes {[hex(x) for x in r.get('errs', [])]}")
r = BG.get('A8flood') or {}
check('A8 keepalive flood without reading: connection dropped', r.get('t', 99) < 45, r,
      f"dropped after {r.get('t', 0):.1f} s, {r.get('sent')} x 64 KiB keepalives accepted")
rss_check(f'A8/A10 {FLOOD} server while flooded', bg_t0, FLOOD)
r = BG.get('A10') or {}
check('A10 unbounded fast stream to a peer that stops reading: connection dropped', r.get('dropped'), r,
      f"dropped after {r.get('t', 0):.1f} s")
if 'resume' in PORTS:
    r = BG.get('A10r') or {}
    check('A10 same on a resumable session: transport dropped', r.get('dropped'), r, f"dropped after {r.get('t', 0):.1f} s")
    rss_check('A10 resumable session', bg_t0, 'resume')
    check_live('A10 resume', PORTS['resume'])
check_live('A8/A10', PORTS[FLOOD])

# A10, request-response: 30 answers of 8 MB each requested in one write by a peer that never
# reads. Back-pressure must stop the server from building and queueing all of them (240 MB).
t1 = time.time(); r0 = rss(PIDS[FLOOD])
c = C(PORTS[FLOOD]); c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
c.send(setup() + b''.join(rr(2 * i + 1, 'blob.8000000') for i in range(30)))
time.sleep(3.5)
peak = SAMPLER.peak(t1, which=FLOOD)
check('A10 30 x 8 MB request-response answers to a peer that does not read: not all built and queued (RSS growth < 100 MiB)',
      peak - r0 < 100 << 20, f'RSS {mib(r0)} -> {mib(peak)} on the {FLOOD} server', f'RSS {mib(r0)} -> {mib(peak)}')
c.close(); time.sleep(0.3)
check_live('A10 request-response', PORTS[FLOOD])

# ---- A18: every ERROR received in this run --------------------------------------------------
TRACE = [b'panicked', b'backtrace', b'RUST_BACKTRACE', b'.rs:', b'src/', b"thread '", b'\n   ', b'at /', b'unwrap', b'core::', b'std::']
import re
POINTER = re.compile(rb'0x7f[0-9a-f]{8,}')
bad = []
for sid, cd, msg in ERRORS:
    try:
        msg.decode('utf-8')
    except UnicodeDecodeError:
        bad.append((sid, cd, msg[:80], 'not UTF-8')); continue
    if msg.endswith(b'\x00') or any(t in msg for t in TRACE) or POINTER.search(msg):
        bad.append((sid, cd, msg[:120]))
check('A18 no stack traces or internals in ERROR data, none NUL-terminated, all UTF-8', not bad, bad[:5],
      f'{len(ERRORS)} ERROR frames checked, {len({m for _, _, m in ERRORS})} distinct messages')
check('A18 server process still running', all(os.path.exists(f'/proc/{p}') for p in PIDS.values() if p))
SAMPLER.stop = True
if os.environ.get('ATTACKS_DUMP_ERRORS'):   # every distinct ERROR message, for review
    with open(os.environ['ATTACKS_DUMP_ERRORS'], 'w') as fh:
        for cd, msg in sorted({(cd or 0, m) for _, cd, m in ERRORS}):
            fh.write(f'{cd:#x} {msg!r}\n')
print('server peaks: ' + ', '.join(f'{k} VmHWM {mib(status(p, "VmHWM"))}' for k, p in PIDS.items() if p) + f'; run took {time.time() - T0:.1f} s')
print(f"{RESULTS[0]} passed, {RESULTS[1]} failed")
sys.exit(1 if RESULTS[1] else 0)
