//! Conformance with Gatus's condition language: the cases of Gatus's own condition tests that an HTTP
//! check can reproduce, each with what Gatus expects, run through tug's code path, and the agreement
//! counted.
//!
//! Source: `config/endpoint/condition_test.go` of github.com/TwiN/gatus at commit 08c4635 (2026-08-17):
//! every case of `TestCondition_evaluate` except the three on `[IP]` (a DNS lookup, not an HTTP answer),
//! the three `TestConditionEvaluateWith*Context*` cases, and every `TestCondition_Validate` case except
//! those on `[IP]` and `[DOMAIN_EXPIRATION]` (tug has neither on HTTP checks).
//!
//! How a case runs:
//! - status and body cases: a real HTTP server answers with the case's status and body; the condition is
//!   written into a `tugboat.yml`, loaded and compiled as `tug watch` does, and the HTTP probe runs it;
//! - response time, certificate, connection and `[CONTEXT]` cases (values a test server cannot set
//!   exactly): the condition is parsed and evaluated against the observation the HTTP probe would make
//!   (the same placeholder names and value types, see `probe/http.rs`);
//! - `TestCondition_Validate` cases: the condition is compiled into an HTTP check; it is valid when it
//!   compiles.
//!
//! The cases where tug differs on purpose are listed in [`DELIBERATE`] (and in docs/watch.md, "Where tug
//! differs from Gatus"): the test fails when another case disagrees, and also when one of those stops
//! disagreeing, so the documentation cannot fall behind. Run it with
//! `cargo test -p tugboat-watch --test gatus_conditions -- --nocapture` to see the count.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use support::{HttpTarget, Response, StackDir};
use tugboat_watch::probe::{Condition, Prober};

