//! Reading what sluice needs from an X.509 certificate (DER, parsed with
//! `x509-parser`): the DNS names it serves (subject CN and DNS SANs), its validity
//! period, and its subject/issuer distinguished names as (attribute, value) pairs
//! for the `ssl_c_*` fetches.
//!
//! Owns nothing; pure functions. Invariant: names are lower-case ASCII; a
//! certificate that does not parse is an error, never a silently empty answer.

use x509_parser::prelude::*;

use super::pem::Validity;

/// The DNS names (CN first, then DNS SANs, lower-case, deduplicated) and validity of
/// a DER certificate.
pub fn names_and_validity(der: &[u8]) -> Result<(Vec<String>, Validity), String> {
    let (_, cert) = parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = Vec::new();
    let mut push = |n: &str| {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    };
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            push(s);
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for g in &san.value.general_names {
            if let GeneralName::DNSName(s) = g {
                push(s);
            }
        }
    }
    let v = cert.validity();
    Ok((
        names,
        Validity {
            not_before: v.not_before.timestamp(),
            not_after: v.not_after.timestamp(),
        },
    ))
}

/// A distinguished name as (attribute short name, value) pairs.
pub type DnEntries = Vec<(String, String)>;

/// Subject and issuer of a DER certificate as (short attribute name, value) pairs in
/// certificate order (`C`, `ST`, `L`, `O`, `OU`, `CN`, `emailAddress`, ...).
pub fn subject_issuer(der: &[u8]) -> Option<(DnEntries, DnEntries)> {
    let (_, cert) = parse_x509_certificate(der).ok()?;
    Some((dn_entries(cert.subject()), dn_entries(cert.issuer())))
}

fn dn_entries(name: &X509Name<'_>) -> DnEntries {
    let reg = x509_parser::objects::oid_registry();
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            let oid = atv.attr_type();
            let key = match x509_parser::objects::oid2abbrev(oid, reg) {
                Ok(a) => a.to_string(),
                Err(_) => oid.to_id_string(),
            };
            let value = match atv.as_str() {
                Ok(s) => s.to_string(),
                Err(_) => String::from_utf8_lossy(atv.attr_value().data).into_owned(),
            };
            out.push((key, value));
        }
    }
    out
}

/// Unix seconds as `2025-01-31 23:59:59 GMT` (for error messages).
pub fn asn1_date(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Whether certificate name `pattern` (possibly `*.example.com`) covers `host`
/// (lower-case). A wildcard covers exactly one leftmost label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest == suffix,
            None => false,
        },
        None => pattern == host,
    }
}
