//! A small RSocket client for the `server` example (or `rsocket serve --tcp 127.0.0.1:7000`).
//!
//! Run: `cargo run -p rsocket --example client`.

use futures::StreamExt;
use rsocket::{Client, Payload};

#[tokio::main]
async fn main() -> Result<(), rsocket::Error> {
    let rsocket = Client::builder().connect("tcp://127.0.0.1:7000").await?;

    let answer = rsocket.request_response(Payload::from("hello")).await?;
    println!("request-response: {:?}", answer.data_utf8());

    let mut stream = rsocket.request_stream(Payload::from("5"));
    while let Some(item) = stream.next().await {
        println!("request-stream: {:?}", item?.data_utf8());
    }

    let outbound = futures::stream::iter(["a", "b", "c"].map(Payload::from));
    let echoed: Vec<_> = rsocket.request_channel(outbound).collect().await;
    println!("request-channel: {} payloads echoed", echoed.len());

    rsocket.fire_and_forget(Payload::from("bye")).await?;
    Ok(())
}
