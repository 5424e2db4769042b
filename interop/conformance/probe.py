#!/usr/bin/env python3
"""Outside-in conformance probe of `rsocket serve`: raw frames over TCP, built by hand from
/work/shared/conformance.md style rows (R2, R4, R5, R14-R17, R22, R25-R27, R30, R31, R36,
R39-R48, A12, A14; R12 and R15c too). Run by interop/conformance/run.sh against four servers: plain, --lease,
--resume, --mtu 65536. Prints one line per check and a final "N passed, N failed"; exits 1 on any failure.

    probe.py PLAIN_PORT LEASE_PORT RESUME_PORT MTU_PORT
"""
import socket, struct, sys, time

PORTS = dict(plain=int(sys.argv[1]), lease=int(sys.argv[2]), resume=int(sys.argv[3]), mtu=int(sys.argv[4]))
RESULTS = [0, 0]
def frame(sid, ftype, flags, body=b''):
    f = struct.pack('>IH', sid, (ftype<<10)|flags) + body
    return struct.pack('>I', len(f))[1:] + f
def setup(mdmime=b'message/x.rsocket.composite-metadata.v0', dmime=b'text/plain', flags=0, ka=20000, life=90000):
    body = struct.pack('>HHII', 1, 0, ka, life) + bytes([len(mdmime)]) + mdmime + bytes([len(dmime)]) + dmime
    return frame(0, 1, flags, body)
def route(r):
    r=r.encode(); return bytes([0xFE]) + struct.pack('>I', len(r)+1)[1:] + bytes([len(r)]) + r
def pm(meta, data): return struct.pack('>I', len(meta))[1:] + meta + data
class C:
    def __init__(s, port=None):
        port = port or PORTS['plain']
        s.s=socket.create_connection(('127.0.0.1',port)); s.buf=b''; s.eof=False
    def send(s,b): s.s.sendall(b)
    def frames(s, t=0.5, maxn=10**9):
        s.s.settimeout(t); out=[]
        end=time.time()+t
        while len(out)<maxn:
            while len(s.buf)>=3:
                n=int.from_bytes(s.buf[:3],'big')
                if len(s.buf)<3+n: break
                f=s.buf[3:3+n]; s.buf=s.buf[3+n:]
                sid,tf=struct.unpack('>IH',f[:6]); out.append((sid, tf>>10, tf&0x3ff, f[6:]))
                if len(out)>=maxn: return out
            if time.time()>end: break
            try:
                d=s.s.recv(1<<20)
                if not d: s.eof=True; break
                s.buf+=d
            except socket.timeout: break
        return out
def check(name, cond, info=''):
    RESULTS[0 if cond else 1] += 1
    print(('PASS ' if cond else 'FAIL ') + name, '' if cond else repr(info)[:300])


# ---- handshake and basic routing ----------------------------------------------------------
c=C(); c.send(setup())
c.send(frame(1,4,0x100,pm(route('echo'),b'hello')))
c.send(frame(3,4,0x100,pm(route('blob.10'),b'')))
c.send(frame(5,4,0x100,pm(route('error.0x301'),b'')))
c.send(frame(7,6,0x100,struct.pack('>I',2)+pm(route('stream.5'),b'')))
c.send(frame(0,3,0x80,struct.pack('>Q',0)+b'ping'))
fs=c.frames(0.5)
check('echo with metadata', any(f[0]==1 and f[1]==10 and f[3].endswith(b'hello') for f in fs), fs)
check('blob.10', any(f[0]==3 and f[3]==bytes(range(10)) for f in fs), fs)
check('error.0x301 on its stream', any(f[0]==5 and f[1]==11 and f[3]==struct.pack('>I',0x301)+b'demo error' for f in fs), fs)
check('R23 keepalive echoed with R clear', any(f[0]==0 and f[1]==3 and f[2]&0x80==0 and f[3][8:]==b'ping' for f in fs), fs)
check('R30 stream.5 with n=2 sends 2', len([f for f in fs if f[0]==7])==2, fs)
for name, data, code in [('R14 first frame not SETUP', frame(0,3,0x80,struct.pack('>Q',0)), 1),
                          ('R15a version 2.0', setup()[:9]+struct.pack('>HH',2,0)+setup()[13:], 2),
                          ('R17 lease flag without lease', setup(flags=0x40), 2),
                          ('R15c data MIME that is not type/subtype', setup(dmime=b'not-a-mime'), 2)]:
    c=C(); c.send(data); fs=c.frames(0.5)
    check(name, c.eof and any(f[1]==11 and f[0]==0 and struct.unpack('>I',f[3][:4])[0]==code for f in fs), fs)
