//! End-to-end tests over TCP: a `Router` served with `into_acceptor`, a `Requester` client.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{bounded, connect, serve};
use futures::StreamExt;
use rsocket::ErrorCode;
use rsocket_messaging::router::layers::{LogLayer, Metrics};
use rsocket_messaging::router::{Cbor, Data, Inbound, Json, Metadata, Path, Route, State};
use rsocket_messaging::{BEARER, Error, Interaction, Requester, Router};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Location {
    code: String,
    lat: f64,
    lon: f64,
}

fn ewr() -> Location {
    Location {
        code: "EWR".into(),
        lat: 40.69,
        lon: -74.17,
    }
}

#[derive(Clone, Default)]
struct Counters {
    fnf: Arc<AtomicUsize>,
    push: Arc<AtomicUsize>,
}

fn radar_router() -> Router {
    Router::new()
        .request_response("find.radar.{code}", |Path(code): Path<String>| async move {
            Data(Location { code, ..ewr() })
        })
        .request_stream("radars.{n}", |Path(n): Path<u32>| async move {
            futures::stream::iter((0..n).map(|i| {
                Data(Location {
                    code: format!("R{i}"),
                    lat: f64::from(i),
                    lon: 0.0,
                })
            }))
        })
        .request_channel("track", |inbound: Inbound<Location>| async move {
            inbound.map(|r| {
                r.map(|mut l| {
                    l.lat += 1.0;
                    Data(l)
                })
            })
        })
        .fire_and_forget(
            "report",
            |State(c): State<Counters>, Data(_l): Data<Location>| async move {
                c.fnf.fetch_add(1, Ordering::SeqCst);
            },
        )
        .metadata_push(|State(c): State<Counters>, m: Metadata| async move {
            if m.get("text/plain").is_some_and(|b| &b[..] == b"hello") {
                c.push.fetch_add(1, Ordering::SeqCst);
            }
        })
        .request_response("counts", |State(c): State<Counters>| async move {
            Data((c.fnf.load(Ordering::SeqCst), c.push.load(Ordering::SeqCst)))
        })
        .request_response(
            "sync.report",
            |Data(l): Data<Location>| async move { Data(l) },
        )
        .request_response(
            "cbor.only",
            |Cbor(l): Cbor<Location>| async move { Cbor(l) },
        )
        .request_response(
            "json.only",
            |Json(l): Json<Location>| async move { Json(l) },
        )
        .state(Counters::default())
}

/// Every interaction model through the router with the given data MIME type.
async fn every_interaction(mime: &str) {
    let (server, addr) = serve(radar_router()).await;
    let r = connect(Requester::builder().data_mime_type(mime), addr).await;

    // request-response, with the data really in `mime`.
    let loc: Location = r
        .route("find.radar.{}", ["EWR"])
        .retrieve_one()
        .await
        .unwrap();
    assert_eq!(loc, ewr());
    let raw = r
        .route("find.radar.{}", ["EWR"])
        .retrieve_payload()
        .await
        .unwrap();
    match mime {
        "application/json" => assert_eq!(raw.data[0], b'{'),
        "application/cbor" => assert_eq!(raw.data[0], 0xA3), // map of 3
        _ => {}
    }

    // request-stream
    let list: Vec<Location> = r
        .route("radars.{}", [3])
        .retrieve_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(list.len(), 3);
    assert_eq!(list[2].code, "R2");

    // request-channel: the first payload is part of the inbound values.
    let tracked: Vec<Location> = r
        .route("track", ())
        .data_stream(futures::stream::iter(vec![ewr(), ewr(), ewr()]))
        .retrieve_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(tracked.len(), 3);
    assert!(tracked.iter().all(|l| (l.lat - 41.69).abs() < 1e-9));

    // request-response echo of a decoded value
    let back: Location = r
        .route("sync.report", ())
        .data(&ewr())
        .retrieve_one()
        .await
        .unwrap();
    assert_eq!(back, ewr());

    // fire-and-forget and metadata-push, observed through a request-response.
    r.route("report", ()).data(&ewr()).send().await.unwrap();
    r.request()
        .metadata(Bytes::from_static(b"hello"), "text/plain")
        .metadata_push()
        .await
        .unwrap();
    loop {
        let counts: (usize, usize) = r.route("counts", ()).retrieve_one().await.unwrap();
        if counts == (1, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.close();
    server.shutdown().await;
}

#[tokio::test]
async fn every_interaction_json() {
    bounded(every_interaction("application/json")).await;
}

#[tokio::test]
async fn every_interaction_cbor() {
    bounded(every_interaction("application/cbor")).await;
}

#[tokio::test]
async fn every_interaction_msgpack_with_plain_routing_metadata() {
    bounded(async {
        let (_server, addr) = serve(radar_router()).await;
        let r = connect(
            Requester::builder()
                .data_mime_type("application/x-msgpack")
                .metadata_mime_type("message/x.rsocket.routing.v0"),
            addr,
        )
        .await;
        let loc: Location = r
            .route("find.radar.{}", ["JFK"])
            .retrieve_one()
            .await
            .unwrap();
        assert_eq!(loc.code, "JFK");
        let n = r
            .route("radars.{}", [5])
            .retrieve_stream::<Location>()
            .count()
            .await;
        assert_eq!(n, 5);
        // Plain routing metadata cannot carry other entries: a local usage error.
        let e = r
            .route("find.radar.{}", ["JFK"])
            .metadata("t", BEARER)
            .retrieve_one::<Location>()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
    })
    .await;
}

#[tokio::test]
async fn fixed_format_extractors_ignore_the_connection_mime_type() {
    bounded(async {
        let (_server, addr) = serve(radar_router()).await;
        let r = connect(Requester::builder(), addr).await; // JSON connection
        let mut cbor = Vec::new();
        ciborium::into_writer(&ewr(), &mut cbor).unwrap();
        let p = r
            .route("cbor.only", ())
            .data_bytes(cbor.clone())
            .retrieve_payload()
            .await
            .unwrap();
        assert_eq!(&p.data[..], &cbor[..]);

        let r = connect(
            Requester::builder().data_mime_type("application/cbor"),
            addr,
        )
        .await;
        let json = serde_json::to_vec(&ewr()).unwrap();
        let p = r
            .route("json.only", ())
            .data_bytes(json.clone())
            .retrieve_payload()
            .await
            .unwrap();
        assert_eq!(&p.data[..], &json[..]);
    })
    .await;
}

#[tokio::test]
async fn decode_errors_are_invalid_and_say_what_failed() {
    bounded(async {
        let (_server, addr) = serve(radar_router()).await;
        let r = connect(Requester::builder(), addr).await;
        let e = r
            .route("sync.report", ())
            .data_bytes("{not json")
            .retrieve_one::<Location>()
            .await
            .unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.code(), Some(ErrorCode::INVALID));
        assert!(
            e.message()
                .starts_with("cannot decode data as application/json: "),
            "{}",
            e.message()
        );
        let e = r
            .route("sync.report", ())
            .data(&serde_json::json!({ "code": "X" }))
            .retrieve_one::<Location>()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("missing field `lat`"), "{e}");
        // Undecodable composite metadata is INVALID too.
        let bad = rsocket::Payload::new("x").with_metadata(&[0xFE, 0, 0, 9, 1][..]);
        let e = r.rsocket().request_response(bad).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::INVALID));
    })
    .await;
}

