//! The gRPC listener over a service's life: health follows readiness (a key set not yet fetched, then fetched, then
//! a SIGTERM), a dependency down is `UNAVAILABLE` with a 503 inside the answer, and a shutdown lets a check already
//! accepted finish before the process exits.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::configs::{jwk_from_url_config, webhook_config};
use crate::common::mock::{MockServer, slow_hook};
use crate::common::raw::http_get_status;
use crate::common::service::{Service, started};
use crate::common::tokens::{mint, rsa1_k1, serve_jwks};
use crate::support::{ask, authz, channel, check_map, health, wait_health};

const UNAVAILABLE: i32 = 14;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_readiness_and_a_dependency_down_is_unavailable() {
    let jwks = MockServer::start();
    serve_jwks(&jwks, &[rsa1_k1()], None);
    jwks.set_up(false);
    let mut svc = Service::start(
        &jwk_from_url_config(&jwks),
        &["--shutdown-delay-secs", "2"],
        &[],
    );
    let port = svc.grpc;

    // No key set yet: not ready, and a check is a 503 inside an UNAVAILABLE answer, never an RPC error.
    assert_eq!(http_get_status(&svc.admin_url("/readyz")), Some(503));
    assert_eq!(health(port, "").await, Ok(ServingStatus::NotServing));
    assert_eq!(
        health(port, "envoy.service.auth.v3.Authorization").await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(
        health(port, "no.such.Service").await,
        Err(tonic::Code::NotFound)
    );
    let mut watch = HealthClient::new(channel(port).await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.next().await.expect("a first status").expect("status");
    assert_eq!(first.status, ServingStatus::NotServing as i32);

    let token = mint(
        &json!({"alg": "RS256", "sign_with": "rsa1", "kid": "k1", "exp_in": 3600,
        "claims": {"claims.jwt.hasura.io": {"x-hasura-allowed-roles": ["user"], "x-hasura-default-role": "user"}}}),
    );
    let bearer = format!("Bearer {token}");
    let mut client = authz(&svc).await;
    let down = ask(&mut client, check_map(&[("authorization", &bearer)])).await;
    assert_eq!(down.code, UNAVAILABLE, "{down:?}");
    assert_eq!(down.status, 503);
    assert_eq!(down.header("retry-after"), Some("5"));
    assert_eq!(down.error_code().as_deref(), Some("jwks_unavailable"));

    // The key set arrives: SERVING, as /readyz, and the watch sees the change.
    jwks.set_up(true);
    assert!(
        wait_health(port, ServingStatus::Serving, Duration::from_secs(20)).await,
        "health never SERVING after the JWKS came back; log:\n{}",
        svc.log()
    );
    assert_eq!(http_get_status(&svc.admin_url("/readyz")), Some(200));
    let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch sends the change")
        .expect("a status")
        .expect("status");
    assert_eq!(next.status, ServingStatus::Serving as i32);
    let up = ask(&mut client, check_map(&[("authorization", &bearer)])).await;
    assert_eq!((up.code, up.status), (0, 200), "{up:?}");

    // SIGTERM: NOT_SERVING during the shutdown delay while checks are still answered, then the process exits.
    svc.terminate();
    assert!(
        wait_health(port, ServingStatus::NotServing, Duration::from_secs(2)).await,
        "health still SERVING after SIGTERM"
    );
    let during = ask(&mut client, check_map(&[("authorization", &bearer)])).await;
    assert_eq!(during.status, 200, "checks are answered during the delay");
    let last = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch sends NOT_SERVING");
    assert_eq!(
        last.expect("a status").expect("status").status,
        ServingStatus::NotServing as i32
    );
    let exit = svc
        .wait_exit(Duration::from_secs(15))
        .expect("authgate exits after the drain");
    assert!(exit.success(), "exit {exit:?}; log:\n{}", svc.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_accepted_check_finish() {
    // Longer than the shutdown delay: the listener stops accepting while this check is still running.
    let hook = slow_hook(Duration::from_millis(2500));
    let config = webhook_config("GET", &format!("{}/hook", hook.base()), None);
    let mut svc = started(&config, &["--shutdown-delay-secs", "1"]);
    let mut client = authz(&svc).await;
    let in_flight = tokio::spawn(async move {
        ask(
            &mut client,
            check_map(&[("authorization", "Bearer opaque")]),
        )
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while hook.count("/hook") == 0 {
        assert!(
            Instant::now() < deadline,
            "the check never reached the hook"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    svc.terminate();
    let answer = in_flight.await.expect("in-flight task");
    assert_eq!(
        answer.status, 200,
        "the check accepted before SIGTERM finishes: {answer:?}"
    );
    assert_eq!(answer.header("x-hasura-user-id"), Some("9"));
    let exit = svc
        .wait_exit(Duration::from_secs(15))
        .expect("authgate exits after the drain");
    assert!(exit.success(), "exit {exit:?}; log:\n{}", svc.log());
    // The listener is closed.
    let refused = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", svc.grpc))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(
        refused.is_err(),
        "the gRPC listener still accepts after the exit"
    );
}
