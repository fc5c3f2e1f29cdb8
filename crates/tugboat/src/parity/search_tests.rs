//! Search parity against the recorded-response test server (no real Elasticsearch here; see `testserver`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use super::testserver::{closed_port, fixture, Cluster, Index, TestServer};
use super::*;

fn ep(url: &str) -> SearchEndpoint {
    SearchEndpoint::parse(url).unwrap()
}

/// Small pages, so every test pages through `search_after` and batches `_mget`.
fn opts() -> SearchParityOptions {
    SearchParityOptions { page_size: 7, ..SearchParityOptions::default() }
}

fn run(source: &TestServer, target: &TestServer, options: &SearchParityOptions) -> SearchParityReport {
    compare_indices(&ep(&source.url()), &ep(&target.url()), options).unwrap()
}

fn index<'a>(r: &'a SearchParityReport, name: &str) -> &'a IndexReport {
    r.indices.iter().find(|i| i.index == name).unwrap_or_else(|| panic!("no index {name} in {r:#?}"))
}

fn ids(keys: &Keys) -> Vec<&str> {
    keys.keys.iter().map(|k| k.as_str().unwrap()).collect()
}

#[test]
fn endpoints_parse_and_never_show_the_password() {
    let e = ep("http://elastic:s3cr%40t@es-old:9200");
    assert_eq!((e.scheme, e.host.as_str(), e.port), (Scheme::Http, "es-old", 9200));
    assert_eq!(e.user.as_deref(), Some("elastic"));
    assert_eq!(e.password.as_ref().map(Secret::expose), Some("s3cr@t"));
    assert_eq!(e.to_string(), "http://elastic:***@es-old:9200");
    assert!(!format!("{e:?}").contains("s3cr"));
    assert_eq!(e.base_url(), "http://es-old:9200");

    let e = ep("https://[::1]:9243/es/");
    assert_eq!((e.scheme, e.host.as_str(), e.port, e.path_prefix.as_str()), (Scheme::Https, "::1", 9243, "/es"));
    assert_eq!(e.to_string(), "https://[::1]:9243/es");
    assert_eq!(ep("http://es:9200/").path_prefix, "");

    for (bad, why) in [
        ("http://es-old", "port is missing"),
        ("http://es-old:http", "not a number"),
        ("ftp://es:21", "http:// or https://"),
        ("es-old:9200", "expected http://"),
        ("http://es:9200/?pretty", "query string"),
        ("http://:9200", "host is missing"),
    ] {
        let e = SearchEndpoint::parse(bad).unwrap_err();
        assert!(e.to_string().contains(why), "{bad}: {e}");
        assert!(e.is_usage());
    }
    let e = SearchEndpoint::parse("http://u:hunter2@es").unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(is_search_url("HTTP://x:1") && is_search_url("https://x:1") && !is_search_url("mysql://x/db"));
}

#[test]
fn base64_matches_the_rfc_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("elastic:changeme", "ZWxhc3RpYzpjaGFuZ2VtZQ=="),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

