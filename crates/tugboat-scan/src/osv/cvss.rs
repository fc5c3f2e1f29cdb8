//! Severity: the CVSS v3.0/v3.1 base score computed from a record's vector (CVSS 3.1 specification,
//! section 7.1, with the Roundup of Appendix A), and the qualitative rating it falls in.
//!
//! CVSS v4 (and v2) vectors are not scored: where a record has no v3 vector, the severity comes from the
//! database's own label (`ecosystem_specific.severity`, `database_specific.severity`, an `Ubuntu`
//! severity entry), else it is [`Severity::Unknown`].

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The qualitative rating (CVSS 3.1 section 5): Critical ≥ 9.0, High ≥ 7.0, Medium ≥ 4.0, Low > 0.
/// Ordered by gravity: `Critical > High > Medium > Low > Unknown`, so a gate is `severity >= High`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Unknown,
}

impl Severity {
    fn rank(self) -> u8 {
        match self {
            Severity::Unknown => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }

    /// The rating of a CVSS score; 0.0 ("None" in CVSS terms) is `Unknown`, as is anything out of range.
    pub fn from_score(score: f64) -> Severity {
        if !(0.0..=10.0).contains(&score) {
            Severity::Unknown
        } else if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Unknown
        }
    }

    /// A database's own label: GHSA's `CRITICAL`/`HIGH`/`MODERATE`/`LOW`, Debian's and Ubuntu's
    /// `high`/`medium`/`low`/`negligible`/`unimportant`, Alpine's and others' `important`/`moderate`.
    pub fn from_label(label: &str) -> Option<Severity> {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" | "important" => Some(Severity::High),
            "medium" | "moderate" => Some(Severity::Medium),
            "low" | "negligible" | "unimportant" | "minor" => Some(Severity::Low),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Unknown => "unknown",
        }
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a vector was not scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    #[error("not a CVSS v3 vector (it must start with CVSS:3.0/ or CVSS:3.1/)")]
    NotV3,
    #[error("metric {0:?} is not `NAME:VALUE`")]
    Malformed(String),
    #[error("metric {metric} has an unknown value {value:?}")]
    BadValue { metric: String, value: String },
    #[error("metric {0} appears twice")]
    Duplicate(String),
    #[error("base metric {0} is missing")]
    Missing(&'static str),
}

/// The base score of a CVSS v3.0 or v3.1 vector. Temporal and environmental metrics may be present
/// and are checked for form but do not change the base score.
pub fn base_score(vector: &str) -> Result<f64, CvssError> {
    let rest = vector.strip_prefix("CVSS:3.1/").or_else(|| vector.strip_prefix("CVSS:3.0/")).ok_or(CvssError::NotV3)?;
    const BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
    let mut base: [Option<&str>; 8] = [None; 8];
    let mut seen: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        let (metric, value) = part.split_once(':').ok_or_else(|| CvssError::Malformed(part.to_owned()))?;
        if metric.is_empty() || value.is_empty() {
            return Err(CvssError::Malformed(part.to_owned()));
        }
        if seen.contains(&metric) {
            return Err(CvssError::Duplicate(metric.to_owned()));
        }
        seen.push(metric);
        if let Some(i) = BASE.iter().position(|m| *m == metric) {
            base[i] = Some(value);
        }
    }
    let get = |i: usize| base[i].ok_or(CvssError::Missing(BASE[i]));
    let bad = |i: usize, value: &str| CvssError::BadValue { metric: BASE[i].to_owned(), value: value.to_owned() };

    let scope_changed = match get(4)? {
        "U" => false,
        "C" => true,
        v => return Err(bad(4, v)),
    };
    let av = match get(0)? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        v => return Err(bad(0, v)),
    };
    let ac = match get(1)? {
        "L" => 0.77,
        "H" => 0.44,
        v => return Err(bad(1, v)),
    };
    let pr = match (get(2)?, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        (v, _) => return Err(bad(2, v)),
    };
    let ui = match get(3)? {
        "N" => 0.85,
        "R" => 0.62,
        v => return Err(bad(3, v)),
    };
    let cia = |i: usize| -> Result<f64, CvssError> {
        match get(i)? {
            "H" => Ok(0.56),
            "L" => Ok(0.22),
            "N" => Ok(0.0),
            v => Err(bad(i, v)),
        }
    };
    let (c, i, a) = (cia(5)?, cia(6)?, cia(7)?);

    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if scope_changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15) } else { 6.42 * iss };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let sum = if scope_changed { 1.08 * (impact + exploitability) } else { impact + exploitability };
    Ok(roundup(sum.min(10.0)))
}

