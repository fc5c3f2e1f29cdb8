//! The probes against real components: checks are written into a temporary stack's `tugboat.yml`, loaded
//! and compiled as `tug smoke` and `tug watch` do, run once, and their [`Outcome`]s inspected — status,
//! the failed conditions with what was observed, and the error.
//!
//! Real servers throughout (see `support/`): HTTP targets and a TLS server (rcgen certificate) on
//! loopback, dnsmasq, scratch PostgreSQL and MariaDB servers, Docker containers. A missing tool fails
//! its test saying what to install.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{
    free_port, Dnsmasq, HttpTarget, Response, SmtpOptions, SmtpSink, StackDir, TestCert, TestContainer, TlsServer,
    WebhookReceiver,
};
use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;
use tugboat_watch::probe::{Check, Outcome, Prober, Status};

/// Runs one check on a fresh runtime, as `tug smoke` would.
fn run(check: &Check) -> Outcome {
    run_with(&Prober::new(), check)
}

fn run_with(prober: &Prober, check: &Check) -> Outcome {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(prober.run(check))
}

/// The failed conditions as (condition, observed).
fn failed(o: &Outcome) -> Vec<(String, String)> {
    o.conditions.iter().filter(|c| !c.ok).map(|c| (c.condition.clone(), c.observed.clone())).collect()
}

#[track_caller]
fn assert_pass(o: &Outcome) {
    assert_eq!(o.status, Status::Pass, "{} should pass: {}\n{o:#?}", o.check, o.failure_summary());
    assert!(o.error.is_none(), "{o:#?}");
}

#[track_caller]
fn assert_fails_with(o: &Outcome, want: &[(&str, &str)]) {
    assert_eq!(o.status, Status::Fail, "{} should fail: {o:#?}", o.check);
    let want: Vec<(String, String)> = want.iter().map(|(c, v)| (c.to_string(), v.to_string())).collect();
    assert_eq!(failed(o), want, "{o:#?}");
}

/// A `tugboat.yml` with one suite `probe` of `checks` (YAML list items, indented by four spaces).
fn suite(checks: &str) -> String {
    format!("checks:\n  probe:\n{checks}")
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

#[test]
fn http_conditions_on_status_json_body_patterns_headers_and_response_time() {
    let target = HttpTarget::start();
    let body = serde_json::json!({"status": "ok", "data": [{"id": 7}, {"id": 9}], "version": "1.4.2"});
    target.route("/health", Response::json(body).header("X-App", "tugboat"));
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: api
      http: {}
      expect:
        - "[STATUS] == 200"
        - "[STATUS] == any(200, 204)"
        - '[BODY].status == "ok"'
        - "[BODY].data[1].id == 9"
        - "len([BODY].data) == 2"
        - 'has([BODY].errors) == false'
        - '[BODY] == pat(*"version":"1.4.2"*)'
        - "[HEADERS].x-app == tugboat"
        - "[HEADERS].content-type == application/json"
        - "[CONNECTED] == true"
        - "[RESPONSE_TIME] >= 0"
"#,
        target.url("/health")
    )));
    let check = stack.check("api");
    assert_eq!(check.target, format!("GET {}", target.url("/health")));
    let o = run(&check);
    assert_pass(&o);
    assert_eq!(o.conditions.len(), 11);
    assert!(o.values.contains_key("RESPONSE_TIME") && o.values["STATUS"] == 200.0, "{:?}", o.values);
    let requests = target.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("GET", "/health"));
}

