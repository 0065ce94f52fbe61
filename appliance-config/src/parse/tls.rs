//! TLS settings: the global `ssl-*`/`crt-base`/`ca-base` keywords and the helpers
//! shared by `bind … ssl` and `server … ssl` lines (versions, ALPN, paths).
//!
//! Owns: [`global_tls_kw`], [`parse_version`], [`version_flag`], [`check_versions`],
//! [`parse_alpn`], [`parse_proto`], [`parse_verify`], [`cert_paths`], [`file_path`].
//! Invariants: only TLS 1.2 and 1.3 exist (rustls); a path in the model exists when
//! the configuration is loaded (a directory given to `crt` is expanded then); a
//! keyword accepted without effect always leaves a warning.

use std::path::{Path, PathBuf};

use super::units::Fail;
use super::{Ctx, Ln, R};
use crate::error::{did_you_mean, suggest};
use crate::model::{TlsVersion, Verify};

/// Extensions of the side files a `crt` directory may hold next to certificates
/// (HAProxy loads them with the certificate of the same name; sluice skips them).
const SIDE_FILE_EXTS: &[&str] = &["key", "ocsp", "issuer", "sctl", "dh"];

/// `TLSv1.2` / `TLSv1.3`; older versions are refused (rustls does not have them).
pub(crate) fn parse_version(kw: &str, v: &str) -> Result<TlsVersion, Fail> {
    match v {
        "TLSv1.2" => Ok(TlsVersion::Tls12),
        "TLSv1.3" => Ok(TlsVersion::Tls13),
        "SSLv3" | "TLSv1.0" | "TLSv1.1" => Err((
            format!("'{kw} {v}': {v} is not supported by sluice's TLS library (rustls)"),
            "rustls speaks TLSv1.2 and TLSv1.3 only; write 'TLSv1.2' or 'TLSv1.3'".into(),
        )),
        _ => Err((
            format!("unknown TLS version '{v}' for '{kw}'"),
            did_you_mean(
                v,
                ["TLSv1.2", "TLSv1.3"],
                "write 'TLSv1.2' or 'TLSv1.3' (the only versions rustls speaks)",
            ),
        )),
    }
}

/// The version flags shared by bind, server and `ssl-default-*-options`
/// (`no-tlsv12`, `force-tlsv13`, …). Returns `None` when `o` is not one of them.
pub(crate) fn version_flag(
    o: &str,
    min: &mut Option<TlsVersion>,
    max: &mut Option<TlsVersion>,
) -> Option<Result<(), Fail>> {
    match o {
        // rustls never speaks these versions: the option asks for what happens anyway.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
        "no-tlsv12" => *min = Some(TlsVersion::Tls13),
        "no-tlsv13" => *max = Some(TlsVersion::Tls12),
        "force-tlsv12" => {
            *min = Some(TlsVersion::Tls12);
            *max = Some(TlsVersion::Tls12);
        }
        "force-tlsv13" => {
            *min = Some(TlsVersion::Tls13);
            *max = Some(TlsVersion::Tls13);
        }
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => return Some(Err((
            format!(
                "'{o}' asks for a TLS version that sluice's TLS library (rustls) does not support"
            ),
            "rustls speaks TLSv1.2 and TLSv1.3 only; use 'ssl-min-ver'/'ssl-max-ver' with those"
                .into(),
        ))),
        _ => return None,
    }
    Some(Ok(()))
}

/// Refuses an empty version range.
pub(crate) fn check_versions(min: Option<TlsVersion>, max: Option<TlsVersion>) -> Result<(), Fail> {
    match (min, max) {
        (Some(a), Some(b)) if a > b => Err((
            format!(
                "the minimum TLS version ({}) is above the maximum ({})",
                a.name(),
                b.name()
            ),
            "check 'ssl-min-ver'/'ssl-max-ver'/'no-tlsv1x' here and in the global 'ssl-default-*-options'".into(),
        )),
        _ => Ok(()),
    }
}

/// `alpn h2,http/1.1` → `["h2", "http/1.1"]`.
pub(crate) fn parse_alpn(v: &str) -> Result<Vec<String>, Fail> {
    let mut out = vec![];
    for p in v.split(',') {
        if p.is_empty() {
            return Err((
                format!("empty protocol name in ALPN list '{v}'"),
                "separate protocols with single commas, e.g. 'alpn h2,http/1.1'".into(),
            ));
        }
        if p.len() > 255 || !p.bytes().all(|c| c.is_ascii_graphic()) {
            return Err((
                format!("invalid protocol name '{p}' in ALPN list"),
                "protocol names are printable ASCII, at most 255 characters, e.g. h2 or http/1.1"
                    .into(),
            ));
        }
        if p == "h3" {
            return Err((
                "ALPN 'h3' is HTTP/3 over QUIC, which is not in this build".into(),
                "offer 'h2,http/1.1' on TCP listeners".into(),
            ));
        }
        out.push(p.to_string());
    }
    Ok(out)
}

