//! Just enough DER to read a certificate's expiry and subject: a walk to `tbsCertificate.validity`
//! (RFC 5280 §4.1) instead of a full X.509 parser dependency.

/// One TLV: (tag, contents, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The fields of `tbsCertificate` up to and including subject.
fn tbs_fields(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(certificate)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    let (_, _, rest) = tlv(rest)?; // serialNumber
    let (_, _, rest) = tlv(rest)?; // signature algorithm
    let (_, _, rest) = tlv(rest)?; // issuer
    let (_, validity, rest) = tlv(rest)?;
    let (_, subject, _) = tlv(rest)?;
    Some((validity, subject))
}

/// `notAfter` as Unix milliseconds.
pub fn not_after_unix_ms(cert: &[u8]) -> Option<i64> {
    let (validity, _) = tbs_fields(cert)?;
    let (_, _, rest) = tlv(validity)?;
    let (tag, time, _) = tlv(rest)?;
    let text = std::str::from_utf8(time).ok()?;
    let digits = text.strip_suffix('Z')?;
    let full = match tag {
        // UTCTime: YYMMDDHHMMSS, years 1950–2049.
        0x17 if digits.len() == 12 => {
            let yy: i32 = digits[..2].parse().ok()?;
            format!("{}{}", if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        0x18 if digits.len() == 14 => digits.to_string(),
        _ => return None,
    };
    let n = |r: std::ops::Range<usize>| full.get(r).and_then(|s| s.parse::<u8>().ok());
    let year: i32 = full.get(..4)?.parse().ok()?;
    let month = time::Month::try_from(n(4..6)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, n(6..8)?).ok()?;
    let t = time::Time::from_hms(n(8..10)?, n(10..12)?, n(12..14)?).ok()?;
    let when = time::PrimitiveDateTime::new(date, t).assume_utc();
    Some((when.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The subject's common name, when it has one.
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (_, subject) = tbs_fields(cert)?;
    let mut sets = subject;
    while let Some((_, set, rest)) = tlv(sets) {
        let (_, attr, _) = tlv(set)?;
        let (_, oid, value) = tlv(attr)?;
        if oid == CN {
            let (_, v, _) = tlv(value)?;
            return std::str::from_utf8(v).ok().map(str::to_string);
        }
        sets = rest;
    }
    None
}
