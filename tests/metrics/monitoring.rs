//! The chart's monitoring against the real tools (issue 15), a module of the `metrics` test binary: the
//! PrometheusRule rendered by helm passes `promtool check rules` and the unit tests of
//! tests/metrics/monitoring-rules.test.yaml (each alert fires on a synthetic series and stays quiet otherwise); then
//! a real Prometheus on loopback scrapes real `authgate serve` processes (single-config JWT and webhook, and one
//! multi-config process with both modes) under a short load, and every query of the dashboard the chart ships returns
//! data in both modes, so neither the dashboard nor the rules can drift from the metric names.
//!
//! Needs helm, promtool and prometheus on PATH (.ci/run installs them). Outside CI a missing tool skips the test
//! with a loud line; under CI (the `CI` environment variable set) it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::configs::{Jwt, webhook_config};
use super::common::mock::{MockServer, Route};
use super::common::service::{Service, ready};
use super::common::tokens::{JWKS_PATH, mint, rsa1_k1, serve_jwks};
use super::common::{free_port, temp_dir, write_atomic};

/// The alerts the chart defines; each must have a unit test in the promtool test file.
const ALERTS: [&str; 5] = [
    "AuthgateKeySetStale",
    "AuthgateConfigReloadFailing",
    "AuthgateUnavailable",
    "AuthgateAdmissionReviewsFailing",
    "AuthgateDenialSpike",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// True when every tool answers `--version`; otherwise (outside CI only) a loud skip line and false.
fn tools_or_skip(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new(t)
                .arg(if *t == "helm" { "version" } else { "--version" })
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} not on PATH under CI: .ci/run installs helm (scripts/install-helm.sh) and Debian's prometheus"
    );
    // Straight to stderr: libtest captures eprintln! of passing tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {missing:?} not on PATH ***\n"
    );
    false
}

/// Run `cmd` to its end, killed after `limit`; its output.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// `helm template authgate charts/authgate` with both monitoring objects on and the Operator's API announced.
fn render(sets: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new("helm");
    cmd.args([
        "template",
        "authgate",
        "charts/authgate",
        "--namespace",
        "authgate",
    ])
    .args(["--api-versions", "monitoring.coreos.com/v1"])
    .args(["--set", "prometheusRule.enabled=true"])
    .args(["--set", "grafanaDashboard.enabled=true"])
    .current_dir(root());
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = run_bounded(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 render");
    serde_saphyr::from_multiple::<Value>(&text)
        .expect("the render is YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// The rule groups of the rendered PrometheusRule, as a Prometheus rule file (JSON is YAML).
fn rule_file(docs: &[Value]) -> Value {
    let rules: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "PrometheusRule")
        .collect();
    assert_eq!(rules.len(), 1, "one PrometheusRule in the render");
    json!({"groups": rules[0]["spec"]["groups"]})
}

/// The dashboard in the rendered ConfigMap, checked to be the chart's file as it is on disk.
fn dashboard(docs: &[Value]) -> Value {
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "authgate-dashboard")
        .expect("the dashboard ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let text = cm["data"]["authgate.json"]
        .as_str()
        .expect("authgate.json in the ConfigMap");
    let embedded: Value = serde_json::from_str(text).expect("the dashboard is JSON");
    let file = std::fs::read_to_string(root().join("charts/authgate/dashboards/authgate.json"))
        .expect("the dashboard file");
    let file: Value = serde_json::from_str(&file).expect("the dashboard file is JSON");
    assert_eq!(embedded, file, "the ConfigMap holds the chart's dashboard");
    embedded
}

/// Every (panel title, query) of the dashboard.
fn queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().expect("panel title").to_owned();
        let targets = panel["targets"].as_array().expect("panel targets");
        assert!(!targets.is_empty(), "panel {title} has no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("target expr").to_owned();
            out.push((title.clone(), expr));
        }
    }
    out
}

