//! The OSV schema 1.6 (<https://ossf.github.io/osv-schema/>) as serde types: what tug reads of a record.
//! Unknown fields are ignored, and `null` where a list or object is expected reads as empty, as some
//! databases write it.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One OSV record (one `<ID>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    pub id: String,
    /// RFC 3339; required by the schema, and what decides whether a re-import replaces a record.
    #[serde(default)]
    pub modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub related: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub upstream: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub severity: Vec<SeverityScore>,
    #[serde(default, deserialize_with = "null_default")]
    pub affected: Vec<AffectedPackage>,
    #[serde(default, deserialize_with = "null_default")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// `severity[]`: `{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/…"}` (types: CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeverityScore {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// `affected[]`: one package, the versions of it the vulnerability applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// Absent in records that only describe GIT ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
    #[serde(default, deserialize_with = "null_default")]
    pub severity: Vec<SeverityScore>,
    #[serde(default, deserialize_with = "null_default")]
    pub ranges: Vec<Range>,
    #[serde(default, deserialize_with = "null_default")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Package {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// `affected[].ranges[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// One event of a range. The schema allows exactly one of the four per object; a struct (not an enum)
/// so that an event carrying an unknown extra key still reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// What an [`Event`] says, the first key present in schema order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind<'a> {
    Introduced(&'a str),
    Fixed(&'a str),
    LastAffected(&'a str),
    Limit(&'a str),
}

impl Event {
    pub fn kind(&self) -> Option<EventKind<'_>> {
        if let Some(v) = &self.introduced {
            Some(EventKind::Introduced(v))
        } else if let Some(v) = &self.fixed {
            Some(EventKind::Fixed(v))
        } else if let Some(v) = &self.last_affected {
            Some(EventKind::LastAffected(v))
        } else {
            self.limit.as_deref().map(EventKind::Limit)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub url: String,
}

/// `null` reads as the type's default (an empty list).
fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An OSV `modified`/`published` timestamp (RFC 3339) as milliseconds since the Unix epoch, so that
/// `2024-01-02T03:04:05Z` and `2024-01-02T03:04:05.5Z` compare as times, not as strings. `None` when it
/// is not RFC 3339.
pub fn timestamp_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Milliseconds: the first three digits, padded.
        for k in 0..3 {
            millis = millis * 10 + b.get(start + k).filter(|_| start + k < i).map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = i64::from(h1 - b'0') * 600
                + i64::from(h2 - b'0') * 60
                + i64::from(m1 - b'0') * 10
                + i64::from(m2 - b'0');
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    // Days from civil (H. Hinnant's algorithm), proleptic Gregorian.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(timestamp_ms("2024-01-02T03:04:05Z"), Some(1_704_164_645_000));
        assert_eq!(timestamp_ms("2024-01-02T03:04:05.5Z"), Some(1_704_164_645_500));
        assert_eq!(timestamp_ms("2024-01-02T03:04:05.123456Z"), Some(1_704_164_645_123));
        assert_eq!(timestamp_ms("2024-01-02T05:04:05+02:00"), Some(1_704_164_645_000));
        assert_eq!(timestamp_ms("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in
            ["", "2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z", "2024-01-02T03:04:05.Z", "yesterday"]
        {
            assert_eq!(timestamp_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_fields_and_nulls_read() {
        let r: Record = serde_json::from_str(
            r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","aliases":null,"credits":[{"name":"a"}],
                "affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}],"x":1}]}"#,
        )
        .unwrap();
        assert!(r.aliases.is_empty());
        assert_eq!(r.affected[0].ranges[0].events[1].kind(), Some(EventKind::Fixed("1.0.0")));
    }
}