#[test]
fn http_failures_report_the_observed_values_and_recover_when_the_target_does() {
    let target = HttpTarget::start();
    target.set(503, r#"{"status":"degraded","checks":[]}"#);
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: api
      http: {}
      expect:
        - "[STATUS] == 200"
        - "[BODY].status == ok"
        - "[BODY].missing == 1"
        - "len([BODY].checks) > 0"
        - "[BODY] == pat(*healthy*)"
        - "[STATUS] == any(200, 204)"
        - "[RESPONSE_TIME] < 0"
"#,
        target.url("/")
    )));
    let check = stack.check("api");
    let o = run(&check);
    let observed_time = o.values["RESPONSE_TIME"].to_string();
    assert_fails_with(
        &o,
        &[
            ("[STATUS] == 200", "503"),
            ("[BODY].status == ok", "\"degraded\""),
            ("[BODY].missing == 1", "missing"),
            ("len([BODY].checks) > 0", "0"),
            ("[BODY] == pat(*healthy*)", r#""{\"status\":\"degraded\",\"checks\":[]}""#),
            ("[STATUS] == any(200, 204)", "503"),
            ("[RESPONSE_TIME] < 0", &observed_time),
        ],
    );
    assert!(o.error.is_none(), "the target answered: no error, only failed conditions: {o:#?}");
    assert!(o.failure_summary().starts_with("[STATUS] == 200 (observed 503); "), "{}", o.failure_summary());

    // The same check passes once the service is healthy again (except the impossible response time).
    target.set(200, r#"{"status":"ok","checks":["db"],"missing":1,"note":"all healthy"}"#);
    let o = run(&check);
    assert_fails_with(&o, &[("[RESPONSE_TIME] < 0", &o.values["RESPONSE_TIME"].to_string())]);
}

#[test]
fn http_without_expect_passes_below_400_only() {
    let target = HttpTarget::start();
    target.route("/missing", Response::new(404, "not here"));
    let stack = StackDir::new(&suite(&format!(
        "    - name: home\n      http: {}\n    - name: gone\n      http: {}\n",
        target.url("/"),
        target.url("/missing")
    )));
    assert_pass(&run(&stack.check("home")));
    assert_fails_with(&run(&stack.check("gone")), &[("[STATUS] < 400", "404")]);
}

#[test]
fn redirects_are_followed_unless_follow_redirects_is_false() {
    let target = HttpTarget::start();
    target.route("/old", Response::redirect(302, "/new"));
    target.route("/new", Response::new(200, "moved here"));
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: follow
      http: {url}
      expect: ["[STATUS] == 200", "[BODY] == moved here"]
    - name: stay
      http: {url}
      follow_redirects: false
      expect: ["[STATUS] == 302", "[HEADERS].location == /new", "[BODY] == pat(moved*)"]
"#,
        url = target.url("/old")
    )));
    assert_pass(&run(&stack.check("follow")));
    let paths: Vec<String> = target.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/old", "/new"]);

    let o = run(&stack.check("stay"));
    assert_fails_with(&o, &[("[BODY] == pat(moved*)", "\"\"")]);
    assert_eq!(target.requests().len(), 3, "the redirect was not followed: {:#?}", target.requests());
}

#[test]
fn post_sends_the_method_headers_and_body_with_variables_from_dot_env() {
    let target = HttpTarget::start();
    target.route("/api/search", Response::new(201, r#"{"hits":3}"#));
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: search
      http: {}
      method: post
      headers:
        Content-Type: application/json
        X-Api-Key: ${{TUG_PROBE_TEST_API_KEY}}
      body: '{{"q":"invoice","user":"${{TUG_PROBE_TEST_USER}}"}}'
      expect: ["[STATUS] == 201", "[BODY].hits == 3"]
"#,
        target.url("/api/search")
    )));
    stack.write(".env", "TUG_PROBE_TEST_API_KEY=k-3f9a\nTUG_PROBE_TEST_USER=ops\n");
    let check = stack.check("search");
    assert_eq!(check.target, format!("POST {}", target.url("/api/search")));
    assert_pass(&run(&check));
    let r = target.wait_for(1, Duration::from_secs(5)).remove(0);
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("x-api-key"), Some("k-3f9a"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), serde_json::json!({"q": "invoice", "user": "ops"}));
}

#[test]
fn a_target_slower_than_the_timeout_fails_with_status_0() {
    let target = HttpTarget::start();
    // The answer comes long after the timeout, and the timeout is long enough for the request to be sent
    // on a busy machine (the target must see it: a timeout, not a connection that never got there).
    target.set_delay(Duration::from_secs(60));
    let stack = StackDir::new(&suite(&format!(
        "    - name: slow\n      http: {}\n      timeout: 2s\n      expect: ['[STATUS] == 200']\n",
        target.url("/slow")
    )));
    let o = run(&stack.check("slow"));
    assert_fails_with(&o, &[("[STATUS] == 200", "0")]);
    let error = o.error.as_deref().unwrap_or_default();
    assert!(error.contains("timed out"), "{o:#?}");
    assert!(error.starts_with(&target.url("/slow")), "the error names the URL: {error}");
    // It did reach the target: a timeout, not a refused connection.
    target.wait_for(1, Duration::from_secs(30));
}

#[test]
fn a_refused_connection_is_status_0_with_an_error_until_the_target_returns() {
    let mut target = HttpTarget::start();
    let stack = StackDir::new(&suite(&format!(
        "    - name: api\n      http: {}\n      expect: ['[STATUS] == 200', '[CONNECTED] == true']\n",
        target.url("/")
    )));
    let check = stack.check("api");
    assert_pass(&run(&check));

    target.stop();
    let o = run(&check);
    assert_fails_with(&o, &[("[STATUS] == 200", "0"), ("[CONNECTED] == true", "false")]);
    let error = o.error.as_deref().unwrap_or_default();
    assert!(error.contains("cannot connect") && error.contains("refused"), "{error}");

    target.restart();
    assert_pass(&run(&check));
}

