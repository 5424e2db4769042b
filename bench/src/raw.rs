//! The physical limit: frames of RSocket's wire size (6-byte header, the same extra fields, a
//! 24-bit length prefix on TCP, one binary message per frame on WebSocket) over plain tokio,
//! with batched writes and none of a protocol's bookkeeping.

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use anyhow::{Result, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::spec::{ClientOut, Latency, Params, Transport, Workload, parse_count};

const RR: u8 = 0x04;
const FNF: u8 = 0x05;
const STREAM: u8 = 0x06;
const CHANNEL: u8 = 0x07;
const REQN: u8 = 0x08;
const PAYLOAD: u8 = 0x0A;
const FOLLOWS: u8 = 1;
const COMPLETE: u8 = 2;
/// Bytes queued before a write.
const BATCH: usize = 64 * 1024;

/// One received frame.
struct RawFrame {
    id: u32,
    ty: u8,
    flags: u8,
    n: u32,
    body: Bytes,
}

fn has_n(ty: u8) -> bool {
    matches!(ty, STREAM | CHANNEL | REQN)
}

fn put_frame(dst: &mut BytesMut, id: u32, ty: u8, flags: u8, n: Option<u32>, data: &[u8]) {
    dst.put_u32(id);
    dst.put_u8(ty);
    dst.put_u8(flags);
    if let Some(n) = n {
        dst.put_u32(n);
    }
    dst.put_slice(data);
}

fn decode(mut b: Bytes) -> io::Result<RawFrame> {
    if b.len() < 6 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "short frame"));
    }
    let id = b.get_u32();
    let ty = b.get_u8();
    let flags = b.get_u8();
    let n = if has_n(ty) && b.len() >= 4 {
        b.get_u32()
    } else {
        0
    };
    Ok(RawFrame {
        id,
        ty,
        flags,
        n,
        body: b,
    })
}

/// A framed connection: TCP with a 24-bit length prefix, or WebSocket binary messages.
enum Conn {
    Tcp {
        s: TcpStream,
        rbuf: BytesMut,
        wbuf: BytesMut,
    },
    Ws {
        ws: Box<WebSocketStream<TcpStream>>,
        scratch: BytesMut,
        out: Vec<Message>,
        pending: usize,
    },
}

impl Conn {
    fn tcp(s: TcpStream) -> Conn {
        let _ = s.set_nodelay(true);
        Conn::Tcp {
            s,
            rbuf: BytesMut::with_capacity(BATCH),
            wbuf: BytesMut::with_capacity(BATCH),
        }
    }

    fn ws(ws: WebSocketStream<TcpStream>) -> Conn {
        Conn::Ws {
            ws: Box::new(ws),
            scratch: BytesMut::with_capacity(BATCH),
            out: Vec::new(),
            pending: 0,
        }
    }

    fn queue(&mut self, id: u32, ty: u8, flags: u8, n: Option<u32>, data: &[u8]) {
        let len = 6 + n.map_or(0, |_| 4) + data.len();
        match self {
            Conn::Tcp { wbuf, .. } => {
                wbuf.reserve(3 + len);
                wbuf.put_uint(len as u64, 3);
                put_frame(wbuf, id, ty, flags, n, data);
            }
            Conn::Ws {
                scratch,
                out,
                pending,
                ..
            } => {
                scratch.reserve(len);
                put_frame(scratch, id, ty, flags, n, data);
                out.push(Message::Binary(scratch.split().freeze()));
                *pending += len;
            }
        }
    }

    /// Queues one message, fragmented at `mtu` like RSocket does (FOLLOWS on all but the last).
    fn queue_msg(
        &mut self,
        id: u32,
        ty: u8,
        n: Option<u32>,
        data: &[u8],
        mtu: Option<usize>,
        last: u8,
    ) {
        let head = 6 + n.map_or(0, |_| 4);
        match mtu {
            Some(m) if head + data.len() > m => {
                let mut rest = data;
                let mut first = true;
                loop {
                    let (t, nn, h) = if first {
                        (ty, n, head)
                    } else {
                        (PAYLOAD, None, 6)
                    };
                    let chunk = m.saturating_sub(h).max(1);
                    if rest.len() <= chunk {
                        self.queue(id, t, last, nn, rest);
                        return;
                    }
                    self.queue(id, t, FOLLOWS, nn, &rest[..chunk]);
                    rest = &rest[chunk..];
                    first = false;
                }
            }
            _ => self.queue(id, ty, last, n, data),
        }
    }

