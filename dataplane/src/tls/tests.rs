//! Unit tests of the TLS module with certificates generated at run time (rcgen) in
//! temporary directories, and handshakes driven in memory between rustls peers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::{ClientConfig, ClientConnection, ServerConnection};
use rustls_pki_types::{ServerName, UnixTime};

use super::contract::{BindTls, Location, ServerTls, TlsVersion, Verify};
use super::*;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "sluice-tls-unit-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(cn: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` (first is the CN), chain + key PEM.
    fn leaf(&self, names: &[&str], client: bool) -> String {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.distinguished_name
            .push(DnType::OrganizationName, "Sluice Test");
        if client {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }
}

fn self_signed(names: &[&str], not_after_year: Option<i32>) -> String {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    if let Some(y) = not_after_year {
        p.not_before = rcgen::date_time_ymd(y - 1, 1, 1);
        p.not_after = rcgen::date_time_ymd(y, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

fn bind(certs: Vec<PathBuf>) -> BindTls {
    BindTls {
        certs,
        location: Location::new("t.cfg", 7),
        ..BindTls::default()
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Drive a handshake in memory; returns both ends or the first error.
fn handshake(
    server: &BindTlsCtx,
    client: Arc<ClientConfig>,
    sni: &str,
) -> Result<(ServerConnection, ClientConnection), rustls::Error> {
    let mut s = ServerConnection::new(server.acceptor.config().clone())?;
    let mut c = ClientConnection::new(client, ServerName::try_from(sni.to_string()).unwrap())?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets()?;
        }
        if !s.is_handshaking() && !c.is_handshaking() {
            // Let the server see the client's last flight (client certificate checks).
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                s.read_tls(&mut &buf[..]).unwrap();
                s.process_new_packets()?;
            }
            return Ok((s, c));
        }
    }
    panic!("handshake did not finish");
}

fn client_trusting(ca_pems: &[&str], alpn: &[&str]) -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        use rustls_pki_types::pem::PemObject;
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let mut cc = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cc.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    cc
}

fn leaf_cn(s: &ServerConnection, c: &ClientConnection) -> String {
    let _ = s;
    let der = &c.peer_certificates().unwrap()[0];
    let (subject, _) = subject_issuer(der.as_ref()).unwrap();
    subject
        .iter()
        .find(|(k, _)| k == "CN")
        .map(|(_, v)| v.clone())
        .unwrap()
}

#[test]
fn sni_selects_among_three_certificates_with_default() {
    let d = Dir::new("sni");
    let ca = Ca::new("Test CA");
    let a = d.write("a.pem", &ca.leaf(&["a.example.com"], false));
    let b = d.write(
        "b.pem",
        &ca.leaf(&["b.example.com", "bb.example.com"], false),
    );
    let w = d.write("w.pem", &ca.leaf(&["*.wild.example.com"], false));
    let (ctx, warnings) = build_bind(&bind(vec![a, b, w]), UnixTime::now()).unwrap();
    assert!(warnings.is_empty());
    let cc = Arc::new(client_trusting(&[&ca.pem()], &[]));
    for (sni, want) in [
        ("a.example.com", "a.example.com"),
        ("B.Example.com", "b.example.com"),
        ("bb.example.com", "b.example.com"),
        ("x.wild.example.com", "*.wild.example.com"),
    ] {
        let (s, c) = handshake(&ctx, cc.clone(), sni).unwrap();
        assert_eq!(leaf_cn(&s, &c), want, "sni {sni}");
        assert_eq!(s.server_name(), Some(sni.to_ascii_lowercase().as_str()));
    }
    // Unknown names (and a wildcard only covers one label) get the default, which
    // the client then refuses for its name.
    let idx = ctx.store.current();
    assert_eq!(
        idx.select(Some("nope.example.com")).unwrap().names[0],
        "a.example.com"
    );
    assert_eq!(
        idx.select(Some("a.b.wild.example.com")).unwrap().names[0],
        "a.example.com"
    );
    assert_eq!(idx.select(None).unwrap().names[0], "a.example.com");
    assert!(handshake(&ctx, cc, "nope.example.com").is_err());
}

#[test]
fn certificates_can_be_replaced_at_run_time() {
    let d = Dir::new("swap");
    let ca = Ca::new("Test CA");
    let a = d.write("a.pem", &ca.leaf(&["a.example.com"], false));
    let b = d.write("b.pem", &ca.leaf(&["b.example.com"], false));
    let (ctx, _) = build_bind(&bind(vec![a]), UnixTime::now()).unwrap();
    let cc = Arc::new(client_trusting(&[&ca.pem()], &[]));
    assert!(handshake(&ctx, cc.clone(), "b.example.com").is_err());
    let nb = load_cert(&b, &provider(), UnixTime::now()).unwrap();
    ctx.store.replace(vec![nb]);
    let (s, c) = handshake(&ctx, cc, "b.example.com").unwrap();
    assert_eq!(leaf_cn(&s, &c), "b.example.com");
}

#[test]
fn alpn_and_info() {
    let d = Dir::new("alpn");
    let ca = Ca::new("Test CA");
    let a = d.write("a.pem", &ca.leaf(&["a.example.com"], false));
    let mut t = bind(vec![a]);
    t.alpn = vec!["http/1.1".into()];
    let (ctx, _) = build_bind(&t, UnixTime::now()).unwrap();
    let cc = Arc::new(client_trusting(&[&ca.pem()], &["h2", "http/1.1"]));
    let (s, _) = handshake(&ctx, cc, "a.example.com").unwrap();
    let info = info::server_side(&s);
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(info.sni.as_deref(), Some("a.example.com"));
    assert_eq!(info.protocol, "TLSv1.3");
    assert!(info.cipher.starts_with("TLS_"), "{}", info.cipher);
    assert!(info.client_cert.is_none());
}

#[test]
fn alpn_h2_is_offered_in_the_configured_order() {
    let d = Dir::new("h2");
    let a = d.write("a.pem", &self_signed(&["a.example.com"], None));
    let mut t = bind(vec![a]);
    t.alpn = vec!["h2".into(), "http/1.1".into()];
    let (ctx, _) = build_bind(&t, UnixTime::now()).unwrap();
    assert_eq!(
        ctx.acceptor.config().alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn start_up_errors_name_the_line_and_the_file() {
    let d = Dir::new("errs");
    let now = UnixTime::now();
    let missing = d.0.join("missing.pem");
    let e = build_bind(&bind(vec![missing.clone()]), now).unwrap_err();
    assert!(e.0.starts_with("parsing [t.cfg:7] : 'bind' : "), "{e}");
    assert!(e.0.contains(&*missing.to_string_lossy()), "{e}");
    assert!(e.0.contains("No such file or directory"), "{e}");

    // Key of another certificate.
    let one = self_signed(&["one.example.com"], None);
    let two = self_signed(&["two.example.com"], None);
    let cert_one = &one[..one.find("-----BEGIN PRIVATE KEY").unwrap()];
    let key_two = &two[two.find("-----BEGIN PRIVATE KEY").unwrap()..];
    let mism = d.write("mism.pem", &format!("{cert_one}{key_two}"));
    let e = build_bind(&bind(vec![mism]), now).unwrap_err();
    assert!(
        e.0.contains("inconsistencies between private key and certificate"),
        "{e}"
    );
    assert!(e.0.contains("mism.pem"), "{e}");

    // No key at all (nor in a .key file beside it).
    let nokey = d.write("nokey.pem", cert_one);
    let e = build_bind(&bind(vec![nokey.clone()]), now).unwrap_err();
    assert!(e.0.contains("No Private Key found"), "{e}");
    // ...but a key in `<file>.key` is found (HAProxy's extra files).
    d.write(
        "nokey.pem.key",
        &one[one.find("-----BEGIN PRIVATE KEY").unwrap()..],
    );
    build_bind(&bind(vec![nokey]), now).unwrap();

    // Expired.
    let old = d.write("old.pem", &self_signed(&["old.example.com"], Some(2020)));
    let e = build_bind(&bind(vec![old]), now).unwrap_err();
    assert!(e.0.contains("expired on 2020-01-01"), "{e}");
    assert!(e.0.contains("old.pem"), "{e}");

    // verify without a CA file; min above max.
    let ok = d.write("ok.pem", &one);
    let mut t = bind(vec![ok.clone()]);
    t.verify = Verify::Required;
    assert!(build_bind(&t, now).unwrap_err().0.contains("no CA file"));
    let mut t = bind(vec![ok]);
    t.min_ver = Some(TlsVersion::Tls13);
    t.max_ver = Some(TlsVersion::Tls12);
    assert!(build_bind(&t, now).unwrap_err().0.contains("ssl-min-ver"));
}

#[test]
fn cipher_lists_map_openssl_names() {
    let d = Dir::new("ciphers");
    let a = d.write("a.pem", &self_signed(&["a.example.com"], None));
    let mut t = bind(vec![a]);
    t.ciphers = Some("ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:RC4-MD5".into());
    t.ciphersuites = Some("TLS_AES_256_GCM_SHA384".into());
    let (ctx, w) = build_bind(&t, UnixTime::now()).unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("DHE-RSA-AES128-GCM-SHA256, RC4-MD5"), "{w:?}");
    let suites: Vec<_> = ctx
        .acceptor
        .config()
        .crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| openssl_name(s.suite()))
        .collect();
    assert_eq!(
        suites,
        vec!["TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"]
    );
    // Nothing usable left: an error.
    let mut t2 = t.clone();
    t2.ciphers = Some("RC4-MD5".into());
    t2.max_ver = Some(TlsVersion::Tls12);
    let e = build_bind(&t2, UnixTime::now()).unwrap_err();
    assert!(e.0.contains("no usable cipher"), "{e}");
}

#[test]
fn client_certificates_required_and_optional() {
    let d = Dir::new("mtls");
    let ca = Ca::new("Client CA");
    let other = Ca::new("Other CA");
    let site = d.write("site.pem", &self_signed(&["site.example.com"], None));
    let ca_file = d.write("ca.pem", &ca.pem());
    let site_pem = std::fs::read_to_string(&site).unwrap();
    let site_cert = &site_pem[..site_pem.find("-----BEGIN PRIVATE KEY").unwrap()];

    let client_with = |issuer: &Ca| {
        let pem = issuer.leaf(&["client1"], true);
        use rustls_pki_types::pem::PemObject;
        let chain: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls_pki_types::CertificateDer::from_pem_slice(site_cert.as_bytes()).unwrap())
            .unwrap();
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .unwrap(),
        )
    };
    let anonymous = {
        let mut roots = rustls::RootCertStore::empty();
        use rustls_pki_types::pem::PemObject;
        roots
            .add(rustls_pki_types::CertificateDer::from_pem_slice(site_cert.as_bytes()).unwrap())
            .unwrap();
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };

    let mut t = bind(vec![site.clone()]);
    t.verify = Verify::Required;
    t.ca_file = Some(ca_file.clone());
    let (req, _) = build_bind(&t, UnixTime::now()).unwrap();
    let (s, _) = handshake(&req, client_with(&ca), "site.example.com").unwrap();
    let info = info::server_side(&s);
    let cc = info.client_cert.expect("client cert");
    assert!(
        cc.subject.contains(&("CN".into(), "client1".into())),
        "{cc:?}"
    );
    assert!(
        cc.issuer.contains(&("CN".into(), "Client CA".into())),
        "{cc:?}"
    );
    assert_eq!(cc.verify, 0);
    assert!(handshake(&req, client_with(&other), "site.example.com").is_err());
    assert!(handshake(&req, anonymous.clone(), "site.example.com").is_err());

    t.verify = Verify::Optional;
    let (opt, _) = build_bind(&t, UnixTime::now()).unwrap();
    let (s, _) = handshake(&opt, anonymous, "site.example.com").unwrap();
    assert!(info::server_side(&s).client_cert.is_none());
    assert!(handshake(&opt, client_with(&other), "site.example.com").is_err());
}

