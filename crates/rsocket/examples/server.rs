//! A small RSocket server: echo, a counting stream, and an echo channel, on TCP port 7000.
//!
//! Run: `cargo run -p rsocket --example server`, then `cargo run -p rsocket --example client`.

use futures::StreamExt;
use rsocket::{Payload, RequestHandler, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let handler = RequestHandler::new()
        .request_response(|p: Payload| async move { Ok(p) })
        .request_stream(|p: Payload| {
            let n: u32 = p.data_utf8().and_then(|s| s.parse().ok()).unwrap_or(3);
            futures::stream::iter(0..n).map(|i| Ok(Payload::from(format!("item {i}"))))
        })
        .request_channel(|first, rest| futures::stream::once(async { Ok(first) }).chain(rest))
        .fire_and_forget(|p: Payload| async move {
            println!("fire-and-forget: {:?}", p.data_utf8());
        });
    let server = Server::builder().responder(handler).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:7000").await?;
    println!("listening on tcp://127.0.0.1:7000");
    server.serve_tcp(listener).await
}