#[test]
fn steps_pass_a_stored_token_to_the_next_request() {
    let target = HttpTarget::start();
    target.route("/login", Response::json(serde_json::json!({"token": "tok-123", "user": {"id": 42}})));
    let documents = serde_json::json!({"documents": [{"id": 1}, {"id": 2}]});
    target.route_requiring("/documents", ("Authorization", "Bearer tok-123"), Response::json(documents));
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: login-and-list
      steps:
        - name: login
          http: {login}
          method: POST
          body: '{{"user":"ops","password":"${{TUG_PROBE_TEST_PASSWORD}}"}}'
          expect: ["[STATUS] == 200"]
          store:
            token: "[BODY].token"
            user_id: "[BODY].user.id"
        - name: list
          http: {base}/documents?owner=[CONTEXT].user_id
          headers:
            Authorization: Bearer [CONTEXT].token
          expect: ["[STATUS] == 200", "len([BODY].documents) == 2", "[CONTEXT].token == tok-123"]
"#,
        login = target.url("/login"),
        base = target.url("")
    )));
    stack.write(".env", "TUG_PROBE_TEST_PASSWORD=pw-1\n");
    let check = stack.check("login-and-list");
    assert_eq!(check.kind, "steps");
    let o = run(&check);
    assert_pass(&o);
    assert_eq!(o.conditions.len(), 4);
    let requests = target.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].json(), serde_json::json!({"user": "ops", "password": "pw-1"}));
    assert_eq!(requests[1].path, "/documents?owner=42");
    assert_eq!(requests[1].header("authorization"), Some("Bearer tok-123"));

    // A token the documents endpoint does not accept: the second step fails, named.
    target.route("/login", Response::json(serde_json::json!({"token": "tok-999", "user": {"id": 42}})));
    let o = run(&check);
    assert_fails_with(
        &o,
        &[
            ("list: [STATUS] == 200", "401"),
            ("list: len([BODY].documents) == 2", "missing"),
            ("list: [CONTEXT].token == tok-123", "\"tok-999\""),
        ],
    );

    // A failed first step stops the check: the second request is never sent.
    target.route("/login", Response::new(500, "database down"));
    let before = target.requests().len();
    let o = run(&check);
    assert_fails_with(&o, &[("login: [STATUS] == 200", "500")]);
    assert_eq!(o.conditions.len(), 1, "{o:#?}");
    let after: Vec<String> = target.requests()[before..].iter().map(|r| r.path.clone()).collect();
    assert_eq!(after, ["/login"]);
}

// ---------------------------------------------------------------------------------------------------------
// TCP

#[test]
fn tcp_expect_open_and_closed() {
    let mut target = HttpTarget::start();
    let stack = StackDir::new(&suite(&format!(
        "    - name: open\n      tcp: {a}\n      expect: open\n    - name: closed\n      tcp: {a}\n      expect: closed\n",
        a = target.address()
    )));
    let (open, closed) = (stack.check("open"), stack.check("closed"));
    assert_pass(&run(&open));
    assert_fails_with(&run(&closed), &[("[CONNECTED] == false", "true")]);

    target.stop();
    let o = run(&open);
    assert_fails_with(&o, &[("[CONNECTED] == true", "false")]);
    assert!(o.error.is_none(), "a refused port is an observation, not an error: {o:#?}");
    assert_pass(&run(&closed));
}

// ---------------------------------------------------------------------------------------------------------
// TLS

const DAY_MS: f64 = 86_400_000.0;

#[test]
fn tls_certificate_expiry_subject_and_validity_with_and_without_its_ca() {
    let server = TlsServer::expiring_in(Duration::from_secs(10 * 86_400));
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: trusted
      tls: {a}
      ca_file: ca.pem
      expect:
        - "[CONNECTED] == true"
        - "[CERTIFICATE_VALID] == true"
        - "[CERTIFICATE_EXPIRATION] > 9d"
        - "[CERTIFICATE_EXPIRATION] <= 10d"
        - "[CERTIFICATE_SUBJECT] == localhost"
    - name: untrusted
      tls: {a}
      expect: ["[CONNECTED] == true", "[CERTIFICATE_VALID] == true"]
    - name: month
      tls: {a}
      ca_file: ca.pem
      expect: ["[CERTIFICATE_EXPIRATION] > 720h"]
    - name: defaults
      tls: {a}
      ca_file: ca.pem
"#,
        a = server.address()
    )));
    stack.write("ca.pem", server.ca_pem());

    let o = run(&stack.check("trusted"));
    assert_pass(&o);
    let left = o.values["CERTIFICATE_EXPIRATION"];
    assert!(left > 9.0 * DAY_MS && left <= 10.0 * DAY_MS, "{left} ms");

    let o = run(&stack.check("untrusted"));
    assert_fails_with(&o, &[("[CERTIFICATE_VALID] == true", "false")]);
    assert!(o.diagnostics.iter().any(|d| d.contains("certificate does not verify")), "{o:#?}");

    // 10 days left, a month wanted: the observed value reads as a duration.
    let o = run(&stack.check("month"));
    assert_fails_with(&o, &[("[CERTIFICATE_EXPIRATION] > 720h", "9d 23h")]);

    // Defaults: connected, valid, more than a week left.
    let o = run(&stack.check("defaults"));
    assert_pass(&o);
    assert_eq!(o.conditions.len(), 3);
}