#[test]
fn canonical_json_ignores_key_order_only() {
    let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "ไทย"}});
    let b: Value = serde_json::from_str(r#"{"a":{"x":"ไทย","y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
    assert_eq!(canonical_json(&a), r#"{"a":{"x":"ไทย","y":[1,{"c":3,"d":2}]},"b":1}"#);
    assert_eq!(source_hash(&a), source_hash(&b));
    assert_eq!(source_hash(&a).len(), 64);
    // Array order and values matter.
    assert_ne!(source_hash(&json!({"t": [1, 2]})), source_hash(&json!({"t": [2, 1]})));
    assert_ne!(source_hash(&json!({"n": 1})), source_hash(&json!({"n": "1"})));
}

#[test]
fn mapping_differences_name_field_paths_and_settings() {
    let a = json!({"dynamic": "strict", "properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
        "doc_no": {"type": "keyword"},
        "file": {"properties": {"size": {"type": "long"}}},
        "gone": {"type": "date"}
    }});
    let b = json!({"properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "doc_no": {"type": "text"},
        "file": {"properties": {"size": {"type": "integer"}, "pages": {"type": "short"}}}
    }});
    let d = mapping_differences(&a, &b);
    let shown: Vec<String> =
        d.iter().map(|m| format!("{}|{}|{:?}|{:?}", m.field, m.setting, m.source, m.target)).collect();
    assert_eq!(
        shown,
        vec![
            r#"|dynamic|Some(String("strict"))|None"#,
            r#"doc_no|type|Some(String("keyword"))|Some(String("text"))"#,
            r#"file.pages||None|Some(Object {"type": String("short")})"#,
            r#"file.size|type|Some(String("long"))|Some(String("integer"))"#,
            r#"gone||Some(Object {"type": String("date")})|None"#,
            r#"title.raw|ignore_above|Some(Number(256))|Some(Number(512))"#,
        ]
    );
    assert!(mapping_differences(&a, &a).is_empty());
    // A whole properties block on one side: one difference per field.
    let d = mapping_differences(&json!({}), &json!({"properties": {"a": {"type": "keyword"}}}));
    assert_eq!((d.len(), d[0].field.as_str(), d[0].setting.as_str()), (1, "a", ""));
}

#[test]
fn recorded_responses_parse() {
    let v = |name| serde_json::from_str::<Value>(fixture(name)).unwrap();
    assert_eq!(parse_version(&v("root-es-8.13.4.json")).unwrap(), "Elasticsearch 8.13.4");
    assert_eq!(parse_version(&v("root-opensearch-2.11.1.json")).unwrap(), "OpenSearch 2.11.1");
    let cat = parse_cat_indices(&v("cat-indices.json")).unwrap();
    assert_eq!(cat.len(), 4);
    assert_eq!(
        cat[2],
        CatIndex {
            index: "lcbp3-documents".into(),
            docs: Some(30),
            health: Some("yellow".into()),
            status: Some("open".into())
        }
    );
    assert_eq!((cat[3].docs, cat[3].status.as_deref()), (None, Some("close")));
    assert_eq!(v("count.json")["count"], 30);
    let mapping = parse_mapping(&v("mapping.json")).unwrap();
    assert_eq!(mapping["properties"]["subject"]["fields"]["keyword"]["type"], "keyword");
    let hits = parse_hits(&v("search-sorted.json"), true).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!((hits[0].0.as_str(), &hits[0].2), ("6pZBEI196V0545N_qDBJ", &json!(["6pZBEI196V0545N_qDBJ"])));
    let mget = parse_mget(&v("mget.json"), true).unwrap();
    assert_eq!(mget.len(), 1);
    // The same document hashes the same from _search and from _mget.
    assert_eq!(mget["6pZBEI196V0545N_qDBJ"], hits[0].1);
    assert_eq!(
        error_reason(fixture("error-400-id-fielddata.json")),
        "illegal_argument_exception: Fielddata access on the _id field is disallowed, you can re-enable it by updating \
         the dynamic cluster setting: indices.id_field_data.enabled"
    );
    assert_eq!(
        error_reason(r#"{"error":"no handler found for uri [/x] and method [GET]","status":400}"#),
        "no handler found for uri [/x] and method [GET]"
    );
    assert_eq!(error_reason("<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
}

/// The test server answers in the recorded shapes: same keys at every level (values differ).
#[test]
fn test_server_answers_in_the_recorded_shapes() {
    fn shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<(&String, Value)> = m.iter().map(|(k, v)| (k, shape(v))).collect();
                keys.sort_by(|a, b| a.0.cmp(b.0));
                Value::Array(keys.into_iter().map(|(k, v)| json!([k, v])).collect())
            }
            Value::Array(items) => items.first().map(shape).map(|s| json!([s])).unwrap_or(json!([])),
            Value::Null => json!("null"),
            Value::Bool(_) => json!("bool"),
            Value::Number(_) => json!("number"),
            Value::String(_) => json!("string"),
        }
    }
    let server = TestServer::start(Cluster::lcbp3());
    let client = Client::new(&ep(&server.url()), &SearchParityOptions::default()).unwrap();
    let recorded = |name| shape(&serde_json::from_str(fixture(name)).unwrap());
    let ids = ["6pZBEI196V0545N_qDBJ", "does-not-exist"];
    for (name, answer) in [
        ("root-es-8.13.4.json", client.get("/").unwrap()),
        ("cat-indices.json", client.get("/_cat/indices?format=json&h=index,docs.count,health,status").unwrap()),
        ("count.json", client.get("/lcbp3-correspondence/_count").unwrap()),
        ("mapping.json", client.get("/lcbp3-correspondence/_mapping").unwrap()),
        (
            "search-sorted.json",
            client
                .post(
                    "/lcbp3-correspondence/_search",
                    &json!({"size": 2, "sort": [{"_id": "asc"}], "track_total_hits": false}),
                )
                .unwrap(),
        ),
        ("mget.json", client.post("/lcbp3-correspondence/_mget", &json!({"ids": ids})).unwrap()),
    ] {
        assert_eq!(shape(&answer), recorded(name), "{name}: {answer}");
    }
    // And the values of the recorded search page and mget, for the same documents.
    let page = client
        .post("/lcbp3-correspondence/_search", &json!({"size": 2, "sort": [{"_id": "asc"}], "track_total_hits": false}))
        .unwrap();
    let recorded_page: Value = serde_json::from_str(fixture("search-sorted.json")).unwrap();
    assert_eq!(page["hits"], recorded_page["hits"]);
    let got = client.post("/lcbp3-correspondence/_mget", &json!({"ids": ids})).unwrap();
    assert_eq!(got, serde_json::from_str::<Value>(fixture("mget.json")).unwrap());
}