c=C(); c.send(setup()); c.send(frame(1,4,0x100,b'\xff\xff\xff'+b'x')); fs=c.frames(0.5)
check('R4 bad metadata length', c.eof and any(f[1]==11 and struct.unpack('>I',f[3][:4])[0]==0x101 for f in fs), fs)
c=C(); c.send(setup()); c.send(frame(0,0x20,0x200,b'abc')); c.send(frame(1,4,0,b'hi')); fs=c.frames(0.5)
check('R5 ignorable unknown frame', any(f[0]==1 and f[3]==b'hi' for f in fs), fs)

# ---- runtime rows ----
# R22a: finite stream open, then CONNECTION_CLOSE; stream finishes, then close
c=C(); c.send(setup()); c.send(frame(1,6,0x100,struct.pack('>I',100)+pm(route('stream.5'),b'')))
c.send(frame(0,11,0,struct.pack('>I',0x102)+b'bye'))
fs=c.frames(1.0)
pay=[f for f in fs if f[0]==1 and f[1]==10]
check('R22a stream completes after CONNECTION_CLOSE', len(pay)==6 and pay[-1][2]&0x40, fs[:8])
check('R22a connection closed after', c.eof, fs[-2:])
# R22b CONNECTION_ERROR with stream open: prompt close
c=C(); c.send(setup()); c.send(frame(1,6,0,struct.pack('>I',1)+b'x'))
c.send(frame(1,6,0x100,struct.pack('>I',2)+pm(route('stream.infinite'),b'')))
c.send(frame(0,11,0,struct.pack('>I',0x101)+b'err')); fs=c.frames(1.0)
check('R22b closed promptly', c.eof, fs[-3:])
# R25: keepalive 500ms lifetime 1500 silent -> closed after ~1.5s not before
c=C(); c.send(setup(ka=500, life=1500)); t=time.time(); fs=c.frames(1.0)
check('R25 not closed before lifetime', not c.eof)
fs=c.frames(2.0); el=time.time()-t
check('R25 closed after lifetime', c.eof and 1.4<el<3.6, (c.eof, el, fs))
# R30: infinite with n=3, wait, then REQUEST_N(2)
c=C(); c.send(setup()); c.send(frame(1,6,0x100,struct.pack('>I',3)+pm(route('stream.infinite'),b'')))
fs=c.frames(1.0); n1=len([f for f in fs if f[0]==1])
c.send(frame(1,8,0,struct.pack('>I',2))); fs=c.frames(1.0); n2=len([f for f in fs if f[0]==1])
check('R30 exactly 3 then 2', (n1,n2)==(3,2), (n1,n2))
c.send(frame(1,9,0)); 
# The end of a stream needs no credit: a stream whose last item used the last credit completes
# at once (R30/R41 wording: "emits n payloads, then completes"), and so does an error.
c=C(); c.send(setup()); c.send(frame(1,6,0x100,struct.pack('>I',5)+pm(route('stream.5'),b'')))
fs=c.frames(1.0); p=[f for f in fs if f[0]==1 and f[1]==10]
check('stream.5 with n=5: 5 items then COMPLETE without REQUEST_N', len([f for f in p if f[2]&0x20])==5 and p and p[-1][2]&0x40, [(f[2],f[3]) for f in p])
c.send(frame(3,6,0x100,struct.pack('>I',1)+pm(route('echo'),b'once')))
fs=c.frames(1.0); p=[f for f in fs if f[0]==3 and f[1]==10]
check('echo stream with n=1: one item then COMPLETE', len([f for f in p if f[2]&0x20])==1 and p and p[-1][2]&0x40, [(f[2],f[3]) for f in p])
# A channel (requester side still open) routed to error.0x301 is answered with that ERROR.
c.send(frame(5,7,0x100,struct.pack('>I',5)+pm(route('error.0x301'),b'x')))
fs=c.frames(1.0); e=[f for f in fs if f[0]==5 and f[1]==11]
check('error.0x301 on an open channel -> ERROR 0x301', e and struct.unpack('>I',e[0][3][:4])[0]==0x301, fs)
# R12: an ERROR with a stream code on stream 0 is misaddressed and ignored; the connection lives.
c=C(); c.send(setup()); c.send(frame(0,11,0,struct.pack('>I',0x201)+b'not a connection error'))
c.send(frame(0,3,0x80,struct.pack('>Q',0)+b'alive?')); fs=c.frames(0.5)
check('R12 ERROR 0x201 on stream 0 ignored', any(f[1]==3 for f in fs) and not c.eof, fs)
# R31 unbounded
c=C(); c.send(setup()); c.send(frame(1,6,0x100,struct.pack('>I',0x7fffffff)+pm(route('stream.infinite'),b'')))
for i in range(5): c.send(frame(1,8,0,struct.pack('>I',0x7fffffff)))
cnt=0; t=time.time()
while cnt<200000 and time.time()-t<20:
    cnt+=len(c.frames(0.2, maxn=100000))
