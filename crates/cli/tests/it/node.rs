//! `gsomia init`, `person`, `identity export`, `partner add` on real directories.

use crate::common::{gsomia, json, s, tmp};

#[test]
fn init_creates_a_node_directory_with_owner_only_secrets_and_refuses_to_overwrite() {
    let root = tmp("node-init");
    let jpn = root.join("jpn");
    let (code, d) = json(&["init", "--party", "JPN", "--dir", s(&jpn)]);
    assert_eq!(code, 0, "{d}");
    for f in [
        "node.toml",
        "node.db",
        "keys/identity.toml",
        "tls/ca.pem",
        "tls/node.pem",
    ] {
        assert!(jpn.join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "keys/signing.key",
            "keys/recipient.key",
            "tls/node.key",
            "tls/ca.key",
        ] {
            let mode = std::fs::metadata(jpn.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{f} is owner-only");
        }
    }
    let again = gsomia(&["init", "--party", "JPN", "--dir", s(&jpn)]);
    assert_eq!(again.status.code(), Some(2));
    let bad = gsomia(&["init", "--party", "XXX", "--dir", s(&root.join("x"))]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown party `XXX`"));
}

#[test]
fn people_get_a_token_once_and_the_register_never_shows_it() {
    let root = tmp("node-person");
    let jpn = root.join("jpn");
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&jpn)]).0, 0);
    let (code, d) = json(&[
        "person",
        "add",
        "--dir",
        s(&jpn),
        "--name",
        "Sato",
        "--clearance",
        "極秘",
        "--until",
        "2027-03-31",
        "--need-to-know",
        "dprk.missile",
        "--role",
        "officer",
    ]);
    assert_eq!(code, 0, "{d}");
    let token = d["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gsomia_") && token.len() > 40);
    assert_eq!(
        d["clearance_until"], "2027-04-01T00:00:00+09:00",
        "valid through the last day in Tokyo"
    );
    let (code, l) = json(&["person", "list", "--dir", s(&jpn)]);
    assert_eq!(code, 0);
    assert_eq!(l["people"].as_array().unwrap().len(), 1);
    assert!(
        !l.to_string().contains(&token),
        "the register never shows tokens"
    );
    let db = std::fs::read(jpn.join("node.db")).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "only the hash is stored"
    );
    for bad in [
        vec!["--clearance", "SECRET"],
        vec!["--clearance", "極秘", "--need-to-know", "mars"],
    ] {
        let mut args = vec![
            "person",
            "add",
            "--dir",
            s(&jpn),
            "--name",
            "X",
            "--until",
            "2027-01-01",
            "--role",
            "officer",
        ];
        args.extend(bad.iter().copied());
        if !args.contains(&"--clearance") {
            args.extend(["--clearance", "極秘"]);
        }
        let out = gsomia(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(
        json(&["person", "list", "--dir", s(&jpn)]).1["people"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn partners_exchange_bundles_and_certificates_are_pinned() {
    let root = tmp("node-partner");
    let (jpn, kor) = (root.join("jpn"), root.join("kor"));
    assert_eq!(json(&["init", "--party", "JPN", "--dir", s(&jpn)]).0, 0);
    assert_eq!(json(&["init", "--party", "KOR", "--dir", s(&kor)]).0, 0);
    let bundle = gsomia(&["identity", "export", "--dir", s(&kor)]);
    assert_eq!(bundle.status.code(), Some(0));
    let file = root.join("kor.bundle");
    std::fs::write(&file, &bundle.stdout).unwrap();
    let (code, d) = json(&[
        "partner",
        "add",
        "--dir",
        s(&jpn),
        s(&file),
        "--endpoint",
        "https://127.0.0.1:9443",
    ]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(d["party"], "KOR");
    let pinned = std::fs::read_to_string(jpn.join("partners/KOR.toml")).unwrap();
    let cert = std::fs::read_to_string(kor.join("tls/node.pem")).unwrap();
    assert!(
        pinned.contains(cert.trim()),
        "the partner's certificate is pinned"
    );
    // Its own bundle, a plain-http endpoint, a tampered key: refused, nothing written.
    let own = root.join("jpn.bundle");
    std::fs::write(
        &own,
        gsomia(&["identity", "export", "--dir", s(&jpn)]).stdout,
    )
    .unwrap();
    assert_eq!(
        gsomia(&[
            "partner",
            "add",
            "--dir",
            s(&kor),
            s(&file),
            "--endpoint",
            "https://x"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        gsomia(&[
            "partner",
            "add",
            "--dir",
            s(&jpn),
            s(&file),
            "--endpoint",
            "http://127.0.0.1:1"
        ])
        .status
        .code(),
        Some(2)
    );
    let bad = root.join("bad.bundle");
    let text = String::from_utf8(bundle.stdout.clone()).unwrap();
    let start = text.find("signing_key = \"").unwrap() + 15;
    std::fs::write(&bad, format!("{}!!{}", &text[..start], &text[start + 2..])).unwrap();
    assert_eq!(
        gsomia(&[
            "partner",
            "add",
            "--dir",
            s(&jpn),
            s(&bad),
            "--endpoint",
            "https://127.0.0.1:1"
        ])
        .status
        .code(),
        Some(2)
    );
}