#[test]
fn equal_clusters_are_equal() {
    let source = TestServer::start(Cluster::lcbp3());
    let target = TestServer::start(Cluster::lcbp3().opensearch());
    let r = run(&source, &target, &opts());
    assert!(r.equal, "{r:#?}");
    assert_eq!((r.source_version.as_str(), r.target_version.as_str()), ("Elasticsearch 8.13.4", "OpenSearch 2.11.1"));
    // Hidden indices (".kibana_…") are left out unless asked for.
    let names: Vec<&str> = r.indices.iter().map(|i| i.index.as_str()).collect();
    assert_eq!(names, ["lcbp3-correspondence", "lcbp3-documents"]);
    let docs = index(&r, "lcbp3-documents");
    assert_eq!((docs.status, docs.source_docs, docs.target_docs), (IndexStatus::Equal, Some(30), Some(30)));
    assert_eq!((docs.sampled, docs.sample_order), (30, SampleOrder::Id));
    assert_eq!(docs.source_health.as_deref(), Some("yellow"));
    assert_eq!(index(&r, "lcbp3-correspondence").sampled, 12);
    assert_eq!(r.summary(), "2 indices equal");

    // Paging: 30 documents in pages of 7 is 5 source pages, each after the last page's sort value.
    let searches: Vec<Value> = source
        .requests()
        .iter()
        .filter(|q| q.method == "POST" && q.target == "/lcbp3-documents/_search")
        .map(|q| serde_json::from_str(&q.body).unwrap())
        .filter(|b: &Value| b["_source"] == json!(true))
        .collect();
    assert_eq!(searches.len(), 5, "{searches:#?}");
    assert_eq!(searches[0].get("search_after"), None);
    assert_eq!(searches[1]["search_after"], json!(["15"]), "ids sort as strings: 1, 10, 11 … 15");
    assert_eq!(searches[0]["sort"], json!([{"_id": "asc"}]));
    // The target was asked for the source's ids in batches of 7.
    let mgets = target.requests().iter().filter(|q| q.target == "/lcbp3-documents/_mget").count();
    assert_eq!(mgets, 5);
    // No request went without a JSON content type (the server would have answered 406).
    assert!(r.indices.iter().all(|i| i.notes.is_empty()), "{r:#?}");
}

