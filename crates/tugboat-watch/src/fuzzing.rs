//! Fuzz targets of this crate's parsers (`fuzz/`), also replayed over the committed corpus by
//! `tests/fuzz_corpus.rs`. Each function takes any bytes and panics when a property does not hold.
//! Not an API: hidden from the docs and used by the fuzz crate and the corpus test only.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::probe::condition::Condition;
use crate::watch::cron::Cron;

/// `probe::condition` parse and evaluate: the trimmed text parses to the same condition; an error's column
/// lies within the text (or just past it); evaluating against typical observations does not panic.
pub fn condition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = Condition::parse(text);
    let trimmed = Condition::parse(text.trim());
    match (&parsed, &trimmed) {
        (Ok(condition), Ok(again)) => assert_eq!(condition, again, "the trimmed text parses differently"),
        (Err(error), _) => {
            let columns = text.chars().count() + 1;
            assert!((1..=columns).contains(&error.column), "error column {} of {columns}: {error}", error.column);
        }
        (Ok(_), Err(error)) => panic!("the text parses, its trimmed text does not: {error}"),
    }
    if let Ok(condition) = parsed {
        let result = condition.evaluate(&observations());
        assert_eq!(result.condition, text.trim());
    }
}

/// `watch::cron`: parse the first line as a schedule; the optional second and third lines are an instant
/// (Unix milliseconds, kept within years 1970–9999 as a clock gives them) and a window length in seconds.
/// The next run is later than the instant and matches; a window is open at its start; no length panics.
pub fn cron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(3, '\n');
    let Ok(schedule) = Cron::parse(lines.next().unwrap_or_default()) else { return };
    let millis = lines.next().and_then(|l| l.trim().parse::<i64>().ok()).unwrap_or(1_764_000_000_000);
    let length = Duration::from_secs(lines.next().and_then(|l| l.trim().parse::<u64>().ok()).unwrap_or(3600));
    let Some(now) = Cron::local(millis.rem_euclid(LAST_MILLISECOND_OF_9999)) else { return };
    let _ = schedule.window_open(now, length);
    if let Some(next) = schedule.next_after(now) {
        assert!(next > now, "next run {next} is not after {now}");
        assert!(schedule.matches(&next), "next run {next} does not match `{schedule}`");
        if length.as_secs() >= 1 {
            assert!(schedule.window_open(next, length), "a {length:?} window is closed at its start {next}");
        }
    }
}

/// 9999-12-31T23:59:59.999Z in Unix milliseconds.
const LAST_MILLISECOND_OF_9999: i64 = 253_402_300_799_999;

/// What an HTTP probe typically observes, for evaluating fuzzed conditions.
fn observations() -> Map<String, Value> {
    let mut values = Map::new();
    values.insert("STATUS".into(), json!(200));
    values.insert("BODY".into(), json!(r#"{"status":"ok","data":[1,{"a":null}],"n":1.5}"#));
    values.insert("RESPONSE_TIME".into(), json!(12));
    values.insert("CONNECTED".into(), json!(true));
    values.insert("CERTIFICATE_EXPIRATION".into(), json!(2_592_000_000_u64));
    values.insert("CONTEXT".into(), json!({"token": "t", "list": []}));
    values
}