#[test]
fn an_expired_certificate_is_invalid_even_with_its_ca() {
    let server = TlsServer::start(TestCert::expired(Duration::from_secs(2 * 86_400)));
    let stack = StackDir::new(&suite(&format!(
        "    - name: expired\n      tls: {}\n      ca_file: ca.pem\n",
        server.address()
    )));
    stack.write("ca.pem", server.ca_pem());
    let o = run(&stack.check("expired"));
    assert_fails_with(&o, &[("[CERTIFICATE_VALID] == true", "false"), ("[CERTIFICATE_EXPIRATION] > 168h", "0ms")]);
    assert!(o.values["CERTIFICATE_EXPIRATION"] < -DAY_MS, "{:?}", o.values);
    assert!(o.diagnostics.iter().any(|d| d.to_lowercase().contains("expired")), "{o:#?}");
}

#[test]
fn tls_to_a_closed_port_is_not_connected() {
    let port = free_port();
    let stack = StackDir::new(&suite(&format!("    - name: down\n      tls: 127.0.0.1:{port}\n")));
    let o = run(&stack.check("down"));
    assert_eq!(o.status, Status::Fail);
    assert_eq!(failed(&o)[0], ("[CONNECTED] == true".to_string(), "false".to_string()), "{o:#?}");
    assert!(o.error.as_deref().unwrap_or_default().contains(&format!("127.0.0.1:{port}")), "{o:#?}");
}

#[test]
fn https_checks_see_the_certificate_expiration_and_verify_with_ca_file_or_insecure() {
    let server = TlsServer::expiring_in(Duration::from_secs(10 * 86_400));
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: with-ca
      http: {url}
      ca_file: ca.pem
      expect: ["[STATUS] == 200", "[BODY] == secure ok", "[CERTIFICATE_EXPIRATION] > 9d", "[CERTIFICATE_EXPIRATION] < 720h"]
    - name: without-ca
      http: {url}
      expect: ["[STATUS] == 200"]
    - name: insecure
      http: {url}
      insecure: true
      expect: ["[STATUS] == 200", "[CERTIFICATE_EXPIRATION] > 9d"]
"#,
        url = server.url("/")
    )));
    stack.write("ca.pem", server.ca_pem());

    let o = run(&stack.check("with-ca"));
    assert_pass(&o);
    let left = o.values["CERTIFICATE_EXPIRATION"];
    assert!(left > 9.0 * DAY_MS && left <= 10.0 * DAY_MS, "{left} ms");

    let o = run(&stack.check("without-ca"));
    assert_fails_with(&o, &[("[STATUS] == 200", "0")]);
    let error = o.error.as_deref().unwrap_or_default().to_lowercase();
    assert!(error.contains("certificate") || error.contains("issuer"), "{error}");

    assert_pass(&run(&stack.check("insecure")));
}

// ---------------------------------------------------------------------------------------------------------
// DNS

#[test]
fn dns_answers_record_types_and_nxdomain_from_a_real_server() {
    let dns = Dnsmasq::start();
    let server = dns.server();
    let stack = StackDir::new(&suite(&format!(
        r#"    - name: a
      dns: {{ name: db.tugboat.test, server: "{server}" }}
      expect: ["[DNS_RCODE] == NOERROR", "[BODY] == 10.1.2.3", "len([ANSWERS]) == 1", "[CONNECTED] == true"]
    - name: aaaa
      dns: {{ name: both.tugboat.test, type: aaaa, server: "{server}" }}
      expect: ["[BODY] == fd00::7"]
    - name: txt
      dns: {{ name: txt.tugboat.test, type: TXT, server: "{server}" }}
      expect: ['[BODY] == "v=spf1 -all"']
    - name: mx
      dns: {{ name: tugboat.test, type: MX, server: "{server}" }}
      expect: ["[BODY] == 10 mail.tugboat.test"]
    - name: nx-expected
      dns: {{ name: nope.tugboat.test, server: "{server}" }}
      expect: ["[DNS_RCODE] == NXDOMAIN", "len([ANSWERS]) == 0"]
    - name: nx-default
      dns: {{ name: nope.tugboat.test, server: "{server}" }}
    - name: wrong-address
      dns: {{ name: db.tugboat.test, server: "{server}" }}
      expect: ["[BODY] == 10.9.9.9"]
"#
    )));
    for name in ["a", "aaaa", "txt", "mx", "nx-expected"] {
        let check = stack.check(name);
        let o = run(&check);
        assert_eq!(o.status, Status::Pass, "{name}: {}\n{o:#?}\ndnsmasq log:\n{}", o.failure_summary(), dns.log());
    }
    assert_eq!(stack.check("a").target, format!("db.tugboat.test A @{server}"));
    assert_fails_with(&run(&stack.check("nx-default")), &[("[DNS_RCODE] == NOERROR", "\"NXDOMAIN\"")]);
    assert_fails_with(&run(&stack.check("wrong-address")), &[("[BODY] == 10.9.9.9", "\"10.1.2.3\"")]);
}