#[test]
fn documents_missing_on_the_target_are_listed() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    assert!(cluster.edit("lcbp3-documents").remove_doc("7"));
    assert!(cluster.edit("lcbp3-documents").remove_doc("21"));
    let target = TestServer::start(cluster);
    let r = run(&source, &target, &opts());
    assert!(!r.equal);
    let docs = index(&r, "lcbp3-documents");
    assert_eq!((docs.status, docs.source_docs, docs.target_docs), (IndexStatus::CountDiffers, Some(30), Some(28)));
    assert_eq!(ids(&docs.missing), ["21", "7"]);
    assert_eq!((docs.missing.total, docs.changed.total, docs.extra.total), (2, 0, 0));
    assert_eq!(index(&r, "lcbp3-correspondence").status, IndexStatus::Equal);
    assert_eq!(r.summary(), "1 of 2 indices differ; 0 indices only in source, 0 only in target");
}

#[test]
fn documents_only_on_the_target_are_extra() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    cluster.edit("lcbp3-documents").put_doc("100", json!({"doc_no": "LCBP3-XX-9999"}));
    let target = TestServer::start(cluster);
    let r = run(&source, &target, &opts());
    let docs = index(&r, "lcbp3-documents");
    assert_eq!((docs.status, docs.target_docs), (IndexStatus::CountDiffers, Some(31)));
    assert_eq!(ids(&docs.extra), ["100"]);
    assert_eq!(docs.missing.total, 0);
}

#[test]
fn a_changed_source_is_content_differs() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    cluster.edit("lcbp3-documents").set_field("12", "status", json!("approved-by-mistake"));
    // Same content, other key order: not a difference.
    let reordered = {
        let doc = cluster.edit("lcbp3-documents").doc("3").unwrap().as_object().unwrap().clone();
        let mut rev = serde_json::Map::new();
        for (k, v) in doc.into_iter().rev() {
            rev.insert(k, v);
        }
        Value::Object(rev)
    };
    cluster.edit("lcbp3-documents").put_doc("3", reordered);
    let target = TestServer::start(cluster);
    let r = run(&source, &target, &opts());
    let docs = index(&r, "lcbp3-documents");
    assert_eq!((docs.status, docs.source_docs, docs.target_docs), (IndexStatus::ContentDiffers, Some(30), Some(30)));
    assert_eq!(ids(&docs.changed), ["12"]);
    assert_eq!((docs.missing.total, docs.extra.total), (0, 0));
}

#[test]
fn a_mapping_difference_names_the_field() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    cluster.edit("lcbp3-documents").mappings["properties"]["doc_no"] = json!({"type": "text"});
    let target = TestServer::start(cluster);
    let r = run(&source, &target, &opts());
    let docs = index(&r, "lcbp3-documents");
    assert_eq!(docs.status, IndexStatus::MappingDiffers);
    assert_eq!(
        docs.mapping_differences,
        vec![MappingDifference {
            field: "doc_no".into(),
            setting: "type".into(),
            source: Some(json!("keyword")),
            target: Some(json!("text")),
        }]
    );
    assert_eq!(docs.sampled, 30);
    assert!(!r.equal);
}

#[test]
fn an_index_on_one_side_only() {
    let mut a = Cluster::lcbp3();
    a.indices.insert("lcbp3-legacy".into(), Index::new(json!({"properties": {"x": {"type": "keyword"}}})));
    a.edit("lcbp3-legacy").put_doc("1", json!({"x": "a"}));
    let mut b = Cluster::lcbp3();
    b.indices.remove("lcbp3-correspondence");
    let source = TestServer::start(a);
    let target = TestServer::start(b);
    let r = run(&source, &target, &opts());
    assert!(!r.equal);
    assert_eq!(r.indices_only_in_source, ["lcbp3-correspondence", "lcbp3-legacy"]);
    assert!(r.indices_only_in_target.is_empty());
    let corr = index(&r, "lcbp3-correspondence");
    assert_eq!((corr.status, corr.source_docs, corr.target_docs), (IndexStatus::MissingInTarget, Some(12), None));
    assert_eq!(index(&r, "lcbp3-legacy").source_docs, Some(1));
    assert_eq!(index(&r, "lcbp3-documents").status, IndexStatus::Equal);
    assert_eq!(r.summary(), "0 of 1 indices differ; 2 indices only in source, 0 only in target");

    let r = run(&target, &source, &opts());
    assert_eq!(index(&r, "lcbp3-correspondence").status, IndexStatus::MissingInSource);
    assert_eq!(r.indices_only_in_target, ["lcbp3-correspondence", "lcbp3-legacy"]);
}