    fn pending(&self) -> usize {
        match self {
            Conn::Tcp { wbuf, .. } => wbuf.len(),
            Conn::Ws { pending, .. } => *pending,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tcp { s, wbuf, .. } => {
                if !wbuf.is_empty() {
                    s.write_all(wbuf).await?;
                    wbuf.clear();
                }
                Ok(())
            }
            Conn::Ws {
                ws, out, pending, ..
            } => {
                if out.is_empty() {
                    return Ok(());
                }
                for m in out.drain(..) {
                    ws.feed(m).await.map_err(io::Error::other)?;
                }
                *pending = 0;
                ws.flush().await.map_err(io::Error::other)
            }
        }
    }

    /// The next frame already read (no system call on TCP).
    fn buffered(&mut self) -> io::Result<Option<RawFrame>> {
        match self {
            Conn::Tcp { rbuf, .. } => split(rbuf),
            Conn::Ws { ws, .. } => match ws.next().now_or_never() {
                Some(Some(Ok(Message::Binary(b)))) => decode(b).map(Some),
                Some(Some(Err(e))) => Err(io::Error::other(e)),
                _ => Ok(None),
            },
        }
    }

    /// Like [`Conn::buffered`], but also tries one non-blocking read.
    fn try_recv(&mut self) -> io::Result<Option<RawFrame>> {
        if let Some(f) = self.buffered()? {
            return Ok(Some(f));
        }
        if let Conn::Tcp { s, rbuf, .. } = self {
            rbuf.reserve(BATCH);
            match s.try_read_buf(rbuf) {
                Ok(_) => return split(rbuf),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    async fn recv(&mut self) -> io::Result<Option<RawFrame>> {
        match self {
            Conn::Tcp { s, rbuf, .. } => loop {
                if let Some(f) = split(rbuf)? {
                    return Ok(Some(f));
                }
                let missing = if rbuf.len() >= 3 {
                    (3 + ((rbuf[0] as usize) << 16 | (rbuf[1] as usize) << 8 | rbuf[2] as usize))
                        .saturating_sub(rbuf.len())
                } else {
                    0
                };
                rbuf.reserve(missing.max(BATCH));
                if s.read_buf(rbuf).await? == 0 {
                    return Ok(None);
                }
            },
            Conn::Ws { ws, .. } => loop {
                match ws.next().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(io::Error::other(e)),
                    Some(Ok(Message::Binary(b))) => return decode(b).map(Some),
                    Some(Ok(Message::Close(_))) => return Ok(None),
                    Some(Ok(_)) => {}
                }
            },
        }
    }
}

fn split(rbuf: &mut BytesMut) -> io::Result<Option<RawFrame>> {
    if rbuf.len() < 3 {
        return Ok(None);
    }
    let len = (rbuf[0] as usize) << 16 | (rbuf[1] as usize) << 8 | rbuf[2] as usize;
    if rbuf.len() < 3 + len {
        return Ok(None);
    }
    rbuf.advance(3);
    decode(rbuf.split_to(len).freeze()).map(Some)
}

async fn connect(p: &Params) -> Result<Conn> {
    let s = TcpStream::connect(p.addr).await?;
    s.set_nodelay(true)?;
    Ok(match p.transport {
        Transport::Tcp => Conn::tcp(s),
        Transport::Ws => {
            let (ws, _) = tokio_tungstenite::client_async_with_config(
                p.ws_url(),
                s,
                Some(rsocket::transport::ws::ws_config()),
            )
            .await?;
            Conn::ws(ws)
        }
    })
}

/// Serves until the process is told to stop; prints `ready` once listening.
pub async fn serve(p: &Params) -> Result<()> {
    let listener = TcpListener::bind(p.addr).await?;
    crate::ready();
    let p = std::sync::Arc::new(p.clone());
    loop {
        let (s, _) = listener.accept().await?;
        let p = p.clone();
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let conn = match p.transport {
                Transport::Tcp => Conn::tcp(s),
                Transport::Ws => match tokio_tungstenite::accept_async_with_config(
                    s,
                    Some(rsocket::transport::ws::ws_config()),
                )
                .await
                {
                    Ok(ws) => Conn::ws(ws),
                    Err(_) => return,
                },
            };
            let _ = serve_conn(conn, &p).await;
        });
    }
}

