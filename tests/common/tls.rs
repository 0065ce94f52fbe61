//! TLS pieces for end-to-end tests, all made at run time (no key is committed):
//! a test PKI (rcgen), a blocking rustls client, and a rustls HTTPS origin that
//! records the SNI of every connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate authority that writes PEM files into a directory.
pub struct Pki {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path, cn: &str) -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        Pki {
            issuer,
            dir: dir.to_path_buf(),
        }
    }

    /// Writes the CA certificate as `name` and returns its path.
    pub fn ca_file(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, self.issuer.pem()).unwrap();
        p
    }

    /// Writes a leaf (chain + key, HAProxy style) for `names` (the first is the CN)
    /// as `file` and returns its path.
    pub fn leaf(&self, file: &str, names: &[&str], client: bool) -> PathBuf {
        let p = self.dir.join(file);
        std::fs::write(&p, self.leaf_pem(names, client)).unwrap();
        p
    }

    pub fn leaf_pem(&self, names: &[&str], client: bool) -> String {
        let mut p = CertificateParams::new(
            names
                .iter()
                .filter(|n| !n.contains(' '))
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.distinguished_name
            .push(DnType::OrganizationName, "Sluice Tests");
        if client {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }
}

/// A self-signed certificate valid only in `year - 1` .. `year` (expired when in the
/// past), chain + key PEM.
pub fn self_signed_pem(name: &str, expired_in: Option<i32>) -> String {
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    if let Some(y) = expired_in {
        p.not_before = rcgen::date_time_ymd(y - 1, 1, 1);
        p.not_after = rcgen::date_time_ymd(y, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

/// Accepts any server certificate (tests that look at which one was sent).
#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Client settings: trust `ca` (`None`: accept anything), present `cert` (a
/// chain + key PEM), offer `alpn`.
pub fn client_config(ca: Option<&Path>, cert: Option<&Path>, alpn: &[&str]) -> Arc<ClientConfig> {
    let b = ClientConfig::builder();
    let b = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca) {
                roots.add(c).unwrap();
            }
            b.with_root_certificates(roots)
        }
        None => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert)),
    };
    let mut cc = match cert {
        Some(p) => b.with_client_auth_cert(certs(p), key(p)).unwrap(),
        None => b.with_no_client_auth(),
    };
    cc.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Arc::new(cc)
}

/// What a TLS request through the proxy gave.
#[derive(Debug)]
pub struct TlsReply {
    pub status: u16,
    pub head: String,
    pub body: String,
    pub alpn: Option<String>,
    pub protocol: String,
    /// CN of the certificate the server presented.
    pub peer_cn: String,
}

/// One `GET path` over TLS to 127.0.0.1:`port` presenting `sni`, `Connection:
/// close`, bounded by timeouts. `Err` carries the TLS or I/O error text.
pub fn tls_get(
    port: u16,
    sni: &str,
    cfg: Arc<ClientConfig>,
    path: &str,
) -> Result<TlsReply, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let req = format!("GET {path} HTTP/1.1\r\nhost: {sni}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer closing without close_notify after a complete response is fine here.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no response: {text:?}"))?;
    let c = &s.conn;
    let peer_cn = c
        .peer_certificates()
        .and_then(|v| v.first())
        .map(|d| cn_of(d.as_ref()))
        .unwrap_or_default();
    Ok(TlsReply {
        status,
        head: head.to_string(),
        body: body.to_string(),
        alpn: c
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
        protocol: format!("{:?}", c.protocol_version()),
        peer_cn,
    })
}

/// The subject CN of a DER certificate (a plain scan for the CN attribute).
pub fn cn_of(der: &[u8]) -> String {
    // OID 2.5.4.3 = 06 03 55 04 03, then a string type and a length byte. The
    // subject comes after the issuer: take the last occurrence.
    let pat = [0x06, 0x03, 0x55, 0x04, 0x03];
    let mut found = String::new();
    let mut i = 0;
    while i + pat.len() + 2 <= der.len() {
        if der[i..i + pat.len()] == pat {
            let len = der[i + pat.len() + 1] as usize;
            let start = i + pat.len() + 2;
            if start + len <= der.len() {
                found = String::from_utf8_lossy(&der[start..start + len]).into_owned();
            }
        }
        i += 1;
    }
    found
}

/// An HTTPS origin (rustls, one thread per connection) answering every request with
/// 200 and `origin=<name> sni=<sni>`, recording each connection's SNI.
pub struct TlsOrigin {
    pub port: u16,
    pub snis: Arc<Mutex<Vec<Option<String>>>>,
    stop: Arc<AtomicBool>,
}

impl TlsOrigin {
    /// `cert`: chain + key PEM; `client_ca`: require client certificates signed by it.
    pub fn start(name: &str, cert: &Path, client_ca: Option<&Path>) -> TlsOrigin {
        let b = ServerConfig::builder();
        let b = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs(ca) {
                    roots.add(c).unwrap();
                }
                b.with_client_cert_verifier(
                    rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                        .build()
                        .unwrap(),
                )
            }
            None => b.with_no_client_auth(),
        };
        let cfg = Arc::new(b.with_single_cert(certs(cert), key(cert)).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let snis = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2, name) = (snis.clone(), stop.clone(), name.to_string());
        thread::spawn(move || {
            while !st2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (cfg, snis, name) = (cfg.clone(), s2.clone(), name.clone());
                        thread::spawn(move || serve(tcp, cfg, snis, &name));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TlsOrigin { port, snis, stop }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn snis(&self) -> Vec<Option<String>> {
        self.snis.lock().unwrap().clone()
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    tcp: TcpStream,
    cfg: Arc<ServerConfig>,
    snis: Arc<Mutex<Vec<Option<String>>>>,
    name: &str,
) {
    let _ = tcp.set_nonblocking(false);
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // Complete the handshake before recording the SNI.
    while s.conn.is_handshaking() {
        if s.conn.complete_io(&mut s.sock).is_err() {
            return;
        }
    }
    let sni = s.conn.server_name().map(str::to_string);
    snis.lock().unwrap().push(sni.clone());
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        let mut close = false;
        let mut first = true;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && !first {
                break;
            }
            if line.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
            first = false;
        }
        let body = format!("origin={name} sni={}\n", sni.as_deref().unwrap_or("-"));
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        let s = r.get_mut();
        if s.write_all(resp.as_bytes()).is_err() || s.flush().is_err() {
            return;
        }
        if close {
            s.conn.send_close_notify();
            let _ = s.flush();
            return;
        }
    }
}
