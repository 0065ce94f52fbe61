//! Numbers, durations and ranges as HAProxy writes them.
//!
//! Owns: [`parse_time`] (`us ms s m h d`, default unit ms, at most 2^31-1 ms),
//! integer helpers, and number-set parsing for `cpu-map` (`0-3,5`).
//! Every failure returns `(message, hint)`.

use std::time::Duration;

/// An error message and a hint.
pub(crate) type Fail = (String, String);

/// HAProxy's largest timer value in milliseconds (~24.8 days).
pub(crate) const MAX_TIMER_MS: u64 = 2_147_483_647;

/// Parses `10s`, `500` (ms), `1m`, `250us`, `2h`, `1d`.
pub(crate) fn parse_time(s: &str) -> Result<Duration, Fail> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let hint = || {
        "write a number followed by a unit: us, ms (default), s, m, h or d, e.g. '30s'".to_string()
    };
    if digits == 0 {
        return Err((format!("invalid time value '{s}'"), hint()));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| (format!("time value '{s}' is too large"), hint()))?;
    let unit = &s[digits..];
    let us_per: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err((
                format!("unexpected unit '{unit}' in time value '{s}'"),
                hint(),
            ))
        }
    };
    let us = n
        .checked_mul(us_per)
        .filter(|us| *us <= MAX_TIMER_MS * 1000)
        .ok_or_else(|| {
            (
                format!("timer overflow in '{s}'"),
                "the maximum is 2147483647ms (about 24.8 days)".to_string(),
            )
        })?;
    Ok(Duration::from_micros(us))
}

/// A non-negative integer that fits `u32`.
pub(crate) fn parse_u32(s: &str, what: &str) -> Result<u32, Fail> {
    s.parse::<u32>().map_err(|_| {
        (
            format!("{what} expects a non-negative integer, got '{s}'"),
            "write a plain decimal number".to_string(),
        )
    })
}

/// A `u32` within `min..=max`.
pub(crate) fn parse_u32_in(s: &str, what: &str, min: u32, max: u32) -> Result<u32, Fail> {
    let v = parse_u32(s, what)?;
    if v < min || v > max {
        return Err((
            format!("{what} must be between {min} and {max}, got {v}"),
            format!("choose a value from {min} to {max}"),
        ));
    }
    Ok(v)
}

/// A set of numbers like `0-3,6,8-9` (each item a number or an inclusive range),
/// also `all`, `odd`, `even` relative to `1..=limit`.
pub(crate) fn parse_num_set(s: &str, limit: u32, what: &str) -> Result<Vec<u32>, Fail> {
    let hint = || format!("write {what} numbers or ranges, e.g. '0-3' or '1,3,5-7'");
    let mut out = vec![];
    match s {
        "all" => return Ok((1..=limit).collect()),
        "odd" => return Ok((1..=limit).filter(|n| n % 2 == 1).collect()),
        "even" => return Ok((1..=limit).filter(|n| n % 2 == 0).collect()),
        _ => {}
    }
    for item in s.split(',') {
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (a, b),
            None => (item, item),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| (format!("invalid {what} set '{s}'"), hint()))?;
        let b: u32 = b
            .parse()
            .map_err(|_| (format!("invalid {what} set '{s}'"), hint()))?;
        if a > b {
            return Err((format!("inverted range '{item}' in {what} set"), hint()));
        }
        if b - a > 65_536 {
            return Err((format!("range '{item}' is too large"), hint()));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
