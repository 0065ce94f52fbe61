//! Map converters, ACL `-f` files and the map/ACL actions: loading, sharing of one
//! reference per file name, and errors naming the pattern file's line.

use super::{expect_err, load, tmpdir, DEFAULTS};
use crate::model::pattern::MapOutput;
use crate::model::rules::{BackendRef, HttpAction};
use crate::model::sample::{Converter, MatchMethod};

#[test]
fn map_files_are_shared_references() {
    let d = tmpdir("maps");
    let hosts = d.join("hosts.map");
    std::fs::write(
        &hosts,
        "# comment\nexample.com be_a\n\n  www.example.com   be_b  \nbare\n",
    )
    .unwrap();
    let acl = d.join("admins.lst");
    std::fs::write(&acl, "10.0.0.0/8\n192.168.1.1\n").unwrap();
    let h = hosts.display();
    let a = acl.display();
    let l = load(&format!(
        "{DEFAULTS}frontend f\n  bind :80\n  acl admin src -f {a}\n  http-request set-map({h}) %[req.hdr(x-k)] %[req.hdr(x-v)] if admin\n  http-request add-acl({a}) %[req.hdr(x-ip)]\n  use_backend %[req.hdr(host),lower,map({h},b)]\n  use_backend %[path,map_beg({h})] if {{ path_beg /x }}\n  default_backend b\nbackend b\n  server s 127.0.0.1:1\n"
    ));
    let c = &l.config;
    assert_eq!(c.pattern_files.len(), 2, "{:?}", c.pattern_files);
    let acl_f = &c.pattern_files[0];
    assert!(acl_f.is_acl && !acl_f.is_map);
    assert_eq!(acl_f.first_use.line, 8);
    let map_f = &c.pattern_files[1];
    assert!(map_f.is_map);
    let kv: Vec<(&str, &str, u32)> = map_f
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
        .collect();
    assert_eq!(
        kv,
        [
            ("example.com", "be_a", 2),
            ("www.example.com", "be_b", 4),
            ("bare", "", 5)
        ]
    );
    assert_eq!(map_f.uses.len(), 2, "map (str) and map_beg: two indexes");
    let f = &c.frontends[0];
    match &f.http_request[0].action {
        HttpAction::SetMap { file, .. } => assert_eq!(*file, 1),
        a => panic!("{a:?}"),
    }
    match &f.http_request[1].action {
        HttpAction::AddAcl { file, .. } => assert_eq!(*file, 0),
        a => panic!("{a:?}"),
    }
    assert!(matches!(&f.use_backends[0].backend, BackendRef::Dynamic(_)));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn converter_forms() {
    let d = tmpdir("mapconv");
    let m = d.join("m.map");
    std::fs::write(&m, "10.0.0.0/8 7\n::1 8\n").unwrap();
    let mp = m.display();
    crate::parse::pattern::reset();
    let e = crate::parse::sample::parse_sample(&format!("src,map_ip_int({mp},0)")).unwrap();
    match &e.converters[0] {
        Converter::Map {
            pat,
            output,
            default,
        } => {
            assert_eq!(*output, MapOutput::Int);
            assert_eq!(default.as_deref(), Some("0"));
            let files = crate::parse::pattern::take();
            assert_eq!(files[pat.file].uses[pat.use_idx].method, MatchMethod::Ip);
        }
        c => panic!("{c:?}"),
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_lines_name_the_pattern_file_line() {
    let d = tmpdir("mapbad");
    let m = d.join("nets.map");
    std::fs::write(&m, "10.0.0.0/8 a\n10.0.0.300 b\n").unwrap();
    let e = expect_err(
        &format!(
            "frontend f\n  http-request set-var(txn.x) src,map_ip({})\n",
            m.display()
        ),
        2,
        "http-request set-var",
        "nets.map:2",
    );
    assert!(e.contains("10.0.0.300"), "{e}");
    let i = d.join("ints.map");
    std::fs::write(&i, "a 1\nb x\n").unwrap();
    expect_err(
        &format!(
            "frontend f\n  http-request set-var(txn.x) path,map_str_int({})\n",
            i.display()
        ),
        2,
        "http-request set-var",
        "ints.map:2",
    );
    expect_err(
        "frontend f\n  http-request set-map(/nonexistent/x.map) a b\n",
        2,
        "http-request set-map",
        "failed to open pattern file",
    );
    expect_err(
        "frontend f\n  http-request del-acl a\n",
        2,
        "http-request del-acl",
        "needs a file name in parentheses",
    );
    let a = d.join("a.lst");
    std::fs::write(&a, "x\n").unwrap();
    expect_err(
        &format!(
            "frontend f\n  http-request set-map({}) onlykey\n",
            a.display()
        ),
        2,
        "http-request set-map",
        "expected syntax",
    );
    std::fs::remove_dir_all(&d).ok();
}
