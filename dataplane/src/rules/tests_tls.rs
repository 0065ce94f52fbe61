//! Tests of the TLS fetches (`ssl_fc*`, `ssl_c_*`) over a transaction whose
//! [`TxnView::tls`] returns a session, and over a clear one.

use super::tests::{acl_on, fe, req, T};
use super::*;

fn cert() -> ClientCert {
    let e = |k: &str, v: &str| (k.to_string(), v.to_string());
    ClientCert {
        subject: vec![
            e("C", "FR"),
            e("O", "Example, Inc"),
            e("OU", "a"),
            e("OU", "b"),
            e("CN", "client1"),
        ],
        issuer: vec![e("C", "FR"), e("O", "Example"), e("CN", "Example CA")],
        verify: 0,
    }
}

fn tls(client_cert: Option<ClientCert>) -> T {
    T {
        tls: Some(TlsInfo {
            sni: Some("www.example.com".into()),
            alpn: Some(b"h2".to_vec()),
            protocol: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            client_cert,
        }),
        ..req()
    }
}

/// Every ACL line in `acls` (one per line, named a0, a1, …) and whether it matches
/// on `t`.
fn check(t: &T, cases: &[(&str, bool)]) {
    let body: String = cases
        .iter()
        .enumerate()
        .map(|(i, (a, _))| format!(" acl a{i} {a}\n"))
        .collect();
    let f = fe(&body);
    let vars = Vars::new();
    for (i, (a, want)) in cases.iter().enumerate() {
        assert_eq!(acl_on(&f, &format!("a{i}"), t, &vars), *want, "{a}");
    }
}

/// The value of the sample expression `expr` in a sample context (as text).
fn value(t: &T, expr: &str) -> Option<String> {
    let f = fe(&format!(" acl x {expr} -m found\n"));
    let e = &f.acls.iter().find(|a| a.name == "x").unwrap().terms[0].expr;
    let vars = Vars::new();
    fetch_last(e, t, &vars, &mut Scratch::new(), |s| {
        s.map(|s| {
            let mut out = vec![];
            s.write_text(&mut out);
            String::from_utf8(out).unwrap()
        })
    })
}

#[test]
fn clear_connection_has_no_tls_samples() {
    let t = req();
    assert!(!t.is_tls());
    check(
        &t,
        &[
            ("ssl_fc", false),
            ("ssl_fc -m found", true),
            ("ssl_fc_sni -m found", false),
            ("ssl_fc_alpn -m found", false),
            ("ssl_fc_protocol -m found", false),
            ("ssl_fc_cipher -m found", false),
            ("ssl_c_used -m found", false),
            ("ssl_fc_has_crt -m found", false),
            ("ssl_c_verify -m found", false),
            ("ssl_c_s_dn -m found", false),
            ("ssl_c_i_dn(CN) -m found", false),
        ],
    );
    assert_eq!(value(&t, "ssl_fc"), Some("0".into()));
    assert_eq!(value(&t, "ssl_fc_sni"), None);
}