fn server_tls(verify: Verify, ca: Option<PathBuf>) -> ServerTls {
    ServerTls {
        verify,
        ca_file: ca,
        location: Location::new("t.cfg", 12),
        ..ServerTls::default()
    }
}

#[test]
fn server_side_verification() {
    let d = Dir::new("srv");
    let ca = Ca::new("Origin CA");
    let wrong = Ca::new("Wrong CA");
    let origin = d.write("origin.pem", &ca.leaf(&["origin.test"], false));
    let ca_file = d.write("ca.pem", &ca.pem());
    let wrong_file = d.write("wrong.pem", &wrong.pem());
    let (origin_ctx, _) = build_bind(&bind(vec![origin]), UnixTime::now()).unwrap();

    let drive = |ctx: &ServerTlsCtx, name: &str| {
        handshake(&origin_ctx, ctx.connector.config().clone(), name).map(|_| ())
    };
    let (ok, _) = build_server(
        &server_tls(Verify::Required, Some(ca_file)),
        UnixTime::now(),
    )
    .unwrap();
    drive(&ok, "origin.test").unwrap();
    let e = drive(&ok, "other.test").unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    let (bad, _) = build_server(
        &server_tls(Verify::Required, Some(wrong_file)),
        UnixTime::now(),
    )
    .unwrap();
    let e = drive(&bad, "origin.test").unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    let (none, _) = build_server(&server_tls(Verify::None, None), UnixTime::now()).unwrap();
    drive(&none, "whatever.test").unwrap();
    let e = build_server(&server_tls(Verify::Required, None), UnixTime::now()).unwrap_err();
    assert!(e.0.starts_with("parsing [t.cfg:12] : 'server' : "), "{e}");
}

#[test]
fn names_and_hosts() {
    assert!(name_matches("*.example.com", "a.example.com"));
    assert!(!name_matches("*.example.com", "a.b.example.com"));
    assert!(!name_matches("*.example.com", "example.com"));
    assert!(name_matches("example.com", "example.com"));
    assert_eq!(host_without_port(b"example.com:8443"), b"example.com");
    assert_eq!(host_without_port(b"example.com"), b"example.com");
    assert_eq!(host_without_port(b"[::1]:80"), b"::1");
    assert_eq!(names::asn1_date(0), "1970-01-01 00:00:00 GMT");
    assert_eq!(names::asn1_date(1_577_836_800), "2020-01-01 00:00:00 GMT");
    let n = server_name(Some("example.com"), None);
    assert!(matches!(n, ServerName::DnsName(_)));
    let n = server_name(Some("bad name!"), Some("127.0.0.1:1".parse().unwrap()));
    assert!(matches!(n, ServerName::IpAddress(_)));
    let _ = Path::new("");
}