/// CVSS 3.1 Appendix A: the smallest number with one decimal that is ≥ the input, computed on integers
/// so that floating-point noise (4.000000000000001) does not round up to 4.1.
pub fn roundup(input: f64) -> f64 {
    let int_input = (input * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        (int_input / 10_000 + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundup_as_appendix_a() {
        assert_eq!(roundup(4.02), 4.1);
        assert_eq!(roundup(4.00), 4.0);
        assert_eq!(roundup(4.000_000_000_000_001), 4.0);
        assert_eq!(roundup(9.999_99), 10.0);
        assert_eq!(roundup(0.01), 0.1);
    }

    /// The worked examples of the CVSS v3.1 "Examples" document (first.org/cvss/v3.1/examples), base scores.
    #[test]
    fn specification_examples() {
        let cases = [
            ("CVE-2013-1937 phpMyAdmin XSS", "AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVE-2013-0375 MySQL", "AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
            ("CVE-2014-3566 POODLE", "AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),
            ("CVE-2012-1516 VMware", "AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVE-2012-0384 Cisco IOS", "AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
            ("CVE-2015-1098 Apple iWork", "AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8),
            ("CVE-2014-0160 Heartbleed", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
            ("CVE-2014-6271 Shellshock", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVE-2008-1447 DNS", "AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:H/A:N", 6.8),
            ("CVE-2014-2005 Sophos", "AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8),
            ("CVE-2010-0467 Joomla", "AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 5.8),
            ("CVE-2012-1342 Cisco ACL", "AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:L/A:N", 5.8),
            ("CVE-2011-1265 Bluetooth", "AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.8),
            ("CVE-2016-5729 Lenovo", "AV:L/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 8.2),
        ];
        for (what, metrics, expected) in cases {
            for version in ["3.0", "3.1"] {
                let vector = format!("CVSS:{version}/{metrics}");
                assert_eq!(base_score(&vector), Ok(expected), "{what}: {vector}");
            }
        }
    }

    /// Real advisories' vectors with the base score NVD publishes for them.
    #[test]
    fn nvd_scores() {
        let cases = [
            ("CVE-2021-44228 log4j", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVE-2020-28498 elliptic", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8),
            ("CVE-2021-4034 pwnkit", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVE-2024-6387 regreSSHion", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),
            ("CVE-2016-5195 Dirty COW", "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.0),
            ("CVE-2019-5736 runc", "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 8.6),
            ("CVE-2022-0778 openssl BN_mod_sqrt", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVE-2023-44487 HTTP/2 rapid reset", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVE-2021-3449 openssl renegotiation", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", 5.9),
            ("CVE-2022-24999 qs prototype pollution", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVE-2024-3094 xz backdoor", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVE-2018-1000656 flask", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVE-2017-5638 struts", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVE-2014-3566 POODLE (NVD)", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),
            ("CVE-2023-38545 curl SOCKS5", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVE-2022-3602 openssl punycode", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
        ];
        for (what, vector, expected) in cases {
            assert_eq!(base_score(vector), Ok(expected), "{what}: {vector}");
        }
    }

    #[test]
    fn no_impact_scores_zero_and_temporal_metrics_are_ignored() {
        assert_eq!(base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), Ok(0.0));
        assert_eq!(base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C"), Ok(9.8));
    }

    #[test]
    fn malformed_vectors() {
        assert_eq!(base_score("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), Err(CvssError::NotV3));
        assert_eq!(
            base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            Err(CvssError::NotV3)
        );
        assert_eq!(base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"), Err(CvssError::Missing("A")));
        assert_eq!(
            base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Err(CvssError::BadValue { metric: "AV".into(), value: "X".into() })
        );
        assert_eq!(
            base_score("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Err(CvssError::Duplicate("AV".into()))
        );
        assert_eq!(base_score("CVSS:3.1/AV:N/AC"), Err(CvssError::Malformed("AC".into())));
    }

    #[test]
    fn ratings_and_order() {
        assert_eq!(Severity::from_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_score(8.9), Severity::High);
        assert_eq!(Severity::from_score(7.0), Severity::High);
        assert_eq!(Severity::from_score(4.0), Severity::Medium);
        assert_eq!(Severity::from_score(3.9), Severity::Low);
        assert_eq!(Severity::from_score(0.1), Severity::Low);
        assert_eq!(Severity::from_score(0.0), Severity::Unknown);
        assert!(Severity::Critical > Severity::High && Severity::High > Severity::Medium);
        assert!(Severity::Medium > Severity::Low && Severity::Low > Severity::Unknown);
        assert_eq!(Severity::from_label("MODERATE"), Some(Severity::Medium));
        assert_eq!(Severity::from_label("unimportant"), Some(Severity::Low));
        assert_eq!(Severity::from_label("not yet assigned"), None);
        assert_eq!(serde_json::to_string(&Severity::Critical).unwrap(), "\"critical\"");
        assert_eq!(serde_json::from_str::<Severity>("\"unknown\"").unwrap(), Severity::Unknown);
    }
}
