//! Our runtime (`rsocket`): the benchmark server and requester.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use rsocket::{Client, Payload, Prefetch, RSocket, RequestHandler, Server};

use crate::client::Requester;
use crate::spec::{Params, Transport, Workload, parse_count};

/// Serves until the process is told to stop; prints `ready` once listening.
pub async fn serve(p: &Params) -> Result<()> {
    let item = Bytes::from(vec![b'y'; p.size]);
    let fnf_count = Arc::new(AtomicU64::new(0));
    let counting = p.workload == Workload::Fnf;
    let c1 = fnf_count.clone();
    let c2 = fnf_count.clone();
    let handler = RequestHandler::new()
        // Both answer at once: registered without a future (no allocation per request).
        .request_response_sync(move |req: Payload| {
            Ok(if counting {
                Payload::from(c1.load(Ordering::Relaxed).to_string())
            } else {
                req
            })
        })
        .fire_and_forget_sync(move |_req| {
            c2.fetch_add(1, Ordering::Relaxed);
        })
        .request_stream(move |req: Payload| {
            let n = parse_count(&req.data);
            let item = item.clone();
            futures::stream::iter(0..n).map(move |_| Ok(Payload::from(item.clone())))
        })
        .request_channel(|first: Payload, inbound| {
            futures::stream::once(async move { Ok(first) }).chain(inbound)
        });
    let mut builder = Server::builder().responder(handler);
    if let Some(mtu) = p.mtu {
        builder = builder.mtu(mtu);
    }
    let server = builder.build();
    let listener = tokio::net::TcpListener::bind(p.addr).await?;
    crate::ready();
    match p.transport {
        Transport::Tcp => server.serve_tcp(listener).await?,
        Transport::Ws => server.serve_ws(listener, "/rsocket").await?,
    }
    Ok(())
}

pub(crate) struct Ours(RSocket);

impl Requester for Ours {
    async fn connect(p: &Params) -> Result<Self> {
        let mut b = Client::builder();
        if let Some(mtu) = p.mtu {
            b = b.mtu(mtu);
        }
        let uri = match p.transport {
            Transport::Tcp => format!("tcp://{}", p.addr),
            Transport::Ws => p.ws_url(),
        };
        Ok(Ours(b.connect(&uri).await?))
    }

    async fn rr(&self, data: Bytes) -> Result<Bytes> {
        Ok(self.0.request_response(Payload::from(data)).await?.data)
    }

    async fn fnf(&self, data: Bytes) -> Result<()> {
        Ok(self.0.fire_and_forget(Payload::from(data)).await?)
    }

    fn stream(&self, data: Bytes, request_n: u32) -> BoxStream<'static, Result<Bytes>> {
        self.0
            .request_stream_with(Payload::from(data), Prefetch::new(request_n))
            .map(|r| r.map(|p| p.data).map_err(anyhow::Error::from))
            .boxed()
    }

    fn channel(&self, out: BoxStream<'static, Bytes>) -> BoxStream<'static, Result<Bytes>> {
        self.0
            .request_channel(out.map(Payload::from))
            .map(|r| r.map(|p| p.data).map_err(anyhow::Error::from))
            .boxed()
    }
}
