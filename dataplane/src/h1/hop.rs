//! Connection-header hygiene: removal of hop-by-hop fields before a head is forwarded
//! (RFC 9110 §7.6.1).
//!
//! Invariant: after [`strip_hop_by_hop`] no field meant only for the previous hop is
//! left: `Connection` and every field it names, `Keep-Alive`, `Proxy-Connection`, `TE`
//! (reduced to `trailers` when asked for), `Upgrade` unless the proxy upgrades, and
//! `Transfer-Encoding` when the proxy re-frames the body. A `Connection` token cannot
//! remove `Host`, `Content-Length` or `Transfer-Encoding`: a peer must not be able to
//! strip the fields that route and frame the message (a known smuggling trick).

use super::head::ConnectionTokens;
use super::headers::HeaderList;
use super::syntax::eq_ci;

/// What to keep while stripping hop-by-hop fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HopByHop {
    /// Keep `Upgrade` (the proxy forwards a protocol upgrade and adds
    /// `Connection: upgrade` itself).
    pub keep_upgrade: bool,
    /// Remove `Transfer-Encoding` (the proxy re-frames the body and writes its own
    /// framing field).
    pub reframe: bool,
}

/// Fields no `Connection` token may remove.
const PROTECTED: [&[u8]; 3] = [b"host", b"content-length", b"transfer-encoding"];

/// Removes hop-by-hop fields from `headers` and returns what `Connection` said, so
/// the proxy can decide persistence and write its own `Connection` field.
pub fn strip_hop_by_hop(headers: &mut HeaderList, opts: HopByHop) -> ConnectionTokens {
    let tokens = ConnectionTokens::from_headers(headers);
    let mut te_trailers = None;
    for i in 0..headers.len() {
        let name = headers.name(i);
        // By length first: most fields match none of the names below.
        let fixed = match name.len() {
            10 if eq_ci(name, b"connection") || eq_ci(name, b"keep-alive") => Some(true),
            16 if eq_ci(name, b"proxy-connection") => Some(true),
            7 if eq_ci(name, b"upgrade") => Some(!opts.keep_upgrade),
            17 if eq_ci(name, b"transfer-encoding") => Some(opts.reframe),
            2 if eq_ci(name, b"te") => Some(
                if te_trailers.is_none()
                    && headers.comma_values(b"te").any(|v| eq_ci(v, b"trailers"))
                {
                    te_trailers = Some(i);
                    false
                } else {
                    true
                },
            ),
            _ => None,
        };
        let drop = match fixed {
            Some(d) => d,
            None if !tokens.other || PROTECTED.iter().any(|p| eq_ci(name, p)) => false,
            None => headers.comma_values(b"connection").any(|t| eq_ci(t, name)),
        };
        if drop {
            headers.mark(i);
        }
    }
    if let Some(i) = te_trailers {
        if headers.value(i) != b"trailers" {
            // A fixed, valid value: cannot fail.
            let _ = headers.set_value(i, b"trailers");
        }
    }
    headers.remove_marked();
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(h: &HeaderList) -> Vec<String> {
        h.iter()
            .map(|(n, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                )
            })
            .collect()
    }

    #[test]
    fn strips_named_and_fixed_fields() {
        let mut h = HeaderList::new();
        for (n, v) in [
            ("Host", "a"),
            ("Connection", "keep-alive, X-Hop, content-length, Upgrade"),
            ("X-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "gzip, trailers"),
            ("Upgrade", "websocket"),
            ("Content-Length", "3"),
            ("X-End", "2"),
        ] {
            h.append(n.as_bytes(), v.as_bytes()).unwrap();
        }
        let t = strip_hop_by_hop(&mut h.clone(), HopByHop::default());
        assert!(t.keep_alive && t.upgrade && t.other && !t.close);
        let mut a = h.clone();
        strip_hop_by_hop(&mut a, HopByHop::default());
        assert_eq!(
            names(&a),
            vec!["Host=a", "TE=trailers", "Content-Length=3", "X-End=2"]
        );
        let mut b = h.clone();
        strip_hop_by_hop(
            &mut b,
            HopByHop {
                keep_upgrade: true,
                reframe: true,
            },
        );
        assert_eq!(
            names(&b),
            vec![
                "Host=a",
                "TE=trailers",
                "Upgrade=websocket",
                "Content-Length=3",
                "X-End=2"
            ]
        );
    }

    #[test]
    fn te_without_trailers_and_reframing() {
        let mut h = HeaderList::new();
        h.append(b"TE", b"gzip").unwrap();
        h.append(b"Transfer-Encoding", b"chunked").unwrap();
        let mut a = h.clone();
        strip_hop_by_hop(&mut a, HopByHop::default());
        assert_eq!(names(&a), vec!["Transfer-Encoding=chunked"]);
        strip_hop_by_hop(
            &mut h,
            HopByHop {
                reframe: true,
                ..HopByHop::default()
            },
        );
        assert!(h.is_empty());
    }
}