#[test]
fn a_refused_id_sort_falls_back_to_index_order() {
    // Elasticsearch 8 default on the source: sorting by _id answers 400.
    let source = TestServer::start(Cluster::lcbp3().disallow_id_sort());
    let mut cluster = Cluster::lcbp3();
    cluster.edit("lcbp3-documents").remove_doc("30");
    cluster.edit("lcbp3-documents").set_field("2", "title", json!("changed"));
    let target = TestServer::start(cluster);
    let r = run(&source, &target, &opts());
    let docs = index(&r, "lcbp3-documents");
    assert_eq!((docs.status, docs.sample_order, docs.sampled), (IndexStatus::CountDiffers, SampleOrder::Doc, 30));
    assert_eq!(ids(&docs.missing), ["30"]);
    assert_eq!(ids(&docs.changed), ["2"]);
    let note = docs.notes.join("\n");
    assert!(note.starts_with("source: sorting by _id was refused (illegal_argument_exception: Fielddata"), "{note}");
    assert!(note.contains("indices.id_field_data.enabled"), "{note}");
    // The first page was asked by _id, answered 400, then asked again by _doc and paged with search_after.
    let bodies: Vec<Value> = source
        .requests()
        .iter()
        .filter(|q| q.target == "/lcbp3-documents/_search")
        .map(|q| serde_json::from_str(&q.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["sort"], json!([{"_id": "asc"}]));
    assert_eq!(bodies[1]["sort"], json!([{"_doc": "asc"}]));
    assert_eq!(bodies[2]["search_after"], json!([6]));
    // The target still allows _id sort: its own (ids-only) sample is by _id, and found nothing extra.
    assert_eq!(docs.extra.total, 0);
    // Equal clusters that both refuse the _id sort are equal.
    let target = TestServer::start(Cluster::lcbp3().disallow_id_sort());
    assert!(run(&source, &target, &opts()).equal);
}

#[test]
fn sample_size_and_key_cap() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    for id in 1..=30 {
        if id % 2 == 0 {
            cluster.edit("lcbp3-documents").remove_doc(&id.to_string());
        }
    }
    let target = TestServer::start(cluster);
    let options = SearchParityOptions { sample: 10, max_keys: 3, ..opts() };
    let r = run(&source, &target, &options);
    let docs = index(&r, "lcbp3-documents");
    assert_eq!(docs.sampled, 10);
    // The first ten ids in _id order: 1 10 11 12 13 14 15 16 17 18; the even ones are gone.
    assert_eq!(docs.missing.total, 5);
    assert_eq!(ids(&docs.missing), ["10", "12", "14"]);
    assert_eq!(r.sample, 10);

    // sample 0: counts and mappings only.
    let options = SearchParityOptions { sample: 0, ..opts() };
    let r = run(&source, &target, &options);
    let docs = index(&r, "lcbp3-documents");
    assert_eq!((docs.status, docs.sampled, docs.sample_order), (IndexStatus::CountDiffers, 0, SampleOrder::None));
    assert!(!source.requests().iter().rev().take(6).any(|q| q.target.ends_with("_search")));
}