/// `proto h1|h2`.
pub(crate) fn parse_proto(v: &str) -> Result<String, Fail> {
    match v {
        "h1" | "h2" => Ok(v.to_string()),
        "fcgi" => Err((
            "FastCGI servers are not supported".into(),
            "use 'proto h1' or 'proto h2'".into(),
        )),
        "quic" | "h3" => Err((
            "QUIC/HTTP/3 is not in this build".into(),
            "use 'proto h1' or 'proto h2'".into(),
        )),
        _ => Err((
            format!("unknown protocol '{v}' for 'proto'"),
            did_you_mean(v, ["h1", "h2"], "write 'proto h1' or 'proto h2'"),
        )),
    }
}

/// `verify none|optional|required` (`optional` only on bind lines).
pub(crate) fn parse_verify(v: &str, bind: bool) -> Result<Verify, Fail> {
    match v {
        "none" => Ok(Verify::None),
        "required" => Ok(Verify::Required),
        "optional" if bind => Ok(Verify::Optional),
        "optional" => Err((
            "'verify optional' exists only on bind lines".into(),
            "on a server, write 'verify none' or 'verify required'".into(),
        )),
        _ => Err((
            format!("unknown verify mode '{v}'"),
            did_you_mean(
                v,
                if bind {
                    &["none", "optional", "required"][..]
                } else {
                    &["none", "required"][..]
                }
                .iter()
                .copied(),
                if bind {
                    "write 'verify none', 'verify optional' or 'verify required'"
                } else {
                    "write 'verify none' or 'verify required'"
                },
            ),
        )),
    }
}

/// Resolves `p` against `base` unless it is absolute.
fn resolve(base: Option<&Path>, p: &str) -> PathBuf {
    match base {
        Some(b) if !p.starts_with('/') => b.join(p),
        _ => PathBuf::from(p),
    }
}

/// A hint for a path that does not exist: a close sibling, or where relative paths
/// are looked up.
fn missing_hint(path: &Path, base_kw: &str, base: Option<&Path>) -> String {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read_dir(parent) {
        Ok(rd) => {
            let names: Vec<String> = rd
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let stem = name.split('.').next().unwrap_or("");
            let same_stem = names
                .iter()
                .find(|n| !stem.is_empty() && n.split('.').next() == Some(stem));
            let close = suggest(&name, names.iter().map(String::as_str));
            if let Some(s) = close.or(same_stem.map(String::as_str)) {
                return match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => {
                        format!("did you mean '{}'?", p.join(s).display())
                    }
                    _ => format!("did you mean '{s}'?"),
                };
            }
        }
        Err(_) => {
            return format!(
                "directory '{}' does not exist or cannot be read",
                parent.display()
            )
        }
    }
    match base {
        Some(b) => format!(
            "check the path (relative paths are taken from '{base_kw}' {})",
            b.display()
        ),
        None => format!(
            "check the path (relative paths are taken from the working directory; set '{base_kw}' in global to change that)"
        ),
    }
}

fn refuse_system_ca(p: &str) -> Result<(), Fail> {
    if p.starts_with('@') {
        return Err((
            format!("'{p}' is not supported yet"),
            "give the CA bundle's path, e.g. /etc/ssl/certs/ca-certificates.crt".into(),
        ));
    }
    Ok(())
}

/// A file that must exist (`ca-file`, a server's `crt`), resolved against `base`.
pub(crate) fn file_path(
    what: &str,
    p: &str,
    base_kw: &str,
    base: Option<&Path>,
) -> Result<PathBuf, Fail> {
    refuse_system_ca(p)?;
    let path = resolve(base, p);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err((
            format!("{what} '{}' is not a regular file", path.display()),
            "give the path of a PEM file".into(),
        )),
        Err(e) => Err((
            format!("cannot access {what} '{}': {e}", path.display()),
            missing_hint(&path, base_kw, base),
        )),
    }
}