async fn serve_conn(mut c: Conn, p: &Params) -> io::Result<()> {
    if p.workload.is_stream() {
        return serve_streams(c, p).await;
    }
    let mut fnf = 0u64;
    while let Some(mut f) = c.recv().await? {
        loop {
            match f.ty {
                FNF if f.flags & FOLLOWS == 0 => fnf += 1,
                FNF => {}
                RR if p.workload == Workload::Fnf => {
                    c.queue(f.id, PAYLOAD, COMPLETE, None, fnf.to_string().as_bytes());
                }
                RR | CHANNEL | PAYLOAD => {
                    let flags = f.flags & FOLLOWS;
                    c.queue(f.id, PAYLOAD, flags, None, &f.body);
                }
                _ => {}
            }
            match c.buffered()? {
                Some(next) => f = next,
                None => break,
            }
        }
        c.flush().await?;
    }
    Ok(())
}

struct Emitting {
    id: u32,
    left: u64,
    credit: u64,
}

/// Round-robin over the open streams, within each one's credit, writing in 64 KiB batches.
async fn serve_streams(mut c: Conn, p: &Params) -> io::Result<()> {
    let item = vec![b'y'; p.size];
    let mut active: Vec<Emitting> = Vec::new();
    let intake = |f: RawFrame, active: &mut Vec<Emitting>| match f.ty {
        STREAM => active.push(Emitting {
            id: f.id,
            left: parse_count(&f.body),
            credit: if f.n >= 0x7FFF_FFFF {
                u64::MAX
            } else {
                u64::from(f.n)
            },
        }),
        REQN => {
            if let Some(s) = active.iter_mut().find(|s| s.id == f.id) {
                s.credit = s.credit.saturating_add(u64::from(f.n));
            }
        }
        _ => {}
    };
    loop {
        while let Some(f) = c.buffered()? {
            intake(f, &mut active);
        }
        if !active.iter().any(|s| s.credit > 0) {
            c.flush().await?;
            match c.recv().await? {
                Some(f) => intake(f, &mut active),
                None => return Ok(()),
            }
            continue;
        }
        for s in active.iter_mut().filter(|s| s.credit > 0) {
            s.left -= 1;
            s.credit -= 1;
            let last = if s.left == 0 { COMPLETE } else { 0 };
            c.queue_msg(s.id, PAYLOAD, None, &item, p.mtu, last);
        }
        active.retain(|s| s.left > 0);
        if c.pending() >= BATCH {
            c.flush().await?;
            while let Some(f) = c.try_recv()? {
                intake(f, &mut active);
            }
        }
    }
}