#[test]
fn tls_session_without_client_certificate() {
    let t = tls(None);
    assert!(t.is_tls());
    check(
        &t,
        &[
            ("ssl_fc", true),
            ("ssl_fc_sni -i WWW.example.com", true),
            ("ssl_fc_sni other.example.com", false),
            ("ssl_fc_sni_end .example.com", true),
            ("ssl_fc_sni_reg ^www\\.", true),
            ("ssl_fc_alpn h2", true),
            ("ssl_fc_alpn http/1.1", false),
            ("ssl_fc_protocol TLSv1.3", true),
            ("ssl_fc_cipher -m beg TLS_AES_128", true),
            ("ssl_c_used", false),
            ("ssl_c_used -m found", true),
            ("ssl_fc_has_crt", false),
            ("ssl_c_verify 0", true),
            ("ssl_c_s_dn -m found", false),
            ("ssl_c_i_dn -m found", false),
        ],
    );
    assert_eq!(value(&t, "ssl_fc_sni"), Some("www.example.com".into()));
    assert_eq!(value(&t, "ssl_fc_alpn"), Some("h2".into()));
    assert_eq!(value(&t, "ssl_fc_protocol,lower"), Some("tlsv1.3".into()));
    assert_eq!(
        value(&t, "ssl_fc_cipher"),
        Some("TLS_AES_128_GCM_SHA256".into())
    );
    assert_eq!(value(&t, "ssl_c_verify"), Some("0".into()));
    // No SNI and no ALPN: those samples are missing, the rest is there.
    let mut t = tls(None);
    if let Some(i) = t.tls.as_mut() {
        i.sni = None;
        i.alpn = None;
        i.protocol = "TLSv1.2";
        i.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
    }
    check(
        &t,
        &[
            ("ssl_fc", true),
            ("ssl_fc_sni -m found", false),
            ("ssl_fc_alpn -m found", false),
            ("ssl_fc_protocol TLSv1.2", true),
            ("ssl_fc_cipher ECDHE-RSA-AES128-GCM-SHA256", true),
        ],
    );
}

#[test]
fn client_certificate_fetches() {
    let t = tls(Some(cert()));
    check(
        &t,
        &[
            ("ssl_c_used", true),
            ("ssl_fc_has_crt", true),
            ("ssl_c_verify 0", true),
            ("ssl_c_s_dn(CN) client1", true),
            ("ssl_c_s_dn(CN) -i CLIENT1", true),
            ("ssl_c_s_dn(CN) client2", false),
            ("ssl_c_s_dn(OU) a", true),
            ("ssl_c_s_dn(OU,1) a", true),
            ("ssl_c_s_dn(OU,2) b", true),
            ("ssl_c_s_dn(OU,-1) b", true),
            ("ssl_c_s_dn(OU,-2) a", true),
            ("ssl_c_s_dn(OU,3) -m found", false),
            ("ssl_c_s_dn(OU,-3) -m found", false),
            ("ssl_c_s_dn(L) -m found", false),
            ("ssl_c_s_dn_beg(CN) client", true),
            ("ssl_c_s_dn -m sub /CN=client1", true),
            ("ssl_c_i_dn(CN) -m beg Example", true),
            ("ssl_c_i_dn(CN) client1", false),
        ],
    );
    assert_eq!(
        value(&t, "ssl_c_s_dn"),
        Some("/C=FR/O=Example, Inc/OU=a/OU=b/CN=client1".into())
    );
    assert_eq!(
        value(&t, "ssl_c_i_dn"),
        Some("/C=FR/O=Example/CN=Example CA".into())
    );
    assert_eq!(
        value(&t, "ssl_c_s_dn(,0,rfc2253)"),
        Some("CN=client1,OU=b,OU=a,O=Example\\, Inc,C=FR".into())
    );
    assert_eq!(
        value(&t, "ssl_c_i_dn(,0,rfc2253)"),
        Some("CN=Example CA,O=Example,C=FR".into())
    );
    assert_eq!(value(&t, "ssl_c_i_dn(CN),lower"), Some("example ca".into()));
    // A certificate that failed verification (`verify optional`): the error code.
    let mut c = cert();
    c.verify = 10; // X509_V_ERR_CERT_HAS_EXPIRED
    let t = tls(Some(c));
    check(
        &t,
        &[
            ("ssl_c_used", true),
            ("ssl_c_verify 0", false),
            ("ssl_c_verify 10", true),
            ("ssl_c_verify gt 0", true),
        ],
    );
    assert_eq!(value(&t, "ssl_c_verify"), Some("10".into()));
    // An empty DN gives no whole-DN sample.
    let mut c = cert();
    c.issuer.clear();
    let t = tls(Some(c));
    assert_eq!(value(&t, "ssl_c_i_dn"), None);
}
