//! The README never shows a configuration sluice rejects: every ```haproxy block is
//! checked with `sluice -c -f`. The TLS examples name certificates under
//! `${CERT_DIR}`: the test generates them there (`-c` loads and checks them).

mod common;

use common::proxy::{run, TempDir};
use common::skip_unless_sluice;
use std::time::Duration;

/// The ```haproxy fenced blocks of a Markdown text, with the line each starts on.
fn haproxy_blocks(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        let t = line.trim();
        match &mut cur {
            None if t.starts_with("```") && t[3..].trim() == "haproxy" => {
                cur = Some((i + 1, String::new()));
            }
            Some(_) if t == "```" => out.push(cur.take().unwrap()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    assert!(cur.is_none(), "unterminated ```haproxy block");
    out
}

#[test]
fn every_haproxy_block_of_the_readme_passes_the_check() {
    if skip_unless_sluice("the README documents sluice") {
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let md = std::fs::read_to_string(path).expect("read README.md");
    let blocks = haproxy_blocks(&md);
    assert!(!blocks.is_empty(), "README.md has no ```haproxy block");
    let dir = TempDir::new("readme");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let pki = common::tls::Pki::new(&certs, "README CA");
    pki.leaf("www.pem", &["www.example.com"], false);
    pki.leaf("api.pem", &["api.example.com"], false);
    pki.leaf("client.pem", &["sluice"], true);
    pki.ca_file("clients-ca.pem");
    pki.ca_file("internal-ca.pem");
    let cert_dir = certs.display().to_string();
    let mut failures = Vec::new();
    for (n, (line, body)) in blocks.iter().enumerate() {
        let cfg = dir.write(&format!("readme-{n}.cfg"), body);
        let cfg = cfg.display().to_string();
        let out = run(
            &["-c", "-f", &cfg],
            &[("CERT_DIR", &cert_dir)],
            Duration::from_secs(10),
        );
        if !out.status.success() {
            failures.push(format!(
                "README.md:{line}: block rejected ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn block_extraction_finds_only_haproxy_fences() {
    let md = "text\n```sh\nnot this\n```\n```haproxy\nglobal\n    maxconn 1\n```\n";
    let b = haproxy_blocks(md);
    assert_eq!(b, vec![(5, "global\n    maxconn 1\n".to_string())]);
}