#[test]
fn index_patterns_select_and_exclude() {
    let source = TestServer::start(Cluster::lcbp3());
    let target = TestServer::start(Cluster::lcbp3());
    let pick = |indices: &[&str], exclude: &[&str]| {
        let options = SearchParityOptions {
            indices: indices.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..opts()
        };
        run(&source, &target, &options).indices.iter().map(|i| i.index.clone()).collect::<Vec<_>>()
    };
    assert_eq!(pick(&["lcbp3-doc*"], &[]), ["lcbp3-documents"]);
    assert_eq!(pick(&[], &["*-documents"]), ["lcbp3-correspondence"]);
    // `*` alone does not reach hidden indices; a pattern starting with '.' does.
    assert_eq!(pick(&["*"], &[]), ["lcbp3-correspondence", "lcbp3-documents"]);
    assert_eq!(pick(&[".kibana*"], &[]), [".kibana_8.13.4_001"]);
    assert!(pick(&["nothing-*"], &[]).is_empty());
}

#[test]
fn a_closed_index_is_not_compared() {
    let mut a = Cluster::lcbp3();
    a.edit("lcbp3-correspondence").status = "close".into();
    let source = TestServer::start(a);
    let target = TestServer::start(Cluster::lcbp3());
    let r = run(&source, &target, &opts());
    let corr = index(&r, "lcbp3-correspondence");
    assert_eq!(corr.status, IndexStatus::Closed);
    assert!(corr.notes[0].contains("closed on the source"), "{:?}", corr.notes);
    assert!(!r.equal);
}

#[test]
fn a_failing_index_is_reported_and_the_others_compared() {
    let source = TestServer::start(Cluster::lcbp3().record(
        "GET",
        "/lcbp3-documents/_mapping",
        500,
        r#"{"error":{"root_cause":[{"type":"null_pointer_exception","reason":"boom"}],"type":"null_pointer_exception","reason":"boom"},"status":500}"#,
    ));
    let target = TestServer::start(Cluster::lcbp3());
    let r = run(&source, &target, &opts());
    let docs = index(&r, "lcbp3-documents");
    assert_eq!(docs.status, IndexStatus::Error);
    assert!(docs.notes[0].contains("HTTP 500: null_pointer_exception: boom"), "{:?}", docs.notes);
    assert_eq!(index(&r, "lcbp3-correspondence").status, IndexStatus::Equal);
}

#[test]
fn a_wrong_or_missing_password_is_a_clear_error() {
    let secured = TestServer::start(Cluster::lcbp3().with_credentials("elastic", "changeme"));
    let open = TestServer::start(Cluster::lcbp3());
    let port = secured.port();

    let e = compare_indices(&ep(&secured.url()), &ep(&open.url()), &opts()).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.status(), Some(401));
    assert!(msg.starts_with(&format!("http://127.0.0.1:{port}: GET /: HTTP 401: security_exception: missing authentication credentials for REST request [/]")), "{msg}");
    assert!(msg.contains("check the user and password in the URL"), "{msg}");

    let e = compare_indices(&ep(&secured.url_with("elastic", "wrong-pw")), &ep(&open.url()), &opts()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&format!("http://elastic:***@127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("unable to authenticate user [elastic]"), "{msg}");
    assert!(!msg.contains("wrong-pw") && !format!("{e:?}").contains("wrong-pw"), "{msg}");
    assert!(!e.is_unreachable() && !e.is_usage());

    let r = compare_indices(&ep(&secured.url_with("elastic", "changeme")), &ep(&open.url()), &opts()).unwrap();
    assert!(r.equal, "{r:#?}");
    assert_eq!(r.source, format!("http://elastic:***@127.0.0.1:{port}"));
}

#[test]
fn an_unreachable_cluster_is_a_clear_error() {
    let open = TestServer::start(Cluster::lcbp3());
    let port = closed_port();
    let e = compare_indices(&ep(&open.url()), &ep(&format!("http://u:pw@127.0.0.1:{port}")), &opts()).unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("cannot reach http://u:***@127.0.0.1:{port}: ")), "{msg}");
    assert!(msg.contains("connection refused"), "{msg}");
}

