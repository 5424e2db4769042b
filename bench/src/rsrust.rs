//! rsocket_rust 0.7.5 (transports 0.7.4): the benchmark server and requester.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, anyhow};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use rsocket_rust::prelude::{Flux, Payload, RSocket, RSocketFactory};
use rsocket_rust_transport_tcp::{TcpClientTransport, TcpServerTransport};
use rsocket_rust_transport_websocket::{WebsocketClientTransport, WebsocketServerTransport};

use crate::client::Requester;
use crate::spec::{Params, Transport, Workload, parse_count};

struct Handler {
    item: Bytes,
    counting: bool,
    fnf: Arc<AtomicU64>,
}

#[rsocket_rust::async_trait]
impl RSocket for Handler {
    async fn metadata_push(&self, _req: Payload) -> rsocket_rust::Result<()> {
        Ok(())
    }

    async fn fire_and_forget(&self, _req: Payload) -> rsocket_rust::Result<()> {
        self.fnf.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn request_response(&self, req: Payload) -> rsocket_rust::Result<Option<Payload>> {
        if self.counting {
            let n = self.fnf.load(Ordering::Relaxed).to_string();
            return Ok(Some(Payload::new(Some(Bytes::from(n)), None)));
        }
        Ok(Some(req))
    }

    fn request_stream(&self, req: Payload) -> Flux<rsocket_rust::Result<Payload>> {
        let n = req.data().map_or(0, |d| parse_count(d));
        let item = self.item.clone();
        Box::pin(
            futures::stream::iter(0..n).map(move |_| Ok(Payload::new(Some(item.clone()), None))),
        )
    }

    fn request_channel(
        &self,
        reqs: Flux<rsocket_rust::Result<Payload>>,
    ) -> Flux<rsocket_rust::Result<Payload>> {
        reqs
    }
}

/// Serves until the process is told to stop; prints `ready` once listening.
pub async fn serve(p: &Params) -> Result<()> {
    let fnf = Arc::new(AtomicU64::new(0));
    let item = Bytes::from(vec![b'y'; p.size]);
    let counting = p.workload == Workload::Fnf;
    let acceptor = move |_setup, _socket| -> rsocket_rust::Result<Box<dyn RSocket>> {
        Ok(Box::new(Handler {
            item: item.clone(),
            counting,
            fnf: fnf.clone(),
        }))
    };
    let mtu = p.mtu.unwrap_or(0);
    let on_start = Box::new(crate::ready);
    match p.transport {
        Transport::Tcp => RSocketFactory::receive()
            .transport(TcpServerTransport::from(p.addr))
            .fragment(mtu)
            .acceptor(Box::new(acceptor))
            .on_start(on_start)
            .serve()
            .await
            .map_err(|e| anyhow!("{e}")),
        Transport::Ws => RSocketFactory::receive()
            .transport(WebsocketServerTransport::from(p.addr))
            .fragment(mtu)
            .acceptor(Box::new(acceptor))
            .on_start(on_start)
            .serve()
            .await
            .map_err(|e| anyhow!("{e}")),
    }
}

pub(crate) struct Theirs(rsocket_rust::Client);

fn data_of(p: Payload) -> Bytes {
    p.split().0.unwrap_or_default()
}

impl Requester for Theirs {
    async fn connect(p: &Params) -> Result<Self> {
        let mtu = p.mtu.unwrap_or(0);
        let client = match p.transport {
            Transport::Tcp => {
                RSocketFactory::connect()
                    .transport(TcpClientTransport::from(p.addr))
                    .fragment(mtu)
                    .start()
                    .await
            }
            Transport::Ws => {
                RSocketFactory::connect()
                    .transport(WebsocketClientTransport::from(p.addr))
                    .fragment(mtu)
                    .start()
                    .await
            }
        }
        .map_err(|e| anyhow!("rsocket-rust connect: {e}"))?;
        Ok(Theirs(client))
    }

    async fn rr(&self, data: Bytes) -> Result<Bytes> {
        let answer = self
            .0
            .request_response(Payload::new(Some(data), None))
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok(answer.map(data_of).unwrap_or_default())
    }

    async fn fnf(&self, data: Bytes) -> Result<()> {
        self.0
            .fire_and_forget(Payload::new(Some(data), None))
            .await
            .map_err(|e| anyhow!("{e}"))
    }

    fn stream(&self, data: Bytes, _request_n: u32) -> BoxStream<'static, Result<Bytes>> {
        // rsocket-rust has no request-n API: every stream asks for 2^31-1.
        self.0
            .request_stream(Payload::new(Some(data), None))
            .map(|r| r.map(data_of).map_err(|e| anyhow!("{e}")))
            .boxed()
    }

    fn channel(&self, out: BoxStream<'static, Bytes>) -> BoxStream<'static, Result<Bytes>> {
        let out: Flux<rsocket_rust::Result<Payload>> =
            Box::pin(out.map(|b| Ok(Payload::new(Some(b), None))));
        self.0
            .request_channel(out)
            .map(|r| r.map(data_of).map_err(|e| anyhow!("{e}")))
            .boxed()
    }
}