/// What the probe sees in a case.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// An HTTP answer (served by a real server).
    Http(u16, &'static str),
    /// `[RESPONSE_TIME]` in ms, of an otherwise empty `200`.
    ResponseTime(u64),
    /// `[CERTIFICATE_EXPIRATION]` in hours (none: a plain-HTTP check).
    Certificate(Option<i64>),
    /// `[CONNECTED]`: whether the server answered at all.
    Connected(bool),
    /// An HTTP step of a `steps` check after earlier steps stored `[CONTEXT]` (JSON object), with this
    /// status and response time.
    Context { status: u16, response_time_ms: u64, context: &'static str },
}

use Seen::*;

/// One of Gatus's cases: its test's name, the condition, what is observed, and Gatus's result.
struct Case {
    gatus: &'static str,
    condition: &'static str,
    seen: Seen,
    gatus_says: bool,
}

const fn case(gatus: &'static str, condition: &'static str, seen: Seen, gatus_says: bool) -> Case {
    Case { gatus, condition, seen, gatus_says }
}

const USER: &str = r#"{"name": "john.doe"}"#;
const HTML_JOHN: &str = r#"<!DOCTYPE html><html lang="en"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /></head><body><div id="user">john.doe</div></body></html>"#;
const HTML_JANE: &str = r#"<!DOCTYPE html><html lang="en"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /></head><body><div id="user">jane.doe</div></body></html>"#;
const ARTICLE: &str = "{\n  \"article\": {\n    \"id\": 123,\n    \"title\": \"Hello, world!\",\n    \"author\": \"John Doe\",\n    \"tags\": [\"hello\", \"world\"],\n    \"content\": \"I really like Gatus!\"\n  }\n}";

/// `TestCondition_evaluate` (minus `[IP]`) and the three context tests, in Gatus's order.
const EVALUATE: &[Case] = &[
    case("status", "[STATUS] == 200", Http(200, ""), true),
    case("status-failure", "[STATUS] == 200", Http(500, ""), false),
    case("status-using-less-than", "[STATUS] < 300", Http(201, ""), true),
    case("status-using-less-than-failure", "[STATUS] < 300", Http(404, ""), false),
    case("response-time-using-less-than", "[RESPONSE_TIME] < 500", ResponseTime(50), true),
    case("response-time-using-less-than-with-duration", "[RESPONSE_TIME] < 1s", ResponseTime(50), true),
    case("response-time-using-less-than-invalid", "[RESPONSE_TIME] < potato", ResponseTime(50), false),
    case("response-time-using-greater-than", "[RESPONSE_TIME] > 500", ResponseTime(750), true),
    case("response-time-using-greater-than-with-duration", "[RESPONSE_TIME] > 1s", ResponseTime(2000), true),
    case("response-time-using-greater-than-or-equal-to-equal", "[RESPONSE_TIME] >= 500", ResponseTime(500), true),
    case("response-time-using-greater-than-or-equal-to-greater", "[RESPONSE_TIME] >= 500", ResponseTime(499), false),
    case("response-time-using-greater-than-or-equal-to-failure", "[RESPONSE_TIME] >= 500", ResponseTime(499), false),
    case("response-time-using-less-than-or-equal-to-equal", "[RESPONSE_TIME] <= 500", ResponseTime(500), true),
    case("response-time-using-less-than-or-equal-to-less", "[RESPONSE_TIME] <= 500", ResponseTime(25), true),
    case("response-time-using-less-than-or-equal-to-failure", "[RESPONSE_TIME] <= 500", ResponseTime(750), false),
    case("body", "[BODY] == test", Http(200, "test"), true),
    case("body-resolved-on-success", "[BODY].status == UP", Http(200, r#"{"status":"UP"}"#), true),
    case("body-numerical-equal", "[BODY] == 123", Http(200, "123"), true),
    case("body-numerical-less-than", "[BODY] < 124", Http(200, "123"), true),
    case("body-numerical-greater-than", "[BODY] > 122", Http(200, "123"), true),
    case("body-numerical-greater-than-failure", "[BODY] > 123", Http(200, "100"), false),
    case("body-jsonpath", "[BODY].status == UP", Http(200, r#"{"status":"UP"}"#), true),
    case(
        "body-jsonpath-complex",
        "[BODY].data.name == john",
        Http(200, r#"{"data": {"id": 1, "name": "john"}}"#),
        true,
    ),
    case("body-jsonpath-complex-invalid", "[BODY].data.name == john", Http(200, r#"{"data": {"id": 1}}"#), false),
    case(
        "body-jsonpath-complex-len-invalid",
        "len([BODY].data.name) == john",
        Http(200, r#"{"data": {"id": 1}}"#),
        false,
    ),
    case(
        "body-jsonpath-double-placeholder",
        "[BODY].user.firstName != [BODY].user.lastName",
        Http(200, r#"{"user": {"firstName": "john", "lastName": "doe"}}"#),
        true,
    ),
    case(
        "body-jsonpath-double-placeholder-failure",
        "[BODY].user.firstName == [BODY].user.lastName",
        Http(200, r#"{"user": {"firstName": "john", "lastName": "doe"}}"#),
        false,
    ),
    case("body-jsonpath-when-body-is-array", "[BODY][0].id == 1", Http(200, r#"[{"id": 1}, {"id": 2}]"#), true),
    // The stray quote after the object is in Gatus's test: the body is not JSON.
    case("body-jsonpath-when-body-has-null-parameter", "[BODY].data == OK", Http(200, r#"{"data": null}""#), false),
    case(
        "body-jsonpath-when-body-has-array-with-null",
        "[BODY].items[0] == OK",
        Http(200, r#"{"items": [null, null]}""#),
        false,
    ),
    case("body-jsonpath-when-body-is-null", "[BODY].data == OK", Http(200, "null"), false),
    case(
        "body-jsonpath-when-body-is-array-but-actual-body-is-not",
        "[BODY][0].name == test",
        Http(200, r#"{"statusCode": 500, "message": "Internal Server Error"}"#),
        false,
    ),
    case("body-jsonpath-complex-int", "[BODY].data.id == 1", Http(200, r#"{"data": {"id": 1}}"#), true),
    case(
        "body-jsonpath-complex-array-int",
        "[BODY].data[1].id == 2",
        Http(200, r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}"#),
        true,
    ),
    case(
        "body-jsonpath-complex-int-using-greater-than",
        "[BODY].data.id > 0",
        Http(200, r#"{"data": {"id": 1}}"#),
        true,
    ),
    case("body-jsonpath-hexadecimal-int-using-greater-than", "[BODY].data > 0", Http(200, r#"{"data": "0x1"}"#), true),
    case("body-jsonpath-hexadecimal-int-using-equal-to-0x1", "[BODY].data == 1", Http(200, r#"{"data": "0x1"}"#), true),
    case("body-jsonpath-hexadecimal-int-using-equals", "[BODY].data == 0x1", Http(200, r#"{"data": "0x1"}"#), true),
    case("body-jsonpath-hexadecimal-int-using-equal-to-0x2", "[BODY].data == 2", Http(200, r#"{"data": "0x2"}"#), true),
    case(
        "body-jsonpath-hexadecimal-int-using-equal-to-0xF",
        "[BODY].data == 15",
        Http(200, r#"{"data": "0xF"}"#),
        true,
    ),
    case(
        "body-jsonpath-hexadecimal-int-using-equal-to-0xC0ff33",
        "[BODY].data == 12648243",
        Http(200, r#"{"data": "0xC0ff33"}"#),
        true,
    ),
    case("body-jsonpath-hexadecimal-int-len", "len([BODY].data) == 3", Http(200, r#"{"data": "0x1"}"#), true),
    case("body-jsonpath-hexadecimal-int-greater", "[BODY].data >= 1", Http(200, r#"{"data": "0x01"}"#), true),
    case("body-jsonpath-hexadecimal-int-0x01-len", "len([BODY].data) == 4", Http(200, r#"{"data": "0x01"}"#), true),
    case("body-jsonpath-octal-int-using-greater-than", "[BODY].data > 0", Http(200, r#"{"data": "0o1"}"#), true),
    case("body-jsonpath-octal-int-using-equal", "[BODY].data == 2", Http(200, r#"{"data": "0o2"}"#), true),
    case("body-jsonpath-octal-int-using-equals", "[BODY].data == 0o2", Http(200, r#"{"data": "0o2"}"#), true),
    case("body-jsonpath-binary-int-using-greater-than", "[BODY].data > 0", Http(200, r#"{"data": "0b1"}"#), true),
    case("body-jsonpath-binary-int-using-equal", "[BODY].data == 2", Http(200, r#"{"data": "0b0010"}"#), true),
    case("body-jsonpath-binary-int-using-equals", "[BODY].data == 0b10", Http(200, r#"{"data": "0b0010"}"#), true),
    case(
        "body-jsonpath-complex-int-using-greater-than-failure",
        "[BODY].data.id > 5",
        Http(200, r#"{"data": {"id": 1}}"#),
        false,
    ),
    case(
        "body-jsonpath-float-using-greater-than-issue433",
        "[BODY].balance > 100",
        Http(200, r#"{"balance": "123.40000000000005"}"#),
        true,
    ),
    case("body-jsonpath-complex-int-using-less-than", "[BODY].data.id < 5", Http(200, r#"{"data": {"id": 2}}"#), true),
    case(
        "body-jsonpath-complex-int-using-less-than-failure",
        "[BODY].data.id < 5",
        Http(200, r#"{"data": {"id": 10}}"#),
        false,
    ),
    case("connected", "[CONNECTED] == true", Connected(true), true),
    case("connected-failure", "[CONNECTED] == true", Connected(false), false),
    case("certificate-expiration-not-set", "[CERTIFICATE_EXPIRATION] == 0", Certificate(None), true),
    // 2419200000 ms = 28 days.
    case(
        "certificate-expiration-greater-than-numerical",
        "[CERTIFICATE_EXPIRATION] > 2419200000",
        Certificate(Some(60 * 24)),
        true,
    ),
    case(
        "certificate-expiration-greater-than-numerical-failure",
        "[CERTIFICATE_EXPIRATION] > 2419200000",
        Certificate(Some(14 * 24)),
        false,
    ),
    case("certificate-expiration-greater-than-duration", "[CERTIFICATE_EXPIRATION] > 12h", Certificate(Some(24)), true),
    // Gatus gives two cases this name; this is the second.
    case(
        "certificate-expiration-greater-than-duration (2nd)",
        "[CERTIFICATE_EXPIRATION] > 48h",
        Certificate(Some(24)),
        false,
    ),
    case("no-placeholders", "1 == 2", Http(200, ""), false),
    case("len-body-jsonpath-complex", "len([BODY].data.name) == 4", Http(200, r#"{"data": {"name": "john"}}"#), true),
    case("len-body-array", "len([BODY]) == 3", Http(200, r#"[{"id": 1}, {"id": 2}, {"id": 3}]"#), true),
    case(
        "len-body-keyed-array",
        "len([BODY].data) == 3",
        Http(200, r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}]}"#),
        true,
    ),
    case("len-body-array-invalid", "len([BODY].data) == 8", Http(200, USER), false),
    case("len-body-string", "len([BODY]) == 8", Http(200, "john.doe"), true),
    case("len-body-keyed-string", "len([BODY].name) == 8", Http(200, USER), true),
    case("len-body-keyed-int", "len([BODY].age) == 2", Http(200, r#"{"age":18}"#), true),
    case("len-body-keyed-bool", "len([BODY].adult) == 4", Http(200, r#"{"adult":true}"#), true),
    case("len-body-object-inside-array", "len([BODY][0]) == 23", Http(200, r#"[{"age":18,"adult":true}]"#), true),
    case(
        "len-body-object-keyed-int-inside-array",
        "len([BODY][0].age) == 2",
        Http(200, r#"[{"age":18,"adult":true}]"#),
        true,
    ),
    case(
        "len-body-keyed-bool-inside-array",
        "len([BODY][0].adult) == 4",
        Http(200, r#"[{"age":18,"adult":true}]"#),
        true,
    ),
    case("len-body-object", "len([BODY]) == 20", Http(200, USER), true),
    case("pat-body-1", "[BODY] == pat(*john*)", Http(200, USER), true),
    case("pat-body-2", "[BODY].name == pat(john*)", Http(200, USER), true),
    case("pat-body-failure", "[BODY].name == pat(bob*)", Http(200, USER), false),
    case("pat-body-html", r#"[BODY] == pat(*<div id="user">john.doe</div>*)"#, Http(200, HTML_JOHN), true),
    case("pat-body-html-failure", r#"[BODY] == pat(*<div id="user">john.doe</div>*)"#, Http(200, HTML_JANE), false),
    case("pat-body-html-failure-alt", r#"pat(*<div id="user">john.doe</div>*) == [BODY]"#, Http(200, HTML_JANE), false),
    case(
        "pat-body-in-array",
        "[BODY].data == pat(*Whatever*)",
        Http(200, r#"{"data": ["hello", "world", "Whatever"]}"#),
        true,
    ),
    case("pat-status", "[STATUS] == pat(4*)", Http(404, ""), true),
    case("pat-status-failure", "[STATUS] == pat(4*)", Http(200, ""), false),
    case("any-body-1", "[BODY].name == any(john.doe, jane.doe)", Http(200, r#"{"name": "john.doe"}"#), true),
    case("any-body-2", "[BODY].name == any(john.doe, jane.doe)", Http(200, r#"{"name": "jane.doe"}"#), true),
    case("any-body-failure", "[BODY].name == any(john.doe, jane.doe)", Http(200, r#"{"name": "bob"}"#), false),
    case("any-status-1", "[STATUS] == any(200, 429)", Http(200, ""), true),
    case("any-status-2", "[STATUS] == any(200, 429)", Http(429, ""), true),
    case("any-status-reverse", "any(200, 429) == [STATUS]", Http(429, ""), true),
    case("any-status-failure", "[STATUS] == any(200, 429)", Http(404, ""), false),
    case("any-status-failure-but-dont-resolve", "[STATUS] == any(200, 429)", Http(404, ""), false),
    case("has", "has([BODY].errors) == false", Http(200, "{}"), true),
    case("has-key-of-map", "has([BODY].article) == true", Http(200, ARTICLE), true),
    case("has-failure", "has([BODY].errors) == false", Http(200, r#"{"errors": ["1"]}"#), false),
    case("has-failure-but-dont-resolve", "has([BODY].errors) == false", Http(200, r#"{"errors": ["1"]}"#), false),
    case(
        "TestConditionEvaluateWithInvalidContextPlaceholder",
        "[STATUS] == [CONTEXT].expected_statusz",
        Context { status: 200, response_time_ms: 0, context: r#"{"expected_status": 200, "max_response_time": 5000}"# },
        false,
    ),
    case(
        "TestConditionEvaluateWithValidContextPlaceholder",
        "[STATUS] == [CONTEXT].expected_status",
        Context { status: 200, response_time_ms: 0, context: r#"{"expected_status": 200}"# },
        true,
    ),
    case(
        "TestConditionEvaluateWithMixedValidAndInvalidContext",
        "[RESPONSE_TIME] < [CONTEXT].invalid_key",
        Context { status: 200, response_time_ms: 100, context: r#"{"valid_key": 5000}"# },
        false,
    ),
];

/// `TestCondition_Validate` (minus `[IP]` and `[DOMAIN_EXPIRATION]`): the condition, and whether Gatus
/// accepts it.
const VALIDATE: &[(&str, bool)] = &[
    ("[STATUS] == 200", true),
    ("[STATUS] != 200", true),
    ("[STATUS] <= 200", true),
    ("[STATUS] >= 200", true),
    ("[STATUS] < 200", true),
    ("[STATUS] > 200", true),
    ("[STATUS] == any(200, 201, 202, 203)", true),
    ("[STATUS] == [BODY].status", true),
    ("[CONNECTED] == true", true),
    ("[RESPONSE_TIME] < 500", true),
    ("[BODY] == 1", true),
    ("[BODY].test == wat", true),
    ("[BODY].test.wat == wat", true),
    ("[BODY].age == [BODY].id", true),
    ("[BODY].users[0].id == 1", true),
    ("len([BODY].users) == 100", true),
    ("len([BODY].data) < 5", true),
    ("has([BODY].errors) == false", true),
    ("has([BODY].users[0].name) == true", true),
    ("[BODY].name == pat(john*)", true),
    ("[CERTIFICATE_EXPIRATION] > 48h", true),
    ("raw == raw", true),
    ("[STATUS] ? 201", false),
    ("[STATUS]==201", false),
    ("[STATUS] = = 201", false),
    ("[STATUS] ==", false),
    ("[STATUS]", false),
];

/// Where tug differs from Gatus on purpose (docs/watch.md, "Where tug differs from Gatus"): the case,
/// and why.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "certificate-expiration-not-set",
        "a plain-HTTP check has no certificate: [CERTIFICATE_EXPIRATION] is missing, not 0 (Gatus's 0 makes \
         `< 24h` alert on every http:// URL)",
    ),
    (
        "len-body-object-inside-array",
        "len() of a JSON object counts its keys (2); Gatus counts the characters of the object re-encoded as \
         minified JSON (23)",
    ),
    ("validate: [STATUS]==201", "tug reads operators without spaces around them; Gatus refuses the condition"),
];

/// tug's verdict on a case: the condition's result, or why it was refused.
type Verdict = Result<bool, String>;

/// Every status/body case through a real server and the compiled check.
fn run_over_http(cases: &[(usize, &Case)]) -> Vec<(usize, Verdict)> {
    let target = HttpTarget::start();
    let mut verdicts = Vec::new();
    let mut checks = String::new();
    let mut compiled = Vec::new();
    for (i, case) in cases {
        let Http(status, body) = case.seen else { unreachable!("only HTTP cases") };
        // A condition tug refuses is reported as such; the rest go into tugboat.yml.
        if let Err(e) = Condition::parse(case.condition) {
            verdicts.push((*i, Err(e.to_string())));
            continue;
        }
        target.route(&format!("/case{i}"), Response::new(status, body));
        // A JSON string is a YAML double-quoted scalar: the condition arrives as written.
        let condition = serde_json::to_string(case.condition).unwrap();
        checks.push_str(&format!(
            "    - {{ name: case{i}, http: \"{}\", expect: [{condition}] }}\n",
            target.url(&format!("/case{i}"))
        ));
        compiled.push(*i);
    }
    let stack = StackDir::new(&format!("checks:\n  gatus:\n{checks}"));
    let checks = stack.checks();
    let prober = Prober::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (i, check) in compiled.into_iter().zip(&checks) {
        assert_eq!(check.name, format!("case{i}"));
        let outcome = runtime.block_on(prober.run(check));
        assert!(outcome.error.is_none(), "the test server answers every case: {outcome:#?}");
        assert_eq!(outcome.conditions.len(), 1, "{outcome:#?}");
        verdicts.push((i, Ok(outcome.conditions[0].ok)));
    }
    verdicts
}

/// The observation the HTTP probe makes (names and value types as `probe/http.rs` sets them), for the
/// cases whose values a test server cannot produce exactly.
fn observation(seen: Seen) -> Map<String, Value> {
    let answered = |status: u16, response_time_ms: u64| json!({"CONNECTED": true, "STATUS": status, "RESPONSE_TIME": response_time_ms, "BODY": "", "HEADERS": {}, "CONTEXT": {}});
    let value = match seen {
        Http(..) => unreachable!("HTTP cases run against a server"),
        ResponseTime(ms) => answered(200, ms),
        Certificate(hours) => {
            let mut v = answered(200, 1);
            if let Some(h) = hours {
                v["CERTIFICATE_EXPIRATION"] = json!(h * 3_600_000);
            }
            v
        }
        Connected(true) => answered(200, 1),
        // What the probe records when the request fails (refused, timed out).
        Connected(false) => json!({"CONNECTED": false, "STATUS": 0, "RESPONSE_TIME": 1, "CONTEXT": {}}),
        Context { status, response_time_ms, context } => {
            let mut v = answered(status, response_time_ms);
            v["CONTEXT"] = serde_json::from_str(context).unwrap();
            v
        }
    };
    value.as_object().unwrap().clone()
}

fn evaluate(case: &Case) -> Verdict {
    let condition = Condition::parse(case.condition).map_err(|e| e.to_string())?;
    Ok(condition.evaluate(&observation(case.seen)).ok)
}

/// Whether tug accepts a condition in an HTTP check's `expect:` (compiled as `tug watch` does).
fn accepts(condition: &str) -> Result<(), String> {
    let yml = format!(
        "checks:\n  gatus:\n    - {{ name: c, http: \"http://127.0.0.1:9/\", expect: [{}] }}\n",
        serde_json::to_string(condition).unwrap()
    );
    let stack = StackDir::new(&yml);
    match tugboat::stack::load(stack.path(), &Default::default()).and_then(|s| tugboat_watch::probe::compile(&s, None))
    {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn tug_reads_gatus_conditions_as_gatus_does() {
    let over_http: Vec<(usize, &Case)> =
        EVALUATE.iter().enumerate().filter(|(_, c)| matches!(c.seen, Http(..))).collect();
    let mut verdicts: Vec<(usize, Verdict)> = run_over_http(&over_http);
    for (i, case) in EVALUATE.iter().enumerate().filter(|(_, c)| !matches!(c.seen, Http(..))) {
        verdicts.push((i, evaluate(case)));
    }
    verdicts.sort_by_key(|(i, _)| *i);
    assert_eq!(verdicts.len(), EVALUATE.len());

    let mut disagree: Vec<(String, String)> = Vec::new();
    for (i, verdict) in &verdicts {
        let case = &EVALUATE[*i];
        if verdict.as_ref().ok() != Some(&case.gatus_says) {
            let tug = match verdict {
                Ok(ok) => format!("tug says {ok}"),
                Err(e) => format!("tug refuses it: {e}"),
            };
            disagree
                .push((case.gatus.to_string(), format!("`{}`: Gatus says {}, {tug}", case.condition, case.gatus_says)));
        }
    }
    let evaluated_agree = EVALUATE.len() - disagree.len();
    let mut validated_agree = 0;
    for (condition, gatus_accepts) in VALIDATE {
        let tug = accepts(condition);
        if let Err(e) = &tug {
            // A refused condition says where in it the problem is.
            assert!(e.contains("column "), "`{condition}`: the error names no column: {e}");
        }
        if tug.is_ok() == *gatus_accepts {
            validated_agree += 1;
            continue;
        }
        let gatus = if *gatus_accepts { "Gatus accepts it" } else { "Gatus refuses it" };
        let tug = match tug {
            Ok(()) => "tug accepts it".to_string(),
            Err(e) => format!("tug refuses it: {e}"),
        };
        disagree.push((format!("validate: {condition}"), format!("{gatus}, {tug}")));
    }

    println!(
        "tug agrees with Gatus on {evaluated_agree} of {} evaluated cases and {validated_agree} of {} validated \
         conditions ({} of {} in all)",
        EVALUATE.len(),
        VALIDATE.len(),
        evaluated_agree + validated_agree,
        EVALUATE.len() + VALIDATE.len()
    );
    for (name, why) in &disagree {
        println!("  differs: {name}: {why}");
    }
    let found: BTreeSet<&str> = disagree.iter().map(|(n, _)| n.as_str()).collect();
    let expected: BTreeSet<&str> = DELIBERATE.iter().map(|(n, _)| *n).collect();
    let unexpected: Vec<&(String, String)> = disagree.iter().filter(|(n, _)| !expected.contains(n.as_str())).collect();
    assert!(unexpected.is_empty(), "cases that differ from Gatus without a reason in DELIBERATE: {unexpected:#?}");
    let gone: Vec<&&str> = expected.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "these deliberate differences agree now: drop them from DELIBERATE and docs/watch.md: {gone:?}"
    );
}