check('R31 keeps going with 2^31-1 grants', cnt>=200000, cnt)
c.send(frame(1,9,0)); c.s.close()
# R39: slow + cancel -> nothing
c=C(); c.send(setup()); c.send(frame(1,4,0x100,pm(route('slow.300'),b'x'))); c.send(frame(1,9,0))
fs=c.frames(0.8); check('R39 no response after cancel', [f for f in fs if f[0]==1]==[], fs)
# R40 channel n=4 gets REQUEST_N
c=C(); c.send(setup()); c.send(frame(1,7,0x100,struct.pack('>I',4)+pm(route('echo'),b'a')))
fs=c.frames(0.5); rn=[f for f in fs if f[1]==8]
check('R40 REQUEST_N for the channel', len(rn)==1 and rn[0][0]==1, fs)
for i in range(6): c.send(frame(1,10,0x20,b'p%d'%i))
fs2=fs+c.frames(0.5); echoed=[f for f in fs2 if f[1]==10 and f[0]==1]
check('R40 echo respects credit 4', len(echoed)==4, len(echoed))
# R41 channel C=1
c=C(); c.send(setup()); c.send(frame(1,7,0x140,struct.pack('>I',4)+pm(route('echo'),b'only')))
c.send(frame(1,10,0x20,b'extra')); fs=c.frames(0.5)
p=[f for f in fs if f[0]==1 and f[1]==10]
check('R41 half-closed echo completes, extra ignored', len(p)>=1 and p[-1][2]&0x40 and b'extra' not in b''.join(f[3] for f in p), p)
# R42 error mid-channel
c=C(); c.send(setup()); c.send(frame(1,7,0x100,struct.pack('>I',100)+pm(route('echo'),b'a')))
c.frames(0.3); c.send(frame(1,11,0,struct.pack('>I',0x201)+b'stop')); c.send(frame(1,10,0x20,b'late'))
fs=c.frames(0.5); check('R42 no frames after ERROR', [f for f in fs if f[0]==1]==[], fs)
c.send(frame(0,3,0x80,struct.pack('>Q',0)+b'probe')); fs=c.frames(0.5)
check('R42 alive', any(f[1]==3 and f[3][8:]==b'probe' for f in fs), fs)
# R43 cancel after 10
c=C(); c.send(setup()); c.send(frame(1,6,0x100,struct.pack('>I',1000)+pm(route('stream.infinite'),b'')))
fs=c.frames(0.05, maxn=10); c.send(frame(1,9,0)); time.sleep(0.3); more=c.frames(0.5)
check('R43 silence after cancel (in-flight only)', not any(f[1]==11 for f in more), more[-2:])
c2=C(); c2.send(setup()); c2.send(frame(1,4,0,b'')); 
# R44/45 fnf + push counted
c=C(); c.send(setup()); c.send(frame(1,5,0x100,pm(route('x'),b'f')))
c.send(frame(0,12,0x100,b'meta')); time.sleep(0.2)
c.send(frame(3,4,0x100,pm(route('fnf.count'),b''))); fs=c.frames(0.5)
check('R44/45 fnf and push counted, no reply', any(b'fnf=' in f[3] for f in fs) and not any(f[0]==1 for f in fs), fs)
# R2: blob just over 16MB
c=C(); c.send(setup()); c.send(frame(1,4,0x100,pm(route('blob.16777300'),b'')))
fs=c.frames(5.0); total=sum(len(f[3]) for f in fs if f[0]==1)
check('R2 >16MB answer arrives fragmented', total>=16777300 and len(fs)>=2, (len(fs), total))
# R36 REQUEST_RESPONSE(F) + CANCEL x 20k (flat)
c=C(); c.send(setup()); chunk=b'y'*100
burst=b''.join(frame(2*i+1,4,0x80,chunk)+frame(2*i+1,9,0) for i in range(100000))
c.send(burst); fs=c.frames(1.0)
check('R36 no responses to canceled fragments', not any(f[1]==10 for f in fs), fs[:3])
c.send(frame(0,3,0x80,struct.pack('>Q',0)+b'probe')); fs=c.frames(0.5)
check('R36 alive or closed by rapid-cancel guard', any(f[1]==3 for f in fs) or c.eof, fs[-2:])

