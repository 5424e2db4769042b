//! A small "radar" service and its client, in one process.
//!
//! The server routes by routing metadata: `find.radar.{code}` (request-response),
//! `radars.near.{n}` (request-stream), `track` (request-channel), `report` (fire-and-forget,
//! bearer token required), and a SETUP handler that greets the client and calls it back. The
//! client is itself a responder: it answers `client.status` for the server.
//!
//! ```text
//! cargo run -p rsocket-messaging --example radar
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use rsocket::Server;
use rsocket_messaging::metadata::Authentication;
use rsocket_messaging::router::layers::{AuthLayer, LogLayer, Metrics};
use rsocket_messaging::router::{Data, Extension, Inbound, Path, Request, State};
use rsocket_messaging::{BEARER, Error, Interaction, Requester, Router};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
struct Location {
    code: String,
    lat: f64,
    lon: f64,
}

#[derive(Serialize, Deserialize, Debug)]
struct Hello {
    client: String,
}

/// The radars the service knows, shared by every connection.
type Radars = Arc<HashMap<&'static str, (f64, f64)>>;

#[derive(Clone, Debug)]
struct Principal(String);

async fn find_radar(
    Path(code): Path<String>,
    State(radars): State<Radars>,
) -> Result<Data<Location>, Error> {
    let (lat, lon) = radars
        .get(code.as_str())
        .copied()
        .ok_or_else(|| rsocket::Error::application(format!("no radar {code}")))?;
    Ok(Data(Location { code, lat, lon }))
}

async fn radars_near(
    Path(n): Path<usize>,
    State(radars): State<Radars>,
) -> impl Stream<Item = Data<Location>> {
    let mut all: Vec<_> = radars
        .iter()
        .map(|(code, (lat, lon))| Location {
            code: code.to_string(),
            lat: *lat,
            lon: *lon,
        })
        .collect();
    all.sort_by(|a, b| a.code.cmp(&b.code));
    futures::stream::iter(all.into_iter().take(n).map(Data))
}

/// Echoes each position of a flight with a note of the nearest radar (here: always EWR).
async fn track(positions: Inbound<Location>) -> impl Stream<Item = Result<Data<String>, Error>> {
    positions.map(|p| p.map(|l| Data(format!("{} at ({:.2}, {:.2}): EWR", l.code, l.lat, l.lon))))
}

async fn report(Extension(who): Extension<Principal>, Data(l): Data<Location>) {
    println!(
        "[server] {} reported {} at ({}, {})",
        who.0, l.code, l.lat, l.lon
    );
}

/// SETUP: greets the client, then asks it for its status in the background.
async fn connect(Data(hello): Data<Hello>, client: Requester) -> Result<(), Error> {
    println!("[server] SETUP from {}", hello.client);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match client
            .route("client.status", ())
            .retrieve_one::<String>()
            .await
        {
            Ok(status) => println!("[server] client status: {status}"),
            Err(e) => println!("[server] client status failed: {e}"),
        }
    });
    Ok(())
}

/// Only `report` needs a token; everything else runs as "anonymous".
fn authenticate(auth: Option<Authentication>, req: &Request) -> Result<Principal, Error> {
    match (req.route(), auth) {
        (Some("report"), Some(Authentication::Bearer(t))) if t == "radar-token" => {
            Ok(Principal("operator".into()))
        }
        (Some("report"), _) => Err(Error::Unauthenticated),
        _ => Ok(Principal("anonymous".into())),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let radars: Radars = Arc::new(HashMap::from([
        ("EWR", (40.69, -74.17)),
        ("JFK", (40.64, -73.78)),
        ("LGA", (40.78, -73.87)),
    ]));
    let metrics = Metrics::new();
    let router = Router::new()
        .setup("**", connect)
        .request_response("find.radar.{code}", find_radar)
        .request_stream("radars.near.{n}", radars_near)
        .request_channel("track", track)
        .fire_and_forget("report", report)
        .state(radars)
        .layer(AuthLayer::new(authenticate))
        .layer(LogLayer)
        .layer(metrics.layer());

    // Server on an ephemeral TCP port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = Server::builder().acceptor(router.into_acceptor()).build();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_tcp(listener).await });
    println!("[server] listening on tcp://{addr}");

    // Client, which also answers the server's `client.status`.
    let client_router =
        Router::new().request_response("client.status", || async { Data("all systems go") });
    let requester = Requester::builder()
        .data_mime_type("application/json")
        .setup_data(Hello {
            client: "radar-example".into(),
        })
        .responder(client_router)
        .connect(&format!("tcp://{addr}"))
        .await?;

    let ewr: Location = requester
        .route("find.radar.{}", ["EWR"])
        .retrieve_one()
        .await?;
    println!("[client] find.radar.EWR -> {ewr:?}");

    match requester
        .route("find.radar.{}", ["XXX"])
        .retrieve_one::<Location>()
        .await
    {
        Ok(l) => println!("[client] unexpected {l:?}"),
        Err(e) => println!("[client] find.radar.XXX -> {e}"),
    }

    let mut near = requester
        .route("radars.near.{}", [2])
        .retrieve_stream::<Location>();
    while let Some(l) = near.next().await {
        println!("[client] radars.near.2 -> {:?}", l?);
    }

    let flight = (0..3).map(|i| Location {
        code: "UA123".into(),
        lat: 40.6 + f64::from(i) / 10.0,
        lon: -74.0,
    });
    let mut notes = requester
        .route("track", ())
        .data_stream(futures::stream::iter(flight))
        .retrieve_stream::<String>();
    while let Some(note) = notes.next().await {
        println!("[client] track -> {}", note?);
    }

    requester
        .route("report", ())
        .metadata("radar-token", BEARER)
        .data(&ewr)
        .send()
        .await?;
    println!("[client] report sent (fire-and-forget)");

    tokio::time::sleep(Duration::from_millis(200)).await;
    let rr = metrics.get(Interaction::RequestResponse);
    println!(
        "[server] metrics: {} request-response ({} failed), {} stream, {} channel, {} fnf",
        rr.requests,
        rr.errors,
        metrics.get(Interaction::RequestStream).requests,
        metrics.get(Interaction::RequestChannel).requests,
        metrics.get(Interaction::FireAndForget).requests,
    );
    requester.close();
    server.shutdown().await;
    Ok(())
}
