//! Loading HAProxy-style PEM files: a certificate chain and its private key in one
//! file (or the key beside it in `<file>.key`), CA bundles, and the start-up checks
//! HAProxy users expect (missing file, no key, key not matching the certificate,
//! certificate outside its validity period).
//!
//! Owns: [`LoadedCert`] and the loaders. Invariant: every error message names the
//! file it is about, in HAProxy's words where HAProxy has some; the caller prefixes
//! the `[file:line] : 'keyword' :` of the configuration line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// A certificate chain with its signing key, checked, and the names it serves.
#[derive(Clone, Debug)]
pub struct LoadedCert {
    pub path: PathBuf,
    pub key: Arc<CertifiedKey>,
    /// DNS names it serves: subject CN and DNS SANs, lower-case (`*.x.y` kept as is).
    pub names: Vec<String>,
}

/// What `crt` points at: a file, or a directory whose files are all loaded (in name
/// order, skipping HAProxy's sidecar files `.key`, `.ocsp`, `.issuer`, `.sctl`).
pub fn expand_crt_path(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{}' : {}.",
            path.display(),
            io_reason(&e)
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| {
            format!(
                "unable to read SSL certificate directory '{}' : {}.",
                path.display(),
                io_reason(&e)
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("key" | "ocsp" | "issuer" | "sctl")
            )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no SSL certificate found in directory '{}'.",
            path.display()
        ));
    }
    Ok(files)
}

/// The OS error text without Rust's " (os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{}' : {}.",
            path.display(),
            io_reason(&e)
        )
    })
}

/// The certificates of a PEM file, in order.
pub fn certs_of(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| {
        format!(
            "unable to load SSL certificate from PEM file '{}': {e}.",
            path.display()
        )
    })?;
    if certs.is_empty() {
        return Err(format!(
            "unable to load SSL certificate from PEM file '{}': no certificate found.",
            path.display()
        ));
    }
    Ok(certs)
}

/// Load a certificate chain and its key from `path` (key in the same file, or in
/// `<path>.key`), and check it: the key matches the leaf certificate, and the leaf is
/// within its validity period at `now`.
pub fn load_cert(
    path: &Path,
    provider: &CryptoProvider,
    now: UnixTime,
) -> Result<LoadedCert, String> {
    let pem = read_file(path)?;
    let chain = certs_of(path, &pem)?;
    let key = match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(k) => k,
        Err(_) => {
            let side = PathBuf::from(format!("{}.key", path.display()));
            match std::fs::read(&side)
                .ok()
                .and_then(|b| PrivateKeyDer::from_pem_slice(&b).ok())
            {
                Some(k) => k,
                None => {
                    return Err(format!(
                        "No Private Key found in '{}' nor in '{}'.",
                        path.display(),
                        side.display()
                    ))
                }
            }
        }
    };
    let signing = provider.key_provider.load_private_key(key).map_err(|e| {
        format!(
            "unable to load the private key in '{}': {e}.",
            path.display()
        )
    })?;
    let ck = CertifiedKey::new(chain, signing);
    if ck.keys_match().is_err() {
        return Err(format!(
            "inconsistencies between private key and certificate loaded '{}'.",
            path.display()
        ));
    }
    let leaf = ck
        .end_entity_cert()
        .map_err(|e| format!("no end-entity certificate in '{}': {e}.", path.display()))?;
    let (names, validity) = super::names::names_and_validity(leaf.as_ref()).map_err(|e| {
        format!(
            "unable to parse the certificate in '{}': {e}.",
            path.display()
        )
    })?;
    check_validity(path, validity, now)?;
    Ok(LoadedCert {
        path: path.to_path_buf(),
        key: Arc::new(ck),
        names,
    })
}

/// The leaf certificate's `notBefore`/`notAfter` (Unix seconds).
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

fn check_validity(path: &Path, v: Validity, now: UnixTime) -> Result<(), String> {
    let now = now.as_secs() as i64;
    if now > v.not_after {
        return Err(format!(
            "certificate in '{}' expired on {} (notAfter); renew it.",
            path.display(),
            super::names::asn1_date(v.not_after)
        ));
    }
    if now < v.not_before {
        return Err(format!(
            "certificate in '{}' is not valid before {} (notBefore).",
            path.display(),
            super::names::asn1_date(v.not_before)
        ));
    }
    Ok(())
}

/// Load every certificate of a CA bundle (`ca-file`) into a root store.
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "unable to load CA file '{}' : {}.",
            path.display(),
            io_reason(&e)
        )
    })?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = certs.map_err(|e| format!("unable to load CA file '{}': {e}.", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "unable to load CA file '{}': no usable CA certificate in it.",
            path.display()
        ));
    }
    Ok(roots)
}

/// Load a client certificate (`server ... crt`): chain and key, checked like a
/// bind's certificate.
pub fn load_client_cert(
    path: &Path,
    provider: &CryptoProvider,
    now: UnixTime,
) -> Result<Arc<CertifiedKey>, String> {
    load_cert(path, provider, now).map(|c| c.key)
}