# ---- lease (server with --lease --lease-requests 2) ----

# Take the first LEASE as soon as it comes and spend it at once: the server renews at half
# its 600 ms TTL, and a renewal between the requests would (rightly) admit the third.
c=C(PORTS['lease']); c.send(setup(flags=0x40)); fs=c.frames(0.3, maxn=1)
lease=[f for f in fs if f[1]==2]
check('R17 LEASE arrives on stream 0', len(lease)==1 and lease[0][0]==0, fs)
ttl,n=struct.unpack('>II', lease[0][3][:8]); check('R26 TTL>0 and N>0', ttl>0 and n>0, (ttl,n))
for i in range(3): c.send(frame(2*i+1,4,0x100,pm(route('echo'),b'r%d'%i)))
fs=c.frames(0.3)
errs=[(f[0],struct.unpack('>I',f[3][:4])[0]) for f in fs if f[1]==11]
oks=[f[0] for f in fs if f[1]==10]
check('R27 two accepted, third REJECTED', oks==[1,3] and errs==[(5,0x202)], (oks,errs))
time.sleep(0.7)  # past TTL, but the server renews at half TTL: a fresh lease may have come
fs=c.frames(0.1)

# A14 malformed composite metadata
c=C(); c.send(setup()); c.send(frame(1,4,0x100,pm(b'\x7f\x00\x00\x10ab',b'x')))
fs=c.frames(0.3)
e=[f for f in fs if f[1]==11]
check('A14 malformed composite -> ERROR[INVALID] on the stream', e and e[0][0]==1 and struct.unpack('>I',e[0][3][:4])[0]==0x204, fs)
c.send(frame(0,3,0x80,struct.pack('>Q',0)+b'probe')); fs=c.frames(0.3)
check('A14 alive', any(f[1]==3 for f in fs), fs)

# ---- resumption (server with --resume) ----

tok=b'0123456789abcdef'
def rsetup(tok):
    mm=b'message/x.rsocket.composite-metadata.v0'; dm=b'text/plain'
    body=struct.pack('>HHIIH',1,0,20000,90000,len(tok))+tok+bytes([len(mm)])+mm+bytes([len(dm)])+dm
    return frame(0,1,0x80,body)
def resume(tok,last,first):
    return frame(0,13,0,struct.pack('>HHH',1,0,len(tok))+tok+struct.pack('>QQ',last,first))
# R47
c=C(PORTS['resume']); c.send(rsetup(tok))
req=frame(1,6,0x100,struct.pack('>I',10)+pm(route('stream.10'),b''))
c.send(req)
c.send(frame(0,3,0x80,struct.pack('>Q',0)+b'ka')); c.send(frame(0,12,0x100,b'meta'))
fs=[]
while len([f for f in fs if f[0]==1 and f[1]==10])<4:
    fs+=c.frames(0.5, maxn=1)
items=[f for f in fs if f[0]==1 and f[1]==10]
# frames list may include keepalive answer; take exactly the 4 first PAYLOADs counted in order
got=[]; pos=0
allf=fs
for f in allf:
    if f[0]==1 and f[1]==10 and len(got)<4:
        got.append(f[3]); pos+=6+len(f[3])
