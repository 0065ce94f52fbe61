//! `set maxconn frontend|global|server`: the connection limits changed at run time,
//! with HAProxy 2.6's answers.
//!
//! Owns: [`set_maxconn`]. The limits live in [`Shared`](crate::proxy::Shared) atomics
//! (`process.limit`, `frontends[i].limit`, `servers[b][s].maxconn`) that the accept
//! loops and the server pick read on every attempt: a raised limit is used by the
//! next connection (waiting accepts and queued requests re-check within tens of
//! milliseconds), a lowered one closes nothing. Invariant: a bad argument changes
//! nothing.

use std::sync::atomic::Ordering;

use super::Cli;

/// C's `atoi`: optional sign and leading digits, 0 when there are none.
fn atoi(s: &str) -> i64 {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    let v = digits[..end].parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// `set maxconn global <value>`: at most the starting maxconn; 0 or less (or no
/// digits, as `atoi` reads them) restores it.
fn global(cli: &Cli, value: Option<&str>) -> String {
    let Some(v) = value else {
        return "Expects an integer value.\n".into();
    };
    let hard = cli.shared.maxconn;
    let v = atoi(v);
    if v > i64::from(hard) {
        return "Value out of range.\n".into();
    }
    let v = if v <= 0 { hard } else { v as u32 };
    cli.shared.process.limit.store(v, Ordering::Relaxed);
    String::new()
}

/// `set maxconn frontend <name> <value>`.
fn frontend(cli: &Cli, name: Option<&str>, value: Option<&str>) -> String {
    let Some(name) = name else {
        return "A frontend name is expected.\n".into();
    };
    let cfg = &cli.shared.config;
    let Some(i) = cfg.frontends.iter().position(|f| f.name == name) else {
        return "No such frontend.\n".into();
    };
    let Some(v) = value else {
        return "Integer value expected.\n".into();
    };
    let v = atoi(v);
    if !(0..=i64::from(u32::MAX)).contains(&v) {
        return "Value out of range.\n".into();
    }
    cli.shared.frontends[i]
        .limit
        .store(v as u32, Ordering::Relaxed);
    String::new()
}

/// `set maxconn server <be>/<srv> <value>` (0: no limit). HAProxy's two garbage
/// answers have no final newline.
fn server(cli: &Cli, target: Option<&str>, value: Option<&str>) -> String {
    let (b, s) = match super::commands::find_server(cli, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(v) = value else {
        return "Require <maxconn>.\n".into();
    };
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return "maxconn string empty or preceded by garbage".into();
    }
    if end < digits.len() {
        return "Trailing garbage in maxconn string".into();
    }
    // sluice-specific: HAProxy stores a negative value as is; sluice refuses it.
    let Ok(v) = v.parse::<u32>() else {
        return "Value out of range.\n".into();
    };
    cli.shared.servers[b][s].maxconn.store(v, Ordering::Relaxed);
    String::new()
}

/// `set maxconn <what> ...` (the level is checked by the caller); `None` for an
/// unknown `<what>` (the caller answers as for an unknown command).
pub(crate) fn set_maxconn(cli: &Cli, rest: &[&str]) -> Option<String> {
    let arg = |i: usize| rest.get(i).copied();
    Some(match arg(0)? {
        "global" => global(cli, arg(1)),
        "frontend" => frontend(cli, arg(1), arg(2)),
        "server" => server(cli, arg(1), arg(2)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::atoi;

    #[test]
    fn atoi_reads_leading_digits() {
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("7x"), 7);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi(""), 0);
    }
}