#[test]
fn dns_without_an_answer_is_not_connected() {
    // A UDP port nobody answers on (bound here, never read).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap();
    let stack = StackDir::new(&suite(&format!(
        "    - name: quiet\n      timeout: 300ms\n      dns: {{ name: db.tugboat.test, server: \"{server}\" }}\n"
    )));
    let o = run(&stack.check("quiet"));
    assert_eq!(o.status, Status::Fail, "{o:#?}");
    assert!(o.error.as_deref().unwrap_or_default().contains(&server.to_string()), "{o:#?}");
    assert_fails_with(&o, &[("[DNS_RCODE] == NOERROR", "missing")]);
}

// ---------------------------------------------------------------------------------------------------------
// SQL

fn sql_probe_against(engine: Engine, kind: &str, scheme: &str) {
    let server = ScratchServer::start(engine).unwrap_or_else(|e| panic!("a scratch {kind} server: {e}"));
    server.create_database("probe").unwrap();
    server
        .query(Some("probe"), "CREATE TABLE documents (id INT PRIMARY KEY, title VARCHAR(50)); INSERT INTO documents VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .unwrap();
    let user = if engine == Engine::Postgres { "postgres" } else { "root" };
    let tugboat_yml = format!(
        r#"databases:
  main: {{ kind: {kind}, url: "{scheme}://{user}@127.0.0.1:{port}/probe" }}
checks:
  probe:
    - name: documents
      sql: {{ database: main, query: "SELECT count(*) FROM documents" }}
      expect: ["[CONNECTED] == true", "[RESULT] > 0", "[RESULT] == 3", "[ROWS] == 1"]
    - name: titles
      sql: {{ database: main, query: "SELECT title FROM documents ORDER BY id" }}
      expect: ["[RESULT] == a", "[ROWS] == 3"]
    - name: empty
      sql: {{ database: main, query: "SELECT count(*) FROM documents WHERE id > 10" }}
      expect: ["[RESULT] > 0"]
    - name: bad-query
      sql: {{ database: main, query: "SELECT count(*) FROM no_such_table" }}
"#,
        port = server.port()
    );
    let stack = StackDir::new(&tugboat_yml);
    assert_pass(&run(&stack.check("documents")));
    assert_pass(&run(&stack.check("titles")));
    assert_fails_with(&run(&stack.check("empty")), &[("[RESULT] > 0", "\"0\"")]);

    // A query the database refuses fails the check with the database's own words.
    let o = run(&stack.check("bad-query"));
    assert_eq!(o.status, Status::Fail, "{o:#?}");
    assert!(o.error.as_deref().unwrap_or_default().contains("no_such_table"), "{o:#?}");

    let documents = stack.check("documents");
    drop(server);
    let o = run(&documents);
    assert_eq!(o.status, Status::Fail, "{o:#?}");
    assert_eq!(failed(&o)[0], ("[CONNECTED] == true".to_string(), "false".to_string()), "{o:#?}");
    assert!(o.error.is_some(), "{o:#?}");
}

#[test]
fn sql_checks_query_a_real_postgres() {
    sql_probe_against(Engine::Postgres, "postgres", "postgres");
}

#[test]
fn sql_checks_query_a_real_mariadb() {
    sql_probe_against(Engine::Mariadb, "mariadb", "mysql");
}

// ---------------------------------------------------------------------------------------------------------
// Containers

#[test]
fn container_checks_read_state_and_health_by_compose_service_or_name() {
    let project = format!("probes-{}", std::process::id());
    let labels =
        ["--label", &format!("com.docker.compose.project={project}"), "--label", "com.docker.compose.service=web"];
    let web = TestContainer::healthy(&labels);
    let sick = TestContainer::run(
        &["--health-cmd", "/usr/bin/false", "--health-interval", "200ms", "--health-retries", "1"],
        &[],
    );
    sick.wait_state("{{.State.Health.Status}}", "unhealthy", Duration::from_secs(30));
    let compose =
        format!("name: {project}\nservices:\n  web:\n    image: nginx:1.27\n  worker:\n    image: nginx:1.27\n");
    let stack = StackDir::with_compose(
        &compose,
        &suite(&format!(
            r#"    - name: web
      container: web
      expect: ["[STATE] == running", "[HEALTH] == healthy", "[RESTARTS] == 0", "[UPTIME] > 0"]
    - name: by-name
      container: {web}
    - name: sick
      container: {sick}
    - name: worker
      container: worker
    - name: ghost
      container: tug-test-no-such-container-{pid}
"#,
            web = web.name,
            sick = sick.name,
            pid = std::process::id()
        )),
    );
    let o = run(&stack.check("web"));
    assert_pass(&o);
    assert!(o.values["UPTIME"] > 0.0, "{:?}", o.values);
    assert_pass(&run(&stack.check("by-name")));

    let o = run(&stack.check("sick"));
    assert_fails_with(&o, &[("[HEALTH] != unhealthy", "\"unhealthy\"")]);
    assert!(o.diagnostics.iter().any(|d| d.starts_with("last health check")), "{o:#?}");

    // A compose service without a container, and a container that does not exist.
    let o = run(&stack.check("worker"));
    assert_eq!(o.status, Status::Fail);
    assert!(o.error.as_deref().unwrap_or_default().contains("no container for compose service `worker`"), "{o:#?}");
    let o = run(&stack.check("ghost"));
    // (A missing value equals nothing, so `[HEALTH] != unhealthy` holds.)
    assert_fails_with(&o, &[("[STATE] == running", "\"missing\"")]);
    assert!(o.error.as_deref().unwrap_or_default().contains("no container `tug-test-no-such-container"), "{o:#?}");

    // Killed: exited, with its exit code.
    web.kill();
    web.wait_state("{{.State.Status}}", "exited", Duration::from_secs(30));
    let o = run(&stack.check("web"));
    assert_eq!(o.status, Status::Fail);
    assert_eq!(failed(&o)[0], ("[STATE] == running".to_string(), "\"exited\"".to_string()), "{o:#?}");
    assert_eq!(o.values.get("EXIT_CODE"), Some(&137.0), "{o:#?}");
}

// ---------------------------------------------------------------------------------------------------------
// Host and GPU

#[test]
fn host_resources_are_percentages_of_this_machine() {
    let stack = StackDir::new(&suite(
        r#"    - name: host
      host: true
      expect: ["[CPU] >= 0", "[CPU] <= 100", "[MEMORY] > 0", "[MEMORY] <= 100", "[SWAP] >= 0", "[DISK] > 0", "[DISK] <= 100", "[LOAD] >= 0"]
    - name: impossible
      host: true
      expect: ["[MEMORY] > 100"]
    - name: mounts
      host: { mounts: [/, /no/such/mount] }
      expect: ["[DISK] <= 100"]
"#,
    ));
    let prober = Prober::new();
    let o = run_with(&prober, &stack.check("host"));
    assert_pass(&o);
    assert!(o.diagnostics.iter().any(|d| d.starts_with("disk /: ")), "{o:#?}");

    let o = run_with(&prober, &stack.check("impossible"));
    assert_eq!(o.status, Status::Fail);
    let (condition, observed) = failed(&o).remove(0);
    assert_eq!(condition, "[MEMORY] > 100");
    let observed: f64 = observed.parse().unwrap_or_else(|_| panic!("a number: {observed}"));
    assert!((0.0..=100.0).contains(&observed));

    let o = run_with(&prober, &stack.check("mounts"));
    assert!(o.error.as_deref().unwrap_or_default().contains("/no/such/mount"), "{o:#?}");
}

#[test]
fn gpu_without_nvidia_smi_is_not_applicable() {
    let stack = StackDir::new(&suite("    - name: gpu\n      gpu: true\n"));
    let o = run(&stack.check("gpu"));
    let has_smi =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join("nvidia-smi").is_file());
    if has_smi {
        // A GPU host: a real reading, judged by the default condition.
        assert_ne!(o.status, Status::NotApplicable, "{o:#?}");
        assert!(o.values.contains_key("GPU_MEMORY") || o.error.is_some(), "{o:#?}");
    } else {
        assert_eq!(o.status, Status::NotApplicable, "{o:#?}");
        assert!(o.passed(), "not applicable is not a failure");
        assert!(o.conditions.is_empty() && o.error.is_none(), "{o:#?}");
        assert!(o.diagnostics.iter().any(|d| d.contains("nvidia-smi not found")), "{o:#?}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Configuration errors

#[test]
fn a_condition_that_does_not_parse_points_at_its_line_column_and_the_column_inside_it() {
    let stack = StackDir::new(
        "checks:
  smoke:
    - name: api
      http: http://127.0.0.1:9/
      expect:
        - \"[STATUS] == 200\"
        - \"[STATUS] = 200\"
",
    );
    let e = stack.compile_error();
    assert!(
        e.contains(
            "tugboat.yml:7:11: checks.smoke[0].expect[1]: `[STATUS] = 200`: column 10: `=` is not an operator: use `==`"
        ),
        "{e}"
    );
}

#[test]
fn a_placeholder_the_probe_kind_lacks_is_refused_with_those_it_has() {
    let stack = StackDir::new(
        "checks:
  smoke:
    - name: port
      tcp: 127.0.0.1:9
      expect: [\"[STATUS] == 200\"]
",
    );
    let e = stack.compile_error();
    assert!(
        e.contains("tugboat.yml:5:16: checks.smoke[0].expect[0]: `[STATUS] == 200`: a tcp check has no [STATUS]; it has [CONNECTED], [RESPONSE_TIME]"),
        "{e}"
    );
}

#[test]
fn an_unset_variable_is_refused_and_every_problem_is_reported_at_once() {
    let stack = StackDir::new(
        "checks:
  smoke:
    - name: api
      http: http://${TUG_PROBE_TEST_UNSET_HOST}/health
    - name: port
      tcp: 127.0.0.1:9
      expect: [\"[BODY] == x\"]
    - name: broken
      http: http://127.0.0.1:9/
      expect: [\"len([BODY] > 1\"]
",
    );
    let e = stack.compile_error();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].ends_with(
            "tugboat.yml:4:13: checks.smoke[0].http: ${TUG_PROBE_TEST_UNSET_HOST} is not set (environment or .env)"
        ),
        "{e}"
    );
    assert!(lines[1].contains("checks.smoke[1].expect[0]: `[BODY] == x`: a tcp check has no [BODY]"), "{e}");
    assert!(lines[2].contains("checks.smoke[2].expect[0]: `len([BODY] > 1`: column 4: `(` is not closed"), "{e}");

    // Set in .env, the same variable resolves.
    stack.write(".env", "TUG_PROBE_TEST_UNSET_HOST=127.0.0.1:9\n");
    stack.write(
        "tugboat.yml",
        "checks:\n  smoke:\n    - name: api\n      http: http://${TUG_PROBE_TEST_UNSET_HOST}/health\n",
    );
    assert_eq!(stack.check("api").target, "GET http://127.0.0.1:9/health");
}

// ---------------------------------------------------------------------------------------------------------
// The harness itself: the SMTP sink and the webhook receiver the watch daemon's tests rely on.

/// Sends one message over plain SMTP (optionally AUTH PLAIN, optionally after STARTTLS trusting `ca_pem`);
/// the server's refusal as `Err`.
fn send_mail(
    port: u16,
    auth: Option<(&str, &str)>,
    starttls_ca: Option<&str>,
    rcpt: &[&str],
    data: &str,
) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Read, Write};

    /// Reads one reply (all its `250-` lines); `Err` unless its code starts with `want`.
    fn reply(r: &mut dyn BufRead, want: char) -> Result<String, String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err(format!("connection closed after {all:?}"));
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        if all.starts_with(want) {
            Ok(all)
        } else {
            Err(all)
        }
    }
    fn exchange(s: &mut (impl Read + Write), line: &str, want: char) -> Result<String, String> {
        s.write_all(format!("{line}\r\n").as_bytes()).map_err(|e| e.to_string())?;
        s.flush().map_err(|e| e.to_string())?;
        let mut r = BufReader::new(s);
        reply(&mut r, want)
    }
    fn transaction(
        s: &mut (impl Read + Write),
        auth: Option<(&str, &str)>,
        rcpt: &[&str],
        data: &str,
    ) -> Result<(), String> {
        if let Some((user, password)) = auth {
            exchange(s, &format!("AUTH PLAIN {}", base64(format!("\0{user}\0{password}").as_bytes())), '2')?;
        }
        exchange(s, "MAIL FROM:<tugboat@watch.test>", '2')?;
        for to in rcpt {
            exchange(s, &format!("RCPT TO:<{to}>"), '2')?;
        }
        exchange(s, "DATA", '3')?;
        exchange(s, &format!("{data}\r\n."), '2')?;
        exchange(s, "QUIT", '2').map(drop)
    }

    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    reply(&mut BufReader::new(&mut tcp), '2')?;
    let ehlo = exchange(&mut tcp, "EHLO client.test", '2')?;
    match starttls_ca {
        None => transaction(&mut tcp, auth, rcpt, data),
        Some(ca) => {
            assert!(ehlo.contains("STARTTLS"), "STARTTLS offered: {ehlo}");
            exchange(&mut tcp, "STARTTLS", '2')?;
            let mut roots = rustls::RootCertStore::empty();
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            exchange(&mut tls, "EHLO client.test", '2')?;
            transaction(&mut tls, auth, rcpt, data)
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[test]
fn the_smtp_sink_keeps_messages_in_order_across_a_restart_on_the_same_port() {
    let mut sink = SmtpSink::start();
    let port = sink.port();
    send_mail(port, None, None, &["ops@example.test", "oncall@example.test"], "Subject: first\r\n\r\nbody one")
        .unwrap();
    let first = sink.wait_for(1, Duration::from_secs(10)).remove(0);
    assert!(
        first.starts_with(
            "X-Sink-Mail-From: tugboat@watch.test\r\nX-Sink-Rcpt-To: ops@example.test, oncall@example.test\r\n"
        ),
        "{first}"
    );
    assert!(first.contains("Subject: first") && first.contains("body one"), "{first}");

    sink.stop();
    assert!(!support::port_open(port), "a stopped sink refuses connections");
    assert!(send_mail(port, None, None, &["ops@example.test"], "Subject: lost\r\n\r\nx").is_err());

    sink.restart();
    assert_eq!(sink.port(), port);
    send_mail(port, None, None, &["ops@example.test"], "Subject: second\r\n\r\nbody two").unwrap();
    let all = sink.wait_for(2, Duration::from_secs(10));
    assert_eq!(all.len(), 2);
    assert!(all[0].contains("Subject: first") && all[1].contains("Subject: second"), "{all:#?}");

    sink.set_reject(true);
    let refused = send_mail(port, None, None, &["ops@example.test"], "Subject: refused\r\n\r\nx").unwrap_err();
    assert!(refused.starts_with("451"), "{refused}");
    sink.set_reject(false);
    assert_eq!(sink.messages().len(), 2);
}

#[test]
fn the_smtp_sink_can_require_auth_and_offer_starttls() {
    let cert = TestCert::expiring_in(Duration::from_secs(86_400));
    let sink = SmtpSink::start_with(SmtpOptions {
        auth: Some(("alerts".into(), "pw-9".into())),
        starttls: Some(cert.clone()),
    });
    let refused = send_mail(sink.port(), None, None, &["ops@example.test"], "Subject: x\r\n\r\nx").unwrap_err();
    assert!(refused.starts_with("530"), "AUTH is required: {refused}");
    let wrong = send_mail(sink.port(), Some(("alerts", "nope")), None, &["ops@example.test"], "x").unwrap_err();
    assert!(wrong.starts_with("535"), "{wrong}");
    send_mail(
        sink.port(),
        Some(("alerts", "pw-9")),
        Some(&cert.ca_pem),
        &["ops@example.test"],
        "Subject: tls\r\n\r\nover TLS",
    )
    .unwrap();
    let m = sink.wait_for(1, Duration::from_secs(10));
    assert!(m[0].contains("over TLS"), "{m:#?}");
}

#[test]
fn the_webhook_receiver_records_requests_and_answers_the_status_it_is_told() {
    let hooks = WebhookReceiver::start();
    let post = |status: u16| {
        let url = hooks.url("/hooks/alert");
        let body = serde_json::json!({"check": "smoke/api", "status": "down", "n": status});
        let answer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let r = reqwest::Client::new().post(&url).header("X-Token", "t-1").json(&body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
        assert_eq!(answer.0, status, "{answer:?}");
    };
    post(200);
    hooks.set_status(500);
    post(500);
    let requests = hooks.wait_for(2, Duration::from_secs(5));
    assert_eq!(requests.len(), 2);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str(), r.header("x-token")), ("POST", "/hooks/alert", Some("t-1")));
    assert_eq!(r.json(), serde_json::json!({"check": "smoke/api", "status": "down", "n": 200}));
    assert_eq!(requests[1].json()["n"], 500);
}

/// A failing host check says where to look: the containers using the most memory, read from the
/// Docker Engine (a real container here).
#[test]
fn a_failing_host_check_lists_the_busiest_containers() {
    let container = TestContainer::run(&[], &["sleep", "300"]);
    container.wait_state("{{.State.Status}}", "running", Duration::from_secs(30));
    let stack = StackDir::new(&suite("    - { name: squeezed, host: true, expect: [\"[MEMORY] < 0\"] }\n"));
    let o = run(&stack.check("squeezed"));
    assert_eq!(o.status, Status::Fail, "{o:#?}");
    let top =
        o.diagnostics.iter().find(|d| d.starts_with("top containers by memory: ")).unwrap_or_else(|| panic!("{o:#?}"));
    assert!(top.contains(" MiB"), "{top}");
    let listed = top.trim_start_matches("top containers by memory: ").split(", ").count();
    assert!((1..=3).contains(&listed), "{top}");
}