c.s.close()
c=C(PORTS['resume']); c.send(resume(tok,pos,0)); fs=c.frames(1.0)
ok=[f for f in fs if f[1]==14]
rest=[f[3] for f in fs if f[0]==1 and f[1]==10 and f[2]&0x20]
client_bytes=len(req)-3
check('R47 RESUME_OK with the client bytes received', ok and struct.unpack('>Q',ok[0][3][:8])[0]==client_bytes, (ok, client_bytes, fs[:3]))
check('R47 items 5..10 exactly once in order', [g for g in got]==[b'0',b'1',b'2',b'3'] and rest==[str(i).encode() for i in range(4,10)], (got, rest))
# R46b random token
c=C(PORTS['resume']); c.send(resume(b'nope-nope-nope!!',0,0)); fs=c.frames(0.5)
check('R46b unknown token -> REJECTED_RESUME', any(f[1]==11 and struct.unpack('>I',f[3][:4])[0]==4 for f in fs) and c.eof, fs)
# R46c SETUP then RESUME
c=C(PORTS['resume']); c.send(setup()); c.send(resume(b'x'*16,0,0)); fs=c.frames(0.5)
check('R46c RESUME after SETUP -> CONNECTION_ERROR', any(f[1]==11 and struct.unpack('>I',f[3][:4])[0]==0x101 for f in fs), fs)
# R48 keepalive position beyond sent
c=C(PORTS['resume']); c.send(rsetup(b'fedcba9876543210')); c.send(frame(0,3,0,struct.pack('>Q',10**9))); fs=c.frames(0.5)
check('R48 position beyond sent terminates', c.eof and any(f[1]==11 for f in fs), fs)
# A12 token in use
c1=C(PORTS['resume']); c1.send(rsetup(b'sharedtoken00001')); c1.frames(0.2)
c2=C(PORTS['resume']); c2.send(rsetup(b'sharedtoken00001')); fs=c2.frames(0.5)
check('A12 SETUP with a token in use -> REJECTED_SETUP', any(f[1]==11 and struct.unpack('>I',f[3][:4])[0]==3 for f in fs), fs)

# ---- fragmentation (server with --mtu 65536) ----

def payload_parts(f):
    """(metadata bytes, data bytes) of a PAYLOAD frame."""
    body=f[3]
    if f[2]&0x100:
        n=int.from_bytes(body[:3],'big'); return body[3:3+n], body[3+n:]
    return b'', body
# R32: one 5 MB item on a request-stream with n=1 arrives as fragments counted as one item.
c=C(PORTS['mtu']); c.send(setup())
big=bytes(i%251 for i in range(5<<20))
c.send(frame(1,6,0x100,struct.pack('>I',1)+pm(route('echo'),big)))
fs=c.frames(5.0)
allp=[f for f in fs if f[0]==1 and f[1]==10]
p=[f for f in allp if f[2]&0x20]  # fragments carry N; a bare COMPLETE (C only) may follow
data=b''.join(payload_parts(f)[1] for f in p)
follows=[bool(f[2]&0x80) for f in p]
items=len([f for f in p if f[2]&0x20 and not f[2]&0x80])
check('R32 5 MB item fragmented at 64 KiB: F on all but the last, one item', len(p)>2 and all(follows[:-1]) and not follows[-1] and items==1 and data==big and all(len(f[3])<=65536 for f in p), (len(p), follows[-3:], items, len(data)))
check('R32 stream completes after the one item', any(f[2]&0x40 for f in allp) or any(f[0]==1 and f[1]==10 and f[2]&0x40 for f in c.frames(0.5)), [f[2] for f in allp[-2:]])
# R33: 3 MB of metadata and 3 MB of data: metadata entirely before data.
pad=b'm'*(3<<20); mime=b'application/x.pad'
meta=route('echo')+bytes([len(mime)-1])+mime+struct.pack('>I',len(pad))[1:]+pad
c.send(frame(3,4,0x100,pm(meta,b'd'*(3<<20))))
fs=c.frames(5.0)
p=[f for f in fs if f[0]==3 and f[1]==10]
parts=[payload_parts(f) for f in p]
first_data=next((i for i,(m,d) in enumerate(parts) if d), len(parts))
meta_after=[i for i,(m,d) in enumerate(parts) if m and i>first_data]
check('R33 metadata complete before any data', len(p)>2 and not meta_after and b''.join(m for m,d in parts)==meta and b''.join(d for m,d in parts)==b'd'*(3<<20), (len(p), first_data, meta_after[:3]))

print(f"{RESULTS[0]} passed, {RESULTS[1]} failed")
sys.exit(1 if RESULTS[1] else 0)
