//! End-to-end tests over TCP: authentication, SETUP handling and a client responder.

mod common;

use std::sync::{Arc, Mutex};

use common::{bounded, connect, serve};
use futures::StreamExt;
use rsocket::{ErrorCode, ErrorKind};
use rsocket_messaging::metadata::Authentication;
use rsocket_messaging::router::layers::AuthLayer;
use rsocket_messaging::router::{Data, Extension, Path, Request, State};
use rsocket_messaging::{BEARER, Error, Requester, Router, SIMPLE_AUTH};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug)]
struct User(String);

#[tokio::test]
async fn authentication_extraction_and_auth_layer() {
    bounded(async {
        let router = Router::new()
            .request_response("whoami", |auth: Authentication| async move {
                Data(match auth {
                    Authentication::Bearer(t) => format!("bearer {t}"),
                    Authentication::Simple { username, .. } => format!("simple {username}"),
                    _ => "other".to_string(),
                })
            })
            .request_response("optional", |auth: Option<Authentication>| async move {
                Data(auth.is_some())
            })
            .request_response("secure.me", |Extension(u): Extension<User>| async move {
                Data(u.0)
            })
            .layer(AuthLayer::new(
                |auth: Option<Authentication>, req: &Request| {
                    if !req.route().unwrap_or_default().starts_with("secure.") {
                        return Ok(User("anonymous".into()));
                    }
                    match auth {
                        Some(Authentication::Bearer(t)) if t == "s3cret" => {
                            Ok(User("alice".into()))
                        }
                        _ => Err(Error::Unauthenticated),
                    }
                },
            ));
        let (_server, addr) = serve(router).await;
        let r = connect(Requester::builder(), addr).await;

        let e = r
            .route("whoami", ())
            .retrieve_one::<String>()
            .await
            .unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.code(), Some(ErrorCode::REJECTED));
        assert_eq!(e.message(), "authentication required");

        let who: String = r
            .route("whoami", ())
            .metadata("tok", BEARER)
            .retrieve_one()
            .await
            .unwrap();
        assert_eq!(who, "bearer tok");
        let who: String = r
            .route("whoami", ())
            .metadata(("bob", "pw"), SIMPLE_AUTH)
            .retrieve_one()
            .await
            .unwrap();
        assert_eq!(who, "simple bob");
        assert!(
            !r.route("optional", ())
                .retrieve_one::<bool>()
                .await
                .unwrap()
        );
        assert!(
            r.route("optional", ())
                .metadata("t", BEARER)
                .retrieve_one::<bool>()
                .await
                .unwrap()
        );

        let me: String = r
            .route("secure.me", ())
            .metadata("s3cret", BEARER)
            .retrieve_one()
            .await
            .unwrap();
        assert_eq!(me, "alice");
        let e = r
            .route("secure.me", ())
            .metadata("wrong", BEARER)
            .retrieve_one::<String>()
            .await
            .unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.code(), Some(ErrorCode::REJECTED));
    })
    .await;
}

#[derive(Serialize, Deserialize, Clone)]
struct Hello {
    client: String,
}

#[tokio::test]
async fn setup_handler_accepts_and_rejects() {
    bounded(async {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let router = Router::new()
            .setup(
                "connect.{kind}",
                |Path(kind): Path<String>,
                 Data(hello): Data<Hello>,
                 auth: Option<Authentication>,
                 State(seen): State<Arc<Mutex<Vec<String>>>>| async move {
                    match auth {
                        Some(Authentication::Bearer(t)) if t == "ok" => {
                            seen.lock()
                                .unwrap()
                                .push(format!("{kind}:{}", hello.client));
                            Ok(())
                        }
                        _ => Err(rsocket::Error::rejected_setup("bad token")),
                    }
                },
            )
            .request_response("ping", || async { "pong" })
            .state(seen.clone());
        let (_server, addr) = serve(router).await;
        let hello = Hello {
            client: "radar-app".into(),
        };

        let ok = connect(
            Requester::builder()
                .setup_route("connect.{}", ["mobile"])
                .setup_metadata("ok", BEARER)
                .setup_data(hello.clone()),
            addr,
        )
        .await;
        let pong = ok.route("ping", ()).retrieve_payload().await.unwrap();
        assert_eq!(pong.data_utf8(), Some("pong"));
        assert_eq!(*seen.lock().unwrap(), ["mobile:radar-app"]);

        let bad = connect(
            Requester::builder()
                .setup_route("connect.{}", ["mobile"])
                .setup_metadata("nope", BEARER)
                .setup_data(hello.clone()),
            addr,
        )
        .await;
        let e = bad.route("ping", ()).retrieve_payload().await.unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.kind(), ErrorKind::Setup);
        assert_eq!(e.code(), Some(ErrorCode::REJECTED_SETUP));
        assert_eq!(e.message(), "bad token");

        // Undecodable setup data rejects with a message saying what failed.
        let garbled = connect(
            Requester::builder()
                .setup_route("connect.{}", ["mobile"])
                .setup_data_bytes("{{{"),
            addr,
        )
        .await;
        let e = garbled
            .route("ping", ())
            .retrieve_payload()
            .await
            .unwrap_err();
        let Error::RSocket(e) = e else { panic!("{e}") };
        assert_eq!(e.code(), Some(ErrorCode::REJECTED_SETUP));
        assert!(
            e.message()
                .starts_with("cannot decode data as application/json"),
            "{}",
            e.message()
        );

        // A setup no handler matches is accepted.
        let plain = connect(Requester::builder(), addr).await;
        assert!(plain.route("ping", ()).retrieve_payload().await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn client_responder_answers_server_initiated_requests() {
    bounded(async {
        let server_router = Router::new()
            .request_response(
                "ask.client",
                |client: Requester, Data(q): Data<String>| async move {
                    let a: String = client
                        .route("client.upper", ())
                        .data(&q)
                        .retrieve_one()
                        .await?;
                    Ok::<_, Error>(Data(format!("client said: {a}")))
                },
            )
            .request_response("ask.client.stream", |client: Requester| async move {
                let items: Vec<u32> = client
                    .route("client.count.{}", [4])
                    .retrieve_stream::<u32>()
                    .map(|r| r.unwrap_or(u32::MAX))
                    .collect()
                    .await;
                Data(items)
            });
        let (_server, addr) = serve(server_router).await;

        let client_router = Router::new()
            .request_response("client.upper", |Data(q): Data<String>| async move {
                Data(q.to_uppercase())
            })
            .request_stream("client.count.{n}", |Path(n): Path<u32>| async move {
                futures::stream::iter((0..n).map(Data))
            });
        let r = connect(Requester::builder().responder(client_router), addr).await;
        let a: String = r
            .route("ask.client", ())
            .data("hello")
            .retrieve_one()
            .await
            .unwrap();
        assert_eq!(a, "client said: HELLO");
        let items: Vec<u32> = r
            .route("ask.client.stream", ())
            .retrieve_one()
            .await
            .unwrap();
        assert_eq!(items, [0, 1, 2, 3]);
    })
    .await;
}
