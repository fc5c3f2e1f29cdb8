//! `tug parity` between two search clusters, against the engine's recorded-response Elasticsearch test
//! server (`tugboat::parity::search::testserver`; no real Elasticsearch runs here).

use tugboat::parity::search::testserver::{closed_port, Cluster, TestServer};

use crate::util::Fixture;

#[test]
fn equal_clusters_exit_0_in_both_formats() {
    let source = TestServer::start(Cluster::lcbp3().with_credentials("elastic", "s3cret-pw"));
    let target = TestServer::start(Cluster::lcbp3().opensearch());
    let f = Fixture::new();
    let src = source.url_with("elastic", "s3cret-pw");

    let run = f.tug().args(["parity", &src, &target.url()]).run();
    run.success()
        .stdout_line_with(&["lcbp3-documents", "equal", "30 / 30"])
        .stdout_line_with(&["lcbp3-correspondence", "equal", "12 / 12"])
        .stdout_contains("Elasticsearch 8.13.4")
        .stdout_contains("OpenSearch 2.11.1")
        .stdout_contains("equal: 2 indices equal")
        .stdout_contains(&format!("http://elastic:***@127.0.0.1:{}", source.port()))
        .stdout_lacks(".kibana");
    assert!(!run.stdout().contains("s3cret-pw") && !run.stderr().contains("s3cret-pw"));

    let run = f.tug().args(["parity", &src, &target.url(), "--json"]).run();
    run.success();
    let v = run.json();
    assert_eq!(v["kind"], "search");
    assert_eq!(v["equal"], true);
    assert_eq!(v["indices"][1]["index"], "lcbp3-documents");
    assert_eq!(v["indices"][1]["sampled"], 30);
    assert!(!run.stdout().contains("s3cret-pw"));
}

#[test]
fn differences_exit_1_and_name_the_ids() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    cluster.edit("lcbp3-documents").remove_doc("7");
    cluster.edit("lcbp3-documents").set_field("12", "status", serde_json::json!("void"));
    cluster.edit("lcbp3-correspondence").mappings["properties"]["ref_no"] = serde_json::json!({"type": "text"});
    let target = TestServer::start(cluster);
    let f = Fixture::new();

    let run = f.tug().args(["parity", &source.url(), &target.url()]).run();
    run.failure(1)
        .stdout_line_with(&["lcbp3-documents", "count differs", "30 / 29"])
        .stdout_contains("missing in target: 7")
        .stdout_contains("changed: 12")
        .stdout_line_with(&["lcbp3-correspondence", "mapping differs"])
        .stdout_contains("mapping: ref_no type: \"keyword\" vs \"text\"")
        .stdout_contains("differ: 2 of 2 indices differ");

    // --tables selects indices; --counts-only skips the sample (the count still differs).
    let run = f.tug().args(["parity", &source.url(), &target.url(), "--tables", "lcbp3-corr*", "--json"]).run();
    run.failure(1);
    let v = run.json();
    assert_eq!(v["indices"].as_array().unwrap().len(), 1);
    assert_eq!(v["indices"][0]["status"], "mapping_differs");
    let run = f.tug().args(["parity", &source.url(), &target.url(), "--tables", "lcbp3-doc*", "--counts-only"]).run();
    run.failure(1)
        .stdout_line_with(&["lcbp3-documents", "count differs", "30 / 29"])
        .stdout_lacks("missing in target:");
}

#[test]
fn an_unreachable_cluster_exits_3() {
    let source = TestServer::start(Cluster::lcbp3());
    let port = closed_port();
    let f = Fixture::new();
    let run = f.tug().args(["parity", &source.url(), &format!("http://elastic:pw123@127.0.0.1:{port}")]).run();
    run.failure(3)
        .stderr_contains(&format!("cannot reach http://elastic:***@127.0.0.1:{port}"))
        .stderr_contains("connection refused");
    assert!(!run.stderr().contains("pw123"));
}

#[test]
fn a_wrong_password_exits_3_with_the_reason() {
    let source = TestServer::start(Cluster::lcbp3().with_credentials("elastic", "right"));
    let target = TestServer::start(Cluster::lcbp3());
    let f = Fixture::new();
    let run = f.tug().args(["parity", &source.url_with("elastic", "wrong"), &target.url()]).run();
    run.failure(3)
        .stderr_contains("HTTP 401")
        .stderr_contains("unable to authenticate user [elastic]")
        .stderr_contains("check the user and password");
}

#[test]
fn bad_input_exits_2() {
    let f = Fixture::new();
    f.tug()
        .args(["parity", "http://es-old", "http://es-new:9200"])
        .run()
        .failure(2)
        .stderr_contains("the port is missing");
    f.tug()
        .args(["parity", "http://es-old:9200", "mysql://root@127.0.0.1:3306/app"])
        .run()
        .failure(2)
        .stderr_contains("can only be compared with another search cluster");
    f.tug()
        .args(["parity", "http://es-old:9200", "http://es-new:9200", "--where", "id > 3"])
        .run()
        .failure(2)
        .stderr_contains("--where");
}

#[test]
fn the_report_is_kept_in_the_state_database() {
    let source = TestServer::start(Cluster::lcbp3());
    let target = TestServer::start(Cluster::lcbp3());
    let f = Fixture::new();
    let state = f.join("state.db");
    f.tug().args(["parity", &source.url(), &target.url(), "--state"]).arg(&state).run().success();
    let conn = rusqlite::Connection::open(&state).unwrap();
    let (equal, summary, report): (bool, String, String) = conn
        .query_row("SELECT equal, summary, report FROM parity_runs ORDER BY id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(equal);
    assert_eq!(summary, "2 indices equal");
    assert!(report.contains("\"kind\":\"search\""), "{report}");
}