/// `crt <file|dir>` on a bind line: the certificate files it names (a directory
/// gives its files in lexical order, without side files and dot-files).
pub(crate) fn cert_paths(p: &str, base: Option<&Path>) -> Result<Vec<PathBuf>, Fail> {
    let path = resolve(base, p);
    let meta = std::fs::metadata(&path).map_err(|e| {
        (
            format!("cannot access certificate '{}': {e}", path.display()),
            missing_hint(&path, "crt-base", base),
        )
    })?;
    if meta.is_file() {
        return Ok(vec![path]);
    }
    if !meta.is_dir() {
        return Err((
            format!(
                "certificate '{}' is not a file or a directory",
                path.display()
            ),
            "give a PEM file (certificate and key) or a directory of them".into(),
        ));
    }
    let rd = std::fs::read_dir(&path).map_err(|e| {
        (
            format!(
                "cannot read certificate directory '{}': {e}",
                path.display()
            ),
            "check the directory's permissions".into(),
        )
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            !n.starts_with('.')
                && !n
                    .rsplit_once('.')
                    .is_some_and(|(_, ext)| SIDE_FILE_EXTS.contains(&ext))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err((
            format!("certificate directory '{}' holds no certificate", path.display()),
            "put PEM files (certificate and key) in it; *.key, *.ocsp, *.issuer, *.sctl and *.dh files are side files, not certificates".into(),
        ));
    }
    Ok(files)
}

/// Parses the option words of `ssl-default-bind-options` (`bind`) or
/// `ssl-default-server-options` into the global defaults.
fn default_options(ctx: &mut Ctx<'_>, ln: &Ln<'_>, bind: bool) -> R {
    let kw = ln.w[0].as_str();
    if ln.w.len() < 2 {
        return Err(ln.err(
            kw,
            format!("'{kw}' expects at least one option"),
            format!("write e.g. '{kw} ssl-min-ver TLSv1.2 no-tls-tickets'"),
        ));
    }
    let g = &mut ctx.global;
    let (mut min, mut max) = if bind {
        (g.ssl_default_bind_min_ver, g.ssl_default_bind_max_ver)
    } else {
        (g.ssl_default_server_min_ver, g.ssl_default_server_max_ver)
    };
    let mut i = 1;
    while i < ln.w.len() {
        let o = ln.w[i].as_str();
        if let Some(r) = version_flag(o, &mut min, &mut max) {
            r.map_err(|f| ln.fail(kw, f))?;
            i += 1;
            continue;
        }
        match o {
            "ssl-min-ver" | "ssl-max-ver" => {
                let v = parse_version(o, ln.arg(i + 1)).map_err(|f| ln.fail(kw, f))?;
                if o == "ssl-min-ver" {
                    min = Some(v);
                } else {
                    max = Some(v);
                }
                i += 2;
                continue;
            }
            "no-tls-tickets" => {
                if bind {
                    g.ssl_default_bind_no_tls_tickets = true;
                } else {
                    g.ssl_default_server_no_tls_tickets = true;
                }
            }
            "prefer-client-ciphers" if bind => g.ssl_default_bind_prefer_client_ciphers = true,
            "prefer-client-ciphers" => {
                return Err(ln.err(
                    kw,
                    "'prefer-client-ciphers' applies to bind lines only",
                    "move it to 'ssl-default-bind-options'",
                ))
            }
            "strict-sni" | "allow-0rtt" | "no-renegotiation" | "force-sslv3" | "no-ca-names" => {
                return Err(ln.err(
                    kw,
                    format!("option '{o}' is not supported in '{kw}'"),
                    "sluice accepts ssl-min-ver, ssl-max-ver, no-sslv3, no-tlsv10..13, force-tlsv12/13, no-tls-tickets and (for binds) prefer-client-ciphers here",
                ))
            }
            _ => {
                let mut known = vec![
                    "ssl-min-ver",
                    "ssl-max-ver",
                    "no-sslv3",
                    "no-tlsv10",
                    "no-tlsv11",
                    "no-tlsv12",
                    "no-tlsv13",
                    "force-tlsv12",
                    "force-tlsv13",
                    "no-tls-tickets",
                ];
                if bind {
                    known.push("prefer-client-ciphers");
                }
                return Err(ln.err(
                    kw,
                    format!("unknown or unsupported option '{o}' in '{kw}'"),
                    did_you_mean(o, known.iter().copied(), &format!("options: {}", known.join(" "))),
                ));
            }
        }
        i += 1;
    }
    check_versions(min, max).map_err(|f| ln.fail(kw, f))?;
    if bind {
        g.ssl_default_bind_min_ver = min;
        g.ssl_default_bind_max_ver = max;
    } else {
        g.ssl_default_server_min_ver = min;
        g.ssl_default_server_max_ver = max;
    }
    Ok(())
}

fn one<'a>(ln: &'a Ln<'_>, what: &str) -> R<&'a str> {
    let kw = &ln.w[0];
    if ln.w.len() != 2 || ln.w[1].is_empty() {
        return Err(ln.err(
            kw,
            format!("'{kw}' expects {what}"),
            format!("write '{kw} <{what}>'"),
        ));
    }
    Ok(&ln.w[1])
}

/// Handles a TLS keyword of the `global` section; `None` when `kw` is not one that
/// sluice parses here (the caller refuses or reports it).
pub(crate) fn global_tls_kw(ctx: &mut Ctx<'_>, ln: &Ln<'_>) -> Option<R> {
    let kw = ln.w[0].as_str();
    let is_tls = matches!(
        kw,
        "crt-base" | "ca-base" | "key-base" | "maxsslconn" | "maxsslrate"
    ) || kw.starts_with("ssl-")
        || kw.starts_with("tune.ssl.");
    is_tls.then(|| global_tls(ctx, ln, kw))
}

fn global_tls(ctx: &mut Ctx<'_>, ln: &Ln<'_>, kw: &str) -> R {
    {
        match kw {
            "crt-base" | "ca-base" => {
                let d = one(ln, "directory")?;
                match std::fs::metadata(d) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(ln.err(
                            kw,
                            format!("'{d}' is not a directory"),
                            format!("'{kw}' names the directory relative paths are taken from"),
                        ))
                    }
                    Err(e) => {
                        return Err(ln.err(
                            kw,
                            format!("cannot access directory '{d}': {e}"),
                            missing_hint(Path::new(d), kw, None),
                        ))
                    }
                }
                if kw == "crt-base" {
                    ctx.global.crt_base = Some(PathBuf::from(d));
                } else {
                    ctx.global.ca_base = Some(PathBuf::from(d));
                }
            }
            "ssl-default-bind-ciphers" => {
                ctx.global.ssl_default_bind_ciphers = Some(one(ln, "cipher list")?.to_string())
            }
            "ssl-default-bind-ciphersuites" => {
                ctx.global.ssl_default_bind_ciphersuites =
                    Some(one(ln, "ciphersuites")?.to_string())
            }
            "ssl-default-server-ciphers" => {
                ctx.global.ssl_default_server_ciphers = Some(one(ln, "cipher list")?.to_string())
            }
            "ssl-default-server-ciphersuites" => {
                ctx.global.ssl_default_server_ciphersuites =
                    Some(one(ln, "ciphersuites")?.to_string())
            }
            "ssl-default-bind-options" => default_options(ctx, ln, true)?,
            "ssl-default-server-options" => default_options(ctx, ln, false)?,
            "ssl-server-verify" => {
                ctx.global.ssl_server_verify =
                    match one(ln, "none|required")? {
                        "none" => Verify::None,
                        "required" => Verify::Required,
                        v => return Err(ln.err(
                            kw,
                            format!("unknown value '{v}' for 'ssl-server-verify'"),
                            did_you_mean(
                                v,
                                ["none", "required"],
                                "write 'ssl-server-verify none' or 'ssl-server-verify required'",
                            ),
                        )),
                    }
            }
            "tune.ssl.default-dh-param" => {
                let v = one(ln, "bits")?;
                if v.parse::<u32>().map_or(true, |n| n < 1024) {
                    return Err(ln.err(
                        kw,
                        format!("invalid DH parameter size '{v}'"),
                        "write a number of bits, at least 1024 (e.g. 2048)",
                    ));
                }
                ctx.warn(
                    Some(&ln.loc),
                    format!("'{kw}' has no effect: rustls does not use DH parameters (its key exchanges are ECDHE)"),
                );
            }
            "ssl-dh-param-file" => {
                one(ln, "file")?;
                ctx.warn(
                    Some(&ln.loc),
                    format!("'{kw}' has no effect: rustls does not use DH parameters (its key exchanges are ECDHE)"),
                );
            }
            "ssl-engine" => {
                return Err(ln.err(
                    kw,
                    "'ssl-engine' is not supported by sluice",
                    "sluice's TLS library (rustls) has no OpenSSL engines; remove the line",
                ))
            }
            "ssl-mode-async" => {
                return Err(ln.err(
                    kw,
                    "'ssl-mode-async' is not supported by sluice",
                    "asynchronous OpenSSL engines do not exist in rustls; remove the line",
                ))
            }
            _ if kw.starts_with("ssl-")
                || kw.starts_with("tune.ssl.")
                || matches!(kw, "key-base" | "maxsslconn" | "maxsslrate") =>
            {
                let hint = match kw {
                    "key-base" => "put the key in the certificate's PEM, or next to it as '<certificate>.key'",
                    "ssl-load-extra-files" => "sluice loads the key from the PEM or '<certificate>.key'; OCSP, issuer and SCTL files are not used",
                    _ => "sluice supports crt-base, ca-base, ssl-default-bind-*/ssl-default-server-* (ciphers, ciphersuites, options) and ssl-server-verify",
                };
                return Err(ln.err(kw, format!("'{kw}' is not supported yet"), hint));
            }
            _ => return Err(ln.err(kw, format!("'{kw}' is not supported yet"), "remove it")),
        }
        Ok(())
    }
}