#[derive(Deserialize)]
struct UserPath {
    id: u32,
    name: String,
}

#[tokio::test]
async fn route_variables_and_wildcards() {
    bounded(async {
        let router = Router::new()
            .request_response("add.{a}.{b}", |Path((a, b)): Path<(i64, i64)>| async move {
                Data(a + b)
            })
            .request_response("user.{id}.{name}", |Path(p): Path<UserPath>| async move {
                Data(format!("{}:{}", p.id, p.name))
            })
            .request_response("files.**", |Route(r): Route| async move { Data(r) })
            .request_response("files.{name}", |Path(n): Path<String>| async move {
                Data(format!("file {n}"))
            })
            .request_response("files.*.meta", || async { Data("meta") })
            .request_response("files.readme", || async { Data("readme") })
            .request_response("", || async { Data("no route") });
        let (_server, addr) = serve(router).await;
        let r = connect(Requester::builder(), addr).await;
        let one = |route: &'static str| {
            let r = r.clone();
            async move { r.route(route, ()).retrieve_one::<serde_json::Value>().await }
        };
        assert_eq!(one("add.2.40").await.unwrap(), 42);
        assert_eq!(one("user.7.bob").await.unwrap(), "7:bob");
        assert_eq!(one("files.a").await.unwrap(), "file a");
        assert_eq!(one("files.readme").await.unwrap(), "readme");
        assert_eq!(one("files.a.meta").await.unwrap(), "meta");
        assert_eq!(one("files.a.b.c").await.unwrap(), "files.a.b.c");
        let none: String = r.request().retrieve_one().await.unwrap();
        assert_eq!(none, "no route");

        let e = one("add.x.3").await.unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.code(), Some(ErrorCode::INVALID));
        assert!(
            e.message().contains("'x' is not a valid i64"),
            "{}",
            e.message()
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_route_answers_application_error_naming_it() {
    bounded(async {
        let (_server, addr) = serve(radar_router()).await;
        let r = connect(Requester::builder(), addr).await;
        let e = r
            .route("nope.{}", [1])
            .retrieve_one::<String>()
            .await
            .unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.code(), Some(ErrorCode::APPLICATION_ERROR));
        assert_eq!(
            e.message(),
            "no request-response handler for route 'nope.1'"
        );
        // A route served for another interaction model is unknown for this one.
        let items: Vec<_> = r
            .route("find.radar.EWR", ())
            .retrieve_stream::<Location>()
            .collect()
            .await;
        let [Err(Error::RSocket(e))] = &items[..] else {
            panic!("{items:?}")
        };
        assert_eq!(
            e.message(),
            "no request-stream handler for route 'find.radar.EWR'"
        );
    })
    .await;
}

#[tokio::test]
async fn metrics_and_log_layers_see_every_request() {
    bounded(async {
        let metrics = Metrics::new();
        let router = radar_router().layer(LogLayer).layer(metrics.layer());
        let (_server, addr) = serve(router).await;
        let r = connect(Requester::builder(), addr).await;
        r.route("find.radar.A", ())
            .retrieve_one::<Location>()
            .await
            .unwrap();
        r.route("find.radar.B", ())
            .retrieve_one::<Location>()
            .await
            .unwrap();
        assert!(
            r.route("nope", ())
                .retrieve_one::<Location>()
                .await
                .is_err()
        );
        let _ = r
            .route("radars.{}", [2])
            .retrieve_stream::<Location>()
            .count()
            .await;
        let rr = metrics.get(Interaction::RequestResponse);
        assert_eq!((rr.requests, rr.errors), (3, 1));
        assert_eq!(metrics.get(Interaction::RequestStream).requests, 1);
        assert_eq!(metrics.get(Interaction::Setup).requests, 1);
    })
    .await;
}