/// Runs the workload of `p` against a raw server.
pub async fn client(p: &Params) -> Result<ClientOut> {
    let data = vec![b'x'; p.size];
    let mut out = ClientOut::default();
    match p.workload {
        Workload::Rr1 | Workload::Rr64 | Workload::Rr1024 | Workload::Channel => {
            let mut c = connect(p).await?;
            let n = p.workload.in_flight().unwrap_or(64);
            let start = Instant::now();
            let mut lat = Latency::new();
            out.msgs = rr_loop(&mut c, p, &data, n, p.deadline(start), &mut lat).await?;
            out.secs = start.elapsed().as_secs_f64();
            if p.workload != Workload::Channel {
                (out.p50_us, out.p99_us) = lat.percentiles();
            }
        }
        Workload::Conns100 => {
            let mut conns = Vec::new();
            for _ in 0..p.workload.connections() {
                conns.push(connect(p).await?);
            }
            let start = Instant::now();
            let deadline = p.deadline(start);
            let runs = conns.iter_mut().map(|c| {
                let data = &data;
                async move {
                    let mut lat = Latency::new();
                    let n = rr_loop(c, p, data, 1, deadline, &mut lat).await?;
                    Ok::<_, anyhow::Error>((n, lat))
                }
            });
            let results = futures::future::join_all(runs).await;
            out.secs = start.elapsed().as_secs_f64();
            let mut lat = Latency::new();
            for r in results {
                let (n, l) = r?;
                out.msgs += n;
                lat.merge(&l);
            }
            (out.p50_us, out.p99_us) = lat.percentiles();
        }
        Workload::Fnf => {
            let mut c = connect(p).await?;
            let start = Instant::now();
            let deadline = p.deadline(start);
            let give_up = p.give_up(start);
            let per_batch = (BATCH / (9 + p.size)).max(1);
            let mut sent = 0u64;
            let mut id = 1u32;
            while Instant::now() < deadline {
                for _ in 0..per_batch {
                    c.queue_msg(id, FNF, None, &data, p.mtu, 0);
                    id = id.wrapping_add(2);
                }
                sent += per_batch as u64;
                c.flush().await?;
            }
            loop {
                c.queue(id, RR, 0, None, b"count");
                c.flush().await?;
                let Ok(f) = tokio::time::timeout_at(give_up.into(), c.recv()).await else {
                    bail!("no answer to the count request within --max-secs (sent {sent})");
                };
                let Some(f) = f? else { bail!("server closed") };
                let got = parse_count(&f.body);
                if got >= sent || Instant::now() > give_up {
                    out.msgs = got;
                    out.truncated = got < sent;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_micros(500)).await;
            }
            out.secs = start.elapsed().as_secs_f64();
            out.note = Some(format!("sent {sent}"));
        }
        Workload::Stream | Workload::StreamRn | Workload::Streams1k => {
            let mut c = connect(p).await?;
            let rn = p.workload == Workload::StreamRn;
            let each = p.items_per_stream();
            let streams = p.workload.streams();
            let start = Instant::now();
            let give_up = p.give_up(start);
            let n = if rn { 256 } else { 0x7FFF_FFFF };
            for i in 0..streams {
                let id = 1 + 2 * i as u32;
                c.queue(id, STREAM, 0, Some(n), each.to_string().as_bytes());
            }
            c.flush().await?;
            let mut completed = 0;
            let mut since = 0;
            'outer: while completed < streams {
                let Some(mut f) = c.recv().await? else {
                    bail!("server closed")
                };
                loop {
                    if f.flags & FOLLOWS == 0 {
                        out.msgs += 1;
                        since += 1;
                        if rn && since == 128 {
                            since = 0;
                            c.queue(f.id, REQN, 0, Some(128), &[]);
                        }
                    }
                    if f.flags & COMPLETE != 0 {
                        completed += 1;
                    }
                    match c.buffered()? {
                        Some(next) => f = next,
                        None => break,
                    }
                }
                if c.pending() > 0 {
                    c.flush().await?;
                }
                if Instant::now() > give_up {
                    out.truncated = true;
                    break 'outer;
                }
            }
            out.secs = start.elapsed().as_secs_f64();
        }
    }
    Ok(out)
}

/// Keeps `n` requests in flight (request-response, or a channel's echoed payloads) until
/// `deadline`; the server answers in order, so send times wait in a queue.
async fn rr_loop(
    c: &mut Conn,
    p: &Params,
    data: &[u8],
    n: usize,
    deadline: Instant,
    lat: &mut Latency,
) -> Result<u64> {
    let channel = p.workload == Workload::Channel;
    // These loops are half-duplex (write everything, then read): more than a few MiB in flight
    // would fill both sockets' buffers and deadlock, so large payloads keep fewer in flight.
    let n = n.min((8 << 20) / (9 + data.len())).max(1);
    let mut sent_at = VecDeque::with_capacity(n);
    let mut id = 1u32;
    let mut send = |c: &mut Conn, first: bool| {
        if channel {
            let ty = if first { CHANNEL } else { PAYLOAD };
            c.queue_msg(1, ty, first.then_some(n as u32), data, p.mtu, 0);
        } else {
            c.queue_msg(id, RR, None, data, p.mtu, 0);
            id = id.wrapping_add(2);
        }
    };
    for i in 0..n {
        send(c, i == 0);
        sent_at.push_back(Instant::now());
    }
    c.flush().await?;
    let mut done = 0u64;
    while !sent_at.is_empty() {
        let Some(mut f) = c.recv().await? else {
            bail!("server closed")
        };
        loop {
            if f.flags & FOLLOWS == 0 {
                let now = Instant::now();
                if let Some(t) = sent_at.pop_front() {
                    lat.record(now - t);
                }
                done += 1;
                if now < deadline {
                    send(c, false);
                    sent_at.push_back(now);
                }
            }
            match c.buffered()? {
                Some(next) => f = next,
                None => break,
            }
        }
        c.flush().await?;
    }
    Ok(done)
}