#[test]
fn a_server_that_is_not_elasticsearch_is_a_clear_error() {
    let not_es = TestServer::start(Cluster::lcbp3().record("GET", "/", 200, r#"{"status":"ok"}"#));
    let open = TestServer::start(Cluster::lcbp3());
    let e = compare_indices(&ep(&open.url()), &ep(&not_es.url()), &opts()).unwrap_err();
    assert!(e.to_string().contains("is this an Elasticsearch or OpenSearch cluster?"), "{e}");
}

#[test]
fn a_bad_ca_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("http_ca.crt");
    std::fs::write(&not_pem, "hello").unwrap();
    for (path, why) in [(dir.path().join("missing.crt"), "No such file"), (not_pem, "no PEM certificate")] {
        let options = SearchParityOptions { ca_cert: Some(path), ..opts() };
        let e = compare_indices(&ep("https://127.0.0.1:9200"), &ep("https://127.0.0.1:9201"), &options).unwrap_err();
        assert!(e.is_usage() && e.to_string().contains(why), "{e}");
    }
}

#[test]
fn report_json_is_stable() {
    let source = TestServer::start(Cluster::lcbp3());
    let mut cluster = Cluster::lcbp3();
    cluster.edit("lcbp3-documents").remove_doc("7");
    let target = TestServer::start(cluster);
    let r = run(&source, &target, &opts());
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "kind",
            "source",
            "target",
            "source_version",
            "target_version",
            "equal",
            "sample",
            "indices",
            "indices_only_in_source",
            "indices_only_in_target",
            "duration_ms"
        ]
    );
    let docs = &v["indices"][1];
    assert_eq!(docs["status"], "count_differs");
    assert_eq!(docs["sample_order"], "id");
    assert_eq!(docs["missing"], json!({"total": 1, "keys": ["7"]}));
    let keys: Vec<&str> = docs.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "index",
            "status",
            "source_docs",
            "target_docs",
            "source_health",
            "target_health",
            "mapping_differences",
            "sampled",
            "sample_order",
            "missing",
            "changed",
            "extra",
            "notes",
            "duration_ms"
        ]
    );
}

#[test]
fn https_to_a_plain_http_port_is_a_tls_error() {
    // A server that answers anything with plain HTTP, as a cluster without TLS on its HTTP layer does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    let e = compare_indices(&ep(&format!("https://127.0.0.1:{port}")), &ep("http://127.0.0.1:1"), &opts()).unwrap_err();
    server.join().unwrap();
    assert!(matches!(e, SearchError::Tls { .. }), "{e:?}");
    assert!(e.is_unreachable());
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("TLS with https://127.0.0.1:{port} failed: ")), "{msg}");
    assert!(msg.ends_with("the server does not speak TLS on this port; use http://"), "{msg}");
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A real TLS server (`openssl s_server`, whose `-www` page is HTML, not JSON) with a certificate signed by
/// a private CA, as Elasticsearch 8 sets up its HTTP layer: untrusted without the CA file, trusted with it.
#[test]
fn https_trusts_the_ca_file_it_is_given() {
    assert!(
        std::process::Command::new("openssl").arg("version").output().is_ok(),
        "this test needs the openssl binary: apt-get install openssl (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        d,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "http_ca.crt", "-subj", "/CN=tug test CA", "-days", "2"],
        ]
        .concat(),
    );
    openssl(d, &[&["req"][..], &ec, &["-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=es01"]].concat());
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            "http_ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "node.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let port = closed_port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-cert",
            "node.crt",
            "-key",
            "node.key",
            "-accept",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(d)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let url = ep(&format!("https://127.0.0.1:{port}"));
    let other = ep("http://127.0.0.1:1");
    let untrusted = compare_indices(&url, &other, &opts()).unwrap_err();
    let trusted =
        compare_indices(&url, &other, &SearchParityOptions { ca_cert: Some(d.join("http_ca.crt")), ..opts() })
            .unwrap_err();
    let _ = server.kill();
    let _ = server.wait();
    let msg = untrusted.to_string();
    assert!(matches!(untrusted, SearchError::Tls { .. }) && msg.contains("http_ca.crt"), "{msg}");
    // With the CA the handshake succeeds and the (HTML) answer is what fails.
    let msg = trusted.to_string();
    assert!(matches!(trusted, SearchError::Protocol { .. }) && msg.contains("not JSON"), "{msg}");
}
