//! Error pages (`errorfile`, `http-errors`, `return … errorfile`).
//!
//! Owns: [`check_errorfile`] and [`ERRORFILE_CODES`]. Invariant: a page kept in the
//! model is a complete HTTP/1.x response (status line, headers, blank line, body),
//! no larger than `tune.bufsize`, with its head normalised to CRLF line ends, and a
//! `Content-Length` (when present) that matches the body.

use super::units::Fail;

/// Status codes HAProxy accepts for `errorfile`.
pub(crate) const ERRORFILE_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// Validates a raw error page; `status` (when given) must be one HAProxy allows.
/// Returns the page with its head normalised to CRLF.
pub(crate) fn check_errorfile(
    data: &[u8],
    status: Option<u16>,
    bufsize: usize,
) -> Result<Vec<u8>, Fail> {
    if let Some(s) = status {
        if !ERRORFILE_CODES.contains(&s) {
            return Err((
                format!("status code '{s}' cannot have an error file"),
                format!(
                    "error files exist for {}",
                    ERRORFILE_CODES
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let hint = || {
        "an error file is a full raw HTTP response: 'HTTP/1.1 503 Service Unavailable', headers, an empty line, then the body".to_string()
    };
    if data.len() > bufsize {
        return Err((
            format!(
                "error file is {} bytes, larger than tune.bufsize ({bufsize})",
                data.len()
            ),
            "shorten the page or raise tune.bufsize".into(),
        ));
    }
    // Find the end of the head: CRLFCRLF or LFLF.
    let (head_end, body_start) = match find(data, b"\r\n\r\n") {
        Some(p) => (p, p + 4),
        None => match find(data, b"\n\n") {
            Some(p) => (p, p + 2),
            None => {
                return Err((
                    "error file has no end of headers (empty line)".into(),
                    hint(),
                ))
            }
        },
    };
    let head = std::str::from_utf8(&data[..head_end])
        .map_err(|_| ("error file headers are not valid text".to_string(), hint()))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or("");
    let mut sp = status_line.splitn(3, ' ');
    let ver = sp.next().unwrap_or("");
    let code = sp.next().unwrap_or("");
    if !(ver == "HTTP/1.0" || ver == "HTTP/1.1") || code.len() != 3 || code.parse::<u16>().is_err()
    {
        return Err((
            format!("invalid status line '{status_line}' in error file"),
            hint(),
        ));
    }
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut clen: Option<usize> = None;
    for l in lines {
        let Some((n, v)) = l.split_once(':') else {
            return Err((format!("invalid header line '{l}' in error file"), hint()));
        };
        if n.is_empty() || n.contains(' ') {
            return Err((format!("invalid header name in '{l}'"), hint()));
        }
        if n.eq_ignore_ascii_case("content-length") {
            clen = Some(
                v.trim()
                    .parse()
                    .map_err(|_| (format!("invalid content-length '{}'", v.trim()), hint()))?,
            );
        }
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let body = &data[body_start..];
    if let Some(cl) = clen {
        if cl != body.len() {
            return Err((
                format!(
                    "content-length is {cl} but the body has {} bytes",
                    body.len()
                ),
                "fix the Content-Length header (mind the final newline of the file)".into(),
            ));
        }
    }
    out.extend_from_slice(body);
    Ok(out)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}
