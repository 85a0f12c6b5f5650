//! Graceful shutdown on SIGTERM: readiness turns false first, a decision already accepted finishes, the process
//! exits cleanly. And tokens never appear in the logs.

mod common;

use std::time::{Duration, Instant};

use common::configs::webhook_config;
use common::mock::slow_hook;
use common::raw::http_get_status;
use common::service::started;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_decisions_after_readiness_turns_false() {
    // Longer than the shutdown delay: the listener stops accepting while this decision is still running.
    let hook = slow_hook(Duration::from_millis(2500));
    let config = webhook_config("GET", &format!("{}/hook", hook.base()), None);
    let mut svc = started(&config, &["--shutdown-delay-secs", "1"]);

    let secret = "Bearer sk_live_do-not-log-this-0123456789";
    let url = svc.url("/graphql");
    let in_flight = tokio::spawn(async move {
        let resp = common::http::client()
            .get(url)
            .header("authorization", secret)
            .send()
            .await
            .expect("request");
        let user = resp
            .headers()
            .get("x-hasura-user-id")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        (resp.status().as_u16(), user)
    });
    // Let the decision reach the (slow) hook, then ask the service to stop.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hook.count("/hook") == 0 {
        assert!(
            Instant::now() < deadline,
            "the decision never reached the hook"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    svc.terminate();

    // Readiness turns false while the process is still up and still answering.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match http_get_status(&svc.admin_url("/readyz")) {
            Some(503) => break,
            Some(_) => {}
            None => panic!("the admin listener closed before readiness turned false"),
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still ready after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, user) = in_flight.await.expect("in-flight task");
    assert_eq!(
        status, 200,
        "the decision accepted before SIGTERM must finish"
    );
    assert_eq!(user.as_deref(), Some("9"));

    let exit = svc
        .wait_exit(Duration::from_secs(15))
        .expect("authgate exits after the drain");
    assert!(exit.success(), "exit status {exit:?}; log:\n{}", svc.log());
    let log = svc.log();
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains("sk_live_do-not-log-this"),
        "a credential reached the log:\n{log}"
    );
}