#[test]
fn chart_alert_rules_pass_promtool_check_and_unit_tests() {
    if !tools_or_skip(
        "chart_alert_rules_pass_promtool_check_and_unit_tests",
        &["helm", "promtool"],
    ) {
        return;
    }
    // Without the Operator's API the render refuses, instead of leaving the rules out unsaid.
    let out = run_bounded(
        Command::new("helm")
            .args([
                "template",
                "authgate",
                "charts/authgate",
                "--namespace",
                "authgate",
            ])
            .args(["--set", "prometheusRule.enabled=true"])
            .current_dir(root()),
        Duration::from_secs(60),
    );
    assert!(
        !out.status.success(),
        "rendered without monitoring.coreos.com/v1"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--api-versions monitoring.coreos.com/v1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The schema refuses values the rules could not use.
    for bad in [
        ["--set-json", "prometheusRule.errorRatio=2"],
        ["--set", "prometheusRule.seriesSelector=authgate"],
        ["--set", "prometheusRule.keySetMaxAgeSeconds=ten"],
        ["--set", "grafanaDashboard.folder=Auth"],
    ] {
        let out = run_bounded(
            Command::new("helm")
                .args(["template", "authgate", "charts/authgate"])
                .args(["--api-versions", "monitoring.coreos.com/v1"])
                .args(["--set", "prometheusRule.enabled=true"])
                .args(bad)
                .current_dir(root()),
            Duration::from_secs(60),
        );
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr)
                    .contains("values don't meet the specifications"),
            "{bad:?} not refused by the schema: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let rules = rule_file(&render(&[]));
    let names: Vec<&str> = rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| r["alert"].as_str().expect("alerting rules only"))
        .collect();
    assert_eq!(names, ALERTS);
    let tests_path = root().join("tests/metrics/monitoring-rules.test.yaml");
    let tests = std::fs::read_to_string(&tests_path).expect("the promtool tests");
    for alert in ALERTS {
        assert!(
            tests.contains(&format!("alertname: {alert}\n        exp_alerts:")),
            "{alert} has no firing case in {}",
            tests_path.display()
        );
    }

    let dir = temp_dir("promtool");
    std::fs::write(dir.join("rules.yaml"), rules.to_string()).expect("write rules");
    std::fs::write(dir.join("monitoring-rules.test.yaml"), tests).expect("write tests");
    for args in [
        ["check", "rules", "rules.yaml"],
        ["test", "rules", "monitoring-rules.test.yaml"],
    ] {
        let out = run_bounded(
            Command::new("promtool").args(args).current_dir(&dir),
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A Prometheus process on loopback, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, config: &str) -> Prometheus {
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("prometheus log"))
            .spawn()
            .expect("spawn prometheus");
        Prometheus { child, port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `data` of an API answer (`/api/v1/...` with these parameters), or why there is none.
    async fn api(
        &self,
        client: &reqwest::Client,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, String> {
        let url =
            url::Url::parse_with_params(&self.url(path), params).map_err(|e| e.to_string())?;
        let text = client
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"].clone())
    }

    /// The samples of an instant query, as (labels, value).
    async fn query(&self, client: &reqwest::Client, q: &str) -> Result<Vec<(Value, f64)>, String> {
        let data = self.api(client, "/api/v1/query", &[("query", q)]).await?;
        Ok(data["result"]
            .as_array()
            .ok_or_else(|| format!("no result in {data}"))?
            .iter()
            .map(|s| {
                let v = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (s["metric"].clone(), v)
            })
            .collect())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a dashboard query's answer is not data: empty, NaN (a quantile or ratio over nothing), or all zero (a rate
/// of a preset series nothing moved).
fn lacks_data(samples: &[(Value, f64)]) -> Option<String> {
    if samples.is_empty() {
        return Some("no series".into());
    }
    if samples.iter().any(|(_, v)| !v.is_finite()) {
        return Some(format!("a value that is not a number: {samples:?}"));
    }
    if !samples.iter().any(|(_, v)| *v > 0.0) {
        return Some(format!("only zeros: {samples:?}"));
    }
    None
}

fn hasura_token(kid: &str, user: &str) -> String {
    mint(&json!({"alg": "RS256", "sign_with": "rsa1", "kid": kid,
        "claims": {"claims.jwt.hasura.io": {"x-hasura-allowed-roles": ["user"], "x-hasura-default-role": "user",
            "x-hasura-user-id": user}},
        "exp_in": 600}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_return_data_from_a_real_prometheus_scraping_authgate() {
    if !tools_or_skip(
        "dashboard_queries_return_data_from_a_real_prometheus_scraping_authgate",
        &["helm", "prometheus"],
    ) {
        return;
    }
    // The rules are scoped to the jobs of this Prometheus, so they are evaluated against the real series.
    let docs = render(&[r#"prometheusRule.seriesSelector=job=~"authgate-.+""#]);
    let rules = rule_file(&docs);
    let queries = queries(&dashboard(&docs));

    let jwks = MockServer::start();
    serve_jwks(&jwks, &[rsa1_k1()], None);
    let jwks_url = format!("{}{JWKS_PATH}", jwks.base());
    let hook = MockServer::start();
    hook.set(
        "/hook",
        Route::json(
            200,
            &json!({"x-hasura-role": "user", "x-hasura-user-id": "7"}),
        ),
    );
    let hook_url = format!("{}/hook", hook.base());
    let jwt_yaml = Jwt::jwk_from_url(&jwks_url).yaml();
    let hook_yaml = webhook_config("GET", &hook_url, None);

    // Single-config mode: one JWT process and one webhook process. Multi-config mode: one process with both.
    let single_jwt = Service::start(&jwt_yaml, &[], &[]);
    let single_hook = Service::start(&hook_yaml, &[], &[]);
    let configs = temp_dir("monitoring-configs");
    std::fs::write(configs.join("app.yaml"), &jwt_yaml).expect("write app.yaml");
    std::fs::write(configs.join("hook.yaml"), &hook_yaml).expect("write hook.yaml");
    let multi = Service::start_with(
        &["--config".to_owned(), configs.display().to_string()],
        &temp_dir("monitoring-multi").join("serve"),
        &[],
        &[],
    );
    for svc in [&single_jwt, &single_hook, &multi] {
        ready(svc);
    }

    let dir = temp_dir("prometheus");
    std::fs::write(dir.join("rules.yaml"), rules.to_string()).expect("write rules");
    let target = |s: &Service| format!("'127.0.0.1:{}'", s.admin);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yaml]\nscrape_configs:\n  \
         - job_name: authgate-single\n    static_configs: [{{targets: [{}, {}]}}]\n  \
         - job_name: authgate-multi\n    static_configs: [{{targets: [{}]}}]\n",
        target(&single_jwt),
        target(&single_hook),
        target(&multi)
    );
    let prom = Prometheus::start(&dir, &config);
    let client = super::common::http::client();

    // Every target scraped before the load, so the counters' rates cover it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = prom
            .query(&client, r#"sum(up{job=~"authgate-.+"})"#)
            .await
            .ok()
            .and_then(|s| s.first().map(|(_, v)| *v));
        if up == Some(3.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the three authgate processes (up = {up:?}); log:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // About four seconds of traffic: allows (the repeated token is a cache hit), denials, webhook calls, one unknown
    // kid per JWT process (a forced JWKS refresh), and one config change per process that has a file (a reload).
    let allowed = hasura_token("k1", "1");
    let unknown_kid = hasura_token("k9", "2");
    let single_paths = [single_jwt.url("/graphql"), single_hook.url("/graphql")];
    let multi_paths = [
        multi.url("/configs/app/graphql"),
        multi.url("/configs/hook/graphql"),
    ];
    let until = Instant::now() + Duration::from_secs(4);
    let mut round = 0u32;
    while Instant::now() < until {
        for url in single_paths.iter().chain(multi_paths.iter()) {
            for auth in [Some(allowed.as_str()), None] {
                let mut req = client.get(url);
                if let Some(t) = auth {
                    req = req.bearer_auth(t);
                }
                req.send().await.expect("a decision");
            }
        }
        if round == 2 {
            for url in [
                single_jwt.url("/graphql"),
                multi.url("/configs/app/graphql"),
            ] {
                client
                    .get(url)
                    .bearer_auth(&unknown_kid)
                    .send()
                    .await
                    .expect("a decision");
            }
            write_atomic(&single_jwt.config_path, &format!("{jwt_yaml}# changed\n"));
            std::fs::write(configs.join("app.yaml"), format!("{jwt_yaml}# changed\n"))
                .expect("change app.yaml");
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Each panel's query, for each mode (the dashboard's $job variable), until all return data or time is up.
    let modes = ["authgate-single", "authgate-multi"];
    let deadline = Instant::now() + Duration::from_secs(20);
    let failures = loop {
        let mut failures = Vec::new();
        for job in modes {
            for (title, expr) in &queries {
                let q = expr.replace("$job", job).replace("$__rate_interval", "1m");
                let why = match prom.query(&client, &q).await {
                    Ok(samples) => lacks_data(&samples),
                    Err(e) => Some(e),
                };
                if let Some(why) = why {
                    failures.push(format!("{job} / {title}: {q}\n    {why}"));
                }
            }
        }
        if failures.is_empty() || Instant::now() > deadline {
            break failures;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        failures.is_empty(),
        "dashboard queries without data:\n{}\nPrometheus log:\n{}",
        failures.join("\n"),
        super::common::tail(&prom.log(), 20)
    );

    // Every metric name the rules and the dashboard use is one Prometheus scraped (a renamed metric fails here even
    // where a query could stay empty for good reasons).
    let scraped = prom
        .api(&client, "/api/v1/label/__name__/values", &[])
        .await
        .expect("metric names");
    let scraped: Vec<&str> = scraped
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let used = format!(
        "{rules}{}",
        queries.iter().map(|(_, q)| q.as_str()).collect::<String>()
    );
    let mut names: Vec<&str> = used
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("authgate_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 10, "metric names found: {names:?}");
    for name in &names {
        assert!(scraped.contains(name), "{name} is not a scraped metric");
    }

    // The rules loaded and evaluate without error on the real series; none fires on a healthy, calm service.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let groups = prom
            .api(&client, "/api/v1/rules", &[])
            .await
            .expect("rules");
        let rules: Vec<&Value> = groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().expect("rules").iter())
            .collect();
        assert_eq!(rules.len(), ALERTS.len(), "rules loaded: {groups}");
        let evaluated = rules.iter().all(|r| {
            r["lastEvaluation"]
                .as_str()
                .is_some_and(|t| !t.starts_with("0001"))
        });
        if evaluated {
            for r in &rules {
                assert_eq!(r["health"], "ok", "rule {} on real series: {r}", r["name"]);
                assert_eq!(r["alerts"], json!([]), "rule {} fires: {r}", r["name"]);
            }
            break;
        }
        assert!(Instant::now() < deadline, "rules never evaluated: {groups}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
