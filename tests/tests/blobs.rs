//! Blobs: `sign-blob`, `verify-blob`, `attest-blob` and `verify-blob-attestation` against the real
//! cosign v2.6.5 and v3.1.3, both ways: with a key, a certificate and chain, an RFC 3161
//! timestamp (the local TSA of `scripts/tsa`), detached or in either bundle format. Each
//! verification case runs through ironsign and every cosign release that reads its format, and
//! all must agree, on acceptance and on refusal (tampered blob, another key, another root).
//! Negatives built as an attacker would follow.

use ironsign_e2e::*;
use std::path::Path;

const PASSWORD: &str = "blob-pw";
const EMAIL: &str = "signer@example.com";
/// sigstore-go (cosign v3's bundle verifier) matches the first SAN it reads, the URI.
const URI: &str = "https://ci.example.com/pipelines/signer";

fn cosign(version: Cosign, args: &[&str]) -> Run {
    run(&version.bin(), args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

/// A working directory with a blob, cosign's import of the test leaf key, and the trusted root
/// cosign v3 reads for bundles (the test CA chain and the ECDSA TSA chain).
struct Setup {
    dir: tempfile::TempDir,
    blob: String,
    cosign_key: String,
    /// A public key nobody signed with (the other test leaf's).
    other_public: String,
    trusted_root: String,
    tsa: Tsa,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("release.tar.gz");
        std::fs::write(&blob, b"release bytes\n").unwrap();
        let prefix = dir.path().join("imported");
        cosign(Cosign::V2, &["import-key-pair", "--key", &pki_file("leaf.key"), "--output-key-prefix", &s(&prefix)])
            .ok();
        let trusted_root = dir.path().join("trusted_root.json");
        cosign(
            Cosign::V3,
            &[
                "trusted-root",
                "create",
                &format!("--fulcio=url=https://ca.example,certificate-chain={}", pki_file("chain.pem")),
                &format!("--tsa=url=https://tsa.example,certificate-chain={}", pki_file("tsa-ecdsa-chain.pem")),
                "--out",
                &s(&trusted_root),
            ],
        )
        .ok();
        let other_public = dir.path().join("other.pub");
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-in", &pki_file("other-leaf.key"), "-pubout", "-out", &s(&other_public)])
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Setup {
            other_public: s(&other_public),
            blob: s(&blob),
            cosign_key: format!("{}.key", prefix.display()),
            trusted_root: s(&trusted_root),
            tsa: Tsa::start(),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        s(&self.dir.path().join(name))
    }

    fn tsa_url(&self) -> String {
        self.tsa.url("ecdsa", None)
    }

    /// Another blob in the directory.
    fn other_blob(&self) -> String {
        let p = self.path("other.tar.gz");
        std::fs::write(&p, b"other bytes\n").unwrap();
        p
    }
}

/// A verification run by ironsign and by cosign releases, which must all come to `expect`.
struct Case {
    name: &'static str,
    ironsign: Vec<String>,
    cosign: Vec<(Cosign, Vec<String>)>,
    expect: bool,
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Runs every case; returns how many verifications agreed (all must).
fn agree(cases: &[Case]) -> usize {
    let mut count = 0;
    let mut wrong = Vec::new();
    for case in cases {
        let args: Vec<&str> = case.ironsign.iter().map(String::as_str).collect();
        let ours = ironsign(&args);
        if (ours.code == 0) != case.expect {
            wrong.push(format!("{}: ironsign exit {}: {}", case.name, ours.code, ours.stderr.trim()));
        }
        for (version, argv) in &case.cosign {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let theirs = cosign(*version, &argv);
            if (theirs.code == 0) != case.expect {
                wrong.push(format!("{}: cosign {version:?} exit {}: {}", case.name, theirs.code, theirs.stderr.trim()));
            } else {
                count += 1;
            }
            // The drop-in promise: cosign's own command line, run by ironsign, comes to the same
            // outcome (--trusted-root included).
            {
                let same = ironsign(&argv);
                if (same.code == 0) != case.expect {
                    wrong.push(format!(
                        "{}: ironsign with cosign {version:?}'s argv {argv:?} exit {}: {}",
                        case.name,
                        same.code,
                        same.stderr.trim()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    count
}

/// ironsign and both cosign releases verifying the same detached signature or legacy bundle with
/// the same flags (`--insecure-ignore-tlog` for cosign, which ironsign accepts too).
fn both_cosigns(name: &'static str, args: Vec<String>, expect: bool) -> Case {
    let mut full = owned(&["verify-blob"]);
    full.extend(args);
    let mut theirs = full.clone();
    theirs.insert(1, "--insecure-ignore-sct".into());
    theirs.insert(1, "--certificate-oidc-issuer-regexp=.*".into());
    // The two spellings cosign users pass to skip the log, each before the blob (a boolean never
    // takes it as its value).
    let mut ignore_tlog = theirs.clone();
    ignore_tlog.insert(ignore_tlog.len() - 1, "--insecure-ignore-tlog".into());
    let mut private = theirs;
    private.insert(private.len() - 1, "--private-infrastructure".into());
    let mut cosign: Vec<_> = Cosign::ALL.iter().map(|v| (*v, ignore_tlog.clone())).collect();
    cosign.push((Cosign::V2, private));
    Case { name, ironsign: full, cosign, expect }
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn cosign_and_ironsign_agree_on_ironsign_blob_signatures() {
    let t = Setup::new();
    let (key, public, cert, chain) =
        (pki_file("leaf.key"), pki_file("leaf.pub"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let other_chain = pki_file("other-chain.pem");
    let other_blob = t.other_blob();
    let blob = t.blob.as_str();

    // Key, detached: the base64 signature on stdout, as cosign prints it.
    let printed = ironsign(&["sign-blob", "--key", &key, "--tlog-upload=false", "-y", blob]).ok().stdout;
    assert!(printed.ends_with('\n') && !printed.trim().contains('\n'), "{printed:?}");
    let sig = t.path("key.sig");
    std::fs::write(&sig, &printed).unwrap();
    // Key, cosign v2's bundle; key, Sigstore bundle.
    let (legacy, sigstore) = (t.path("key.bundle"), t.path("key.sigstore.json"));
    ironsign(&["sign-blob", "--key", &key, "--bundle", &legacy, blob]).ok();
    ironsign(&["sign-blob", "--key", &key, "--new-bundle-format", "--bundle", &sigstore, blob]).ok();
    // Certificate and chain, with a timestamp: detached files and cosign v2's bundle.
    let (csig, ccert, cts, cbundle) = (t.path("c.sig"), t.path("c.crt"), t.path("c.ts.json"), t.path("c.bundle"));
    let tsa = t.tsa_url();
    let mut args = vec!["sign-blob", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend(["--timestamp-server-url", &tsa, "--output-signature", &csig, "--output-certificate", &ccert]);
    args.extend(["--rfc3161-timestamp", &cts, "--bundle", &cbundle, blob]);
    let run = ironsign(&args).ok();
    assert!(run.stdout.is_empty(), "the signature went to --output-signature");
    // Certificate, chain and timestamp in a Sigstore bundle.
    let cnew = t.path("c.sigstore.json");
    let mut args = vec!["sign-blob", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend(["--timestamp-server-url", &tsa, "--new-bundle-format", "--bundle", &cnew, blob]);
    ironsign(&args).ok();
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    // The signature of another blob by the same certificate.
    let sig_other = t.path("other.sig");
    ironsign(&["sign-blob", "--key", &key, "--output-signature", &sig_other, &other_blob]).ok();
    // cosign v2's bundle with the certificate swapped for another leaf of the same CA.
    let swapped = t.path("swapped.bundle");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&cbundle).unwrap()).unwrap();
    doc["cert"] = b64(&std::fs::read(pki_file("leaf-otherid.pem")).unwrap()).into();
    std::fs::write(&swapped, doc.to_string()).unwrap();

    let ident = ["--certificate-identity", EMAIL];
    let cert_args = |chain: &str, extra: &[&str]| -> Vec<String> {
        let mut a = owned(&["--certificate", &ccert, "--signature", &csig, "--certificate-chain", chain]);
        a.extend(owned(&ident));
        a.extend(owned(extra));
        a
    };
    let mut cases = vec![
        both_cosigns("key detached", owned(&["--key", &public, "--signature", &sig, blob]), true),
        both_cosigns(
            "key detached, tampered blob",
            owned(&["--key", &public, "--signature", &sig, &other_blob]),
            false,
        ),
        both_cosigns("key detached, another key", owned(&["--key", &t.other_public, "--signature", &sig, blob]), false),
        both_cosigns("key, v2 bundle", owned(&["--key", &public, "--bundle", &legacy, blob]), true),
        both_cosigns(
            "key, v2 bundle, tampered blob",
            owned(&["--key", &public, "--bundle", &legacy, &other_blob]),
            false,
        ),
        both_cosigns("cert+chain detached", cert_args(&chain, &[blob]), true),
        both_cosigns("cert+chain detached, another root", cert_args(&other_chain, &[blob]), false),
        both_cosigns(
            "cert detached, --ca-roots and --ca-intermediates",
            owned(&[
                "--certificate",
                &ccert,
                "--signature",
                &csig,
                "--ca-roots",
                &pki_file("root.pem"),
                "--ca-intermediates",
                &pki_file("inter.pem"),
                ident[0],
                ident[1],
                blob,
            ]),
            true,
        ),
        both_cosigns(
            "cert detached, --ca-roots of another root",
            owned(&[
                "--certificate",
                &ccert,
                "--signature",
                &csig,
                "--ca-roots",
                &pki_file("attacker-root.pem"),
                ident[0],
                ident[1],
                blob,
            ]),
            false,
        ),
        both_cosigns(
            "cert+chain detached, wrong identity",
            owned(&[
                "--certificate",
                &ccert,
                "--signature",
                &csig,
                "--certificate-chain",
                &chain,
                "--certificate-identity",
                "someone-else@example.com",
                blob,
            ]),
            false,
        ),
        both_cosigns(
            "cert+chain detached, signature of another blob",
            owned(&["--certificate", &ccert, "--signature", &sig_other, "--certificate-chain", &chain])
                .into_iter()
                .chain(owned(&[ident[0], ident[1], blob]))
                .collect(),
            false,
        ),
        both_cosigns(
            "cert+chain, v2 bundle whose certificate did not sign",
            owned(&["--bundle", &swapped, "--certificate-chain", &chain, "--certificate-identity-regexp", ".*", blob]),
            false,
        ),
        both_cosigns(
            "cert+chain+timestamp detached",
            cert_args(
                &chain,
                &[
                    "--rfc3161-timestamp",
                    &cts,
                    "--timestamp-certificate-chain",
                    &tsa_chain,
                    "--use-signed-timestamps",
                    blob,
                ],
            ),
            true,
        ),
        both_cosigns(
            "cert+chain, v2 bundle",
            owned(&["--bundle", &cbundle, "--certificate-chain", &chain, ident[0], ident[1], blob]),
            true,
        ),
        both_cosigns(
            "cert+chain, v2 bundle, tampered blob",
            owned(&["--bundle", &cbundle, "--certificate-chain", &chain, ident[0], ident[1], &other_blob]),
            false,
        ),
    ];
    // Sigstore bundles: cosign v3 reads them as they are; v2 with --new-bundle-format and a
    // trusted root, even for a key.
    let v3_key =
        |blob: &str| owned(&["verify-blob", "--key", &public, "--bundle", &sigstore, "--insecure-ignore-tlog", blob]);
    let v2_key = |blob: &str| {
        let mut a = v3_key(blob);
        a.splice(1..1, owned(&["--new-bundle-format", "--trusted-root", &t.trusted_root]));
        a
    };
    cases.push(Case {
        name: "key, Sigstore bundle",
        ironsign: owned(&["verify-blob", "--key", &public, "--bundle", &sigstore, blob]),
        cosign: vec![(Cosign::V3, v3_key(blob)), (Cosign::V2, v2_key(blob))],
        expect: true,
    });
    cases.push(Case {
        name: "key, Sigstore bundle, tampered blob",
        ironsign: owned(&["verify-blob", "--key", &public, "--bundle", &sigstore, &other_blob]),
        cosign: vec![(Cosign::V3, v3_key(&other_blob)), (Cosign::V2, v2_key(&other_blob))],
        expect: false,
    });
    // A Sigstore bundle with the leaf alone (cosign v2 refuses an x509CertificateChain in a v0.3
    // bundle; v3 reads both): the chain comes from the trusted root.
    let leaf_only = t.path("leaf-only.sigstore.json");
    ironsign(&[
        "sign-blob",
        "--key",
        &key,
        "--certificate",
        &cert,
        "--new-bundle-format",
        "--bundle",
        &leaf_only,
        blob,
    ])
    .ok();
    for (name, b, expect) in [("", blob, true), (", tampered blob", other_blob.as_str(), false)] {
        let theirs = owned(&[
            "verify-blob",
            "--new-bundle-format",
            "--bundle",
            &leaf_only,
            "--trusted-root",
            &t.trusted_root,
            "--certificate-identity",
            URI,
            "--certificate-oidc-issuer-regexp=.*",
            "--insecure-ignore-tlog",
            "--insecure-ignore-sct",
            b,
        ]);
        cases.push(Case {
            name: leak(format!("cert, leaf-only Sigstore bundle{name}")),
            ironsign: owned(&[
                "verify-blob",
                "--bundle",
                &leaf_only,
                "--certificate-chain",
                &chain,
                "--certificate-identity",
                URI,
                "--new-bundle-format",
                b,
            ]),
            cosign: Cosign::ALL.iter().map(|v| (*v, theirs.clone())).collect(),
            expect,
        });
    }
    let v3_cert = |blob: &str| {
        owned(&[
            "verify-blob",
            "--new-bundle-format",
            "--bundle",
            &cnew,
            "--trusted-root",
            &t.trusted_root,
            "--certificate-identity",
            URI,
            "--certificate-oidc-issuer-regexp=.*",
            "--insecure-ignore-tlog",
            "--insecure-ignore-sct",
            "--allow-certificate-chain",
            "--use-signed-timestamps",
            blob,
        ])
    };
    let ours_cert = |blob: &str, chain: &str| {
        owned(&[
            "verify-blob",
            "--bundle",
            &cnew,
            "--certificate-chain",
            chain,
            "--certificate-identity",
            URI,
            "--timestamp-certificate-chain",
            &tsa_chain,
            "--use-signed-timestamps",
            blob,
        ])
    };
    cases.push(Case {
        name: "cert+chain+timestamp, Sigstore bundle",
        ironsign: ours_cert(blob, &chain),
        cosign: vec![(Cosign::V3, v3_cert(blob))],
        expect: true,
    });
    cases.push(Case {
        name: "cert+chain+timestamp, Sigstore bundle, tampered blob",
        ironsign: ours_cert(&other_blob, &chain),
        cosign: vec![(Cosign::V3, v3_cert(&other_blob))],
        expect: false,
    });
    let agreed = agree(&cases);
    eprintln!("ironsign blob signatures: {agreed} cosign verifications agreed");
    // And ironsign refuses the Sigstore bundle under another root.
    let args = ours_cert(blob, &other_chain);
    ironsign(&args.iter().map(String::as_str).collect::<Vec<_>>()).code(12);
}

#[test]
fn cosign_and_ironsign_agree_on_cosign_blob_signatures() {
    let t = Setup::new();
    let blob = t.blob.as_str();
    let other_blob = t.other_blob();
    let (public, cert, chain, root) =
        (pki_file("leaf.pub"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let inter = pki_file("inter.pem");
    let tsa = t.tsa_url();
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    let mut cases = Vec::new();
    for version in Cosign::ALL {
        let tag = format!("{version:?}");
        let nolog: &[&str] = match version {
            Cosign::V2 => &["--tlog-upload=false"],
            Cosign::V3 => &["--tlog-upload=false", "--use-signing-config=false", "--new-bundle-format=false"],
        };
        // Key, stdout signature and v2 bundle, with a timestamp file.
        let (legacy, ts) = (t.path(&format!("{tag}.bundle")), t.path(&format!("{tag}.ts.json")));
        let mut args = vec!["sign-blob", "--key", &t.cosign_key, "--bundle", &legacy];
        args.extend(["--timestamp-server-url", &tsa, "--rfc3161-timestamp", &ts]);
        args.extend(nolog);
        args.push(blob);
        let printed = cosign(version, &args).ok().stdout;
        let sig = t.path(&format!("{tag}.sig"));
        std::fs::write(&sig, printed).unwrap();
        // Key, Sigstore bundle with a timestamp.
        let sigstore = t.path(&format!("{tag}.sigstore.json"));
        let mut args = vec!["sign-blob", "--key", &t.cosign_key, "--new-bundle-format", "--bundle", &sigstore];
        args.extend(["--timestamp-server-url", &tsa, "--tlog-upload=false"]);
        if version == Cosign::V3 {
            args.push("--use-signing-config=false");
        }
        args.push(blob);
        cosign(version, &args).ok();
        for (name, b, expect) in [("", blob, true), (", tampered blob", other_blob.as_str(), false)] {
            for (what, evidence) in [
                ("detached", vec!["--signature", sig.as_str()]),
                ("v2 bundle", vec!["--bundle", legacy.as_str()]),
                ("Sigstore bundle", vec!["--bundle", sigstore.as_str()]),
            ] {
                let mut args = owned(&["verify-blob", "--key", &public]);
                args.extend(owned(&evidence));
                args.push(b.to_owned());
                cases.push(Case {
                    name: leak(format!("cosign {tag} key {what}{name}")),
                    ironsign: args,
                    cosign: vec![],
                    expect,
                });
            }
            // The timestamp file, required and verified.
            let args = owned(&[
                "verify-blob",
                "--key",
                &public,
                "--signature",
                &sig,
                "--rfc3161-timestamp",
                &ts,
                "--timestamp-certificate-chain",
                &tsa_chain,
                "--use-signed-timestamps",
                b,
            ]);
            cases.push(Case {
                name: leak(format!("cosign {tag} key+timestamp{name}")),
                ironsign: args,
                cosign: vec![],
                expect,
            });
        }
    }
    // cosign v3 signs with a certificate and chain (v2's sign-blob has no --certificate).
    let cnew = t.path("v3-cert.sigstore.json");
    let mut args = vec!["sign-blob", "--key", &t.cosign_key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend([
        "--timestamp-server-url",
        &tsa,
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--bundle",
        &cnew,
        blob,
    ]);
    cosign(Cosign::V3, &args).ok();
    let (cold, csig, ccert) = (t.path("v3-cert.bundle"), t.path("v3-cert.sig"), t.path("v3-cert.crt"));
    let mut args = vec!["sign-blob", "--key", &t.cosign_key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend(["--tlog-upload=false", "--use-signing-config=false", "--new-bundle-format=false", "--bundle", &cold]);
    args.extend(["--output-signature", &csig, "--output-certificate", &ccert, blob]);
    cosign(Cosign::V3, &args).ok();
    for (name, b, expect) in [("", blob, true), (", tampered blob", other_blob.as_str(), false)] {
        let roots = ["--ca-roots", root.as_str(), "--certificate-identity", EMAIL];
        let mut a = owned(&[
            "verify-blob",
            "--bundle",
            &cnew,
            "--timestamp-certificate-chain",
            &tsa_chain,
            "--use-signed-timestamps",
        ]);
        a.extend(owned(&roots));
        a.push(b.to_owned());
        cases.push(Case {
            name: leak(format!("cosign V3 cert+chain+timestamp Sigstore bundle{name}")),
            ironsign: a,
            cosign: vec![],
            expect,
        });
        // cosign v2's bundle holds the leaf alone: the intermediate comes from --ca-intermediates;
        // without it neither cosign nor ironsign finds a path to the root.
        let mut a = owned(&["verify-blob", "--bundle", &cold]);
        a.extend(owned(&roots));
        let without_intermediate = a.clone();
        a.extend(owned(&["--ca-intermediates", &inter]));
        for (what, mut a, expect) in [("", a, expect), (", no intermediate", without_intermediate, false)] {
            a.push(b.to_owned());
            let mut theirs = a.clone();
            theirs.splice(
                1..1,
                owned(&["--insecure-ignore-tlog", "--insecure-ignore-sct", "--certificate-oidc-issuer-regexp=.*"]),
            );
            cases.push(Case {
                name: leak(format!("cosign V3 cert v2 bundle{what}{name}")),
                ironsign: a,
                cosign: Cosign::ALL.iter().map(|v| (*v, theirs.clone())).collect(),
                expect,
            });
        }
        let mut a =
            owned(&["verify-blob", "--signature", &csig, "--certificate", &ccert, "--certificate-chain", &chain]);
        a.extend(owned(&["--certificate-identity", EMAIL]));
        a.push(b.to_owned());
        cases.push(Case { name: leak(format!("cosign V3 cert detached{name}")), ironsign: a, cosign: vec![], expect });
    }
    agree(&cases);
    eprintln!("cosign blob signatures: ironsign agreed on {} cases", cases.len());
    // The timestamp dates the certificate: the JSON result carries it.
    let json = ironsign(&[
        "verify-blob",
        "--bundle",
        &cnew,
        "--ca-roots",
        &root,
        "--certificate-identity",
        EMAIL,
        "--timestamp-certificate-chain",
        &tsa_chain,
        "-o",
        "json",
        blob,
    ])
    .ok()
    .json();
    assert_eq!(json["format"], "sigstore_bundle");
    assert_eq!(json["checks"][1], "timestamp", "{json}");
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn blob_attestations_verify_both_ways() {
    let t = Setup::new();
    let blob = t.blob.as_str();
    let other_blob = t.other_blob();
    let (key, public) = (pki_file("leaf.key"), pki_file("leaf.pub"));
    let predicate = t.path("predicate.json");
    std::fs::write(&predicate, r#"{"builder":{"id":"ci"}}"#).unwrap();
    // ironsign's: the envelope on stdout (cosign v2's shape), and a Sigstore bundle.
    let envelope =
        ironsign(&["attest-blob", "--key", &key, "--predicate", &predicate, "--tlog-upload=false", blob]).ok().stdout;
    let env_file = t.path("ours.intoto.json");
    std::fs::write(&env_file, envelope.trim_end()).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&envelope).unwrap();
    assert_eq!(parsed["payloadType"], "application/vnd.in-toto+json");
    let ours_bundle = t.path("ours.att.sigstore.json");
    ironsign(&[
        "attest-blob",
        "--key",
        &key,
        "--predicate",
        &predicate,
        "--new-bundle-format",
        "--bundle",
        &ours_bundle,
        blob,
    ])
    .ok();
    let mut cases = Vec::new();
    for (name, b, expect) in [("", blob, true), (", another blob", other_blob.as_str(), false)] {
        let common = owned(&["verify-blob-attestation", "--key", &public, "--type", "custom"]);
        let mut ours = common.clone();
        ours.extend(owned(&["--signature", &env_file, b]));
        let mut theirs = ours.clone();
        theirs.insert(1, "--insecure-ignore-tlog".into());
        cases.push(Case {
            name: leak(format!("ironsign envelope{name}")),
            ironsign: ours,
            cosign: Cosign::ALL.iter().map(|v| (*v, theirs.clone())).collect(),
            expect,
        });
        let mut ours = common.clone();
        ours.extend(owned(&["--bundle", &ours_bundle, b]));
        let mut theirs = ours.clone();
        theirs.insert(1, "--insecure-ignore-tlog".into());
        cases.push(Case {
            name: leak(format!("ironsign Sigstore bundle{name}")),
            ironsign: ours,
            cosign: vec![(Cosign::V3, theirs)],
            expect,
        });
    }
    // cosign's: v2 prints the envelope, v3 writes a bundle.
    let theirs_env = t.path("theirs.intoto.json");
    let printed = cosign(
        Cosign::V2,
        &["attest-blob", "--key", &t.cosign_key, "--predicate", &predicate, "--tlog-upload=false", blob],
    )
    .ok()
    .stdout;
    std::fs::write(&theirs_env, printed).unwrap();
    let theirs_bundle = t.path("theirs.att.sigstore.json");
    cosign(
        Cosign::V3,
        &[
            "attest-blob",
            "--key",
            &t.cosign_key,
            "--predicate",
            &predicate,
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--bundle",
            &theirs_bundle,
            blob,
        ],
    )
    .ok();
    for (name, b, expect) in [("", blob, true), (", another blob", other_blob.as_str(), false)] {
        for (what, evidence) in
            [("v2 envelope", ["--signature", theirs_env.as_str()]), ("v3 bundle", ["--bundle", theirs_bundle.as_str()])]
        {
            let mut a = owned(&["verify-blob-attestation", "--key", &public]);
            a.extend(owned(&evidence));
            a.push(b.to_owned());
            cases.push(Case { name: leak(format!("cosign {what}{name}")), ironsign: a, cosign: vec![], expect });
        }
    }
    // Another predicate type is refused by both.
    let mut a = owned(&[
        "verify-blob-attestation",
        "--key",
        &public,
        "--type",
        "slsaprovenance",
        "--signature",
        &env_file,
        blob,
    ]);
    let mut theirs = a.clone();
    theirs.insert(1, "--insecure-ignore-tlog".into());
    cases.push(Case {
        name: "another predicate type",
        ironsign: a.clone(),
        cosign: Cosign::ALL.iter().map(|v| (*v, theirs.clone())).collect(),
        expect: false,
    });
    agree(&cases);
    // --check-claims=false skips the subject: honoured, as cosign does.
    a = owned(&[
        "verify-blob-attestation",
        "--key",
        &public,
        "--check-claims=false",
        "--signature",
        &env_file,
        &other_blob,
    ]);
    ironsign(&a.iter().map(String::as_str).collect::<Vec<_>>()).ok();
    let json = ironsign(&["verify-blob-attestation", "--key", &public, "--bundle", &theirs_bundle, "-o", "json", blob])
        .ok()
        .json();
    assert_eq!(json["statement"]["subject"][0]["name"], "release.tar.gz");
}

fn codes(run: &Run) -> Vec<String> {
    rejection_codes(run)
}

#[test]
fn attacker_built_blob_evidence_is_refused() {
    let t = Setup::new();
    let blob = t.blob.as_str();
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let tsa = t.tsa_url();
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify-blob", "--ca-roots", &root, "--certificate-identity", EMAIL, "-o", "json"];
        args.extend(extra);
        args.push(blob);
        ironsign(&args)
    };
    // A v2 bundle whose certificate is swapped for another leaf of the same root: the signature
    // does not verify with that certificate's key.
    let bundle = t.path("c.bundle");
    ironsign(&[
        "sign-blob",
        "--key",
        &key,
        "--certificate",
        &cert,
        "--certificate-chain",
        &chain,
        "--bundle",
        &bundle,
        blob,
    ])
    .ok();
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    doc["cert"] = b64.encode(std::fs::read(pki_file("leaf-otherid.pem")).unwrap()).into();
    let swapped = t.path("swapped.bundle");
    std::fs::write(&swapped, doc.to_string()).unwrap();
    let run = verify(&["--bundle", &swapped]).code(12);
    assert_eq!(codes(&run), ["BAD_SIGNATURE"]);
    // A certificate from another root, signature made with its key.
    let attacker = t.path("attacker.bundle");
    ironsign(&[
        "sign-blob",
        "--key",
        &pki_file("attacker-leaf.key"),
        "--certificate",
        &pki_file("attacker-leaf.pem"),
        "--certificate-chain",
        &pki_file("attacker-chain.pem"),
        "--bundle",
        &attacker,
        blob,
    ])
    .ok();
    assert_eq!(codes(&verify(&["--bundle", &attacker]).code(12)), ["CERT_UNTRUSTED_CHAIN"]);
    // A timestamp over another signature: the token is genuine but dates something else.
    let (sig_a, ts_a, sig_b) = (t.path("a.sig"), t.path("a.ts"), t.path("b.sig"));
    let signing =
        ["--certificate", cert.as_str(), "--certificate-chain", chain.as_str(), "--timestamp-server-url", tsa.as_str()];
    let mut args = vec!["sign-blob", "--key", &key, "--output-signature", &sig_a, "--rfc3161-timestamp", &ts_a];
    args.extend(signing);
    args.push(blob);
    ironsign(&args).ok();
    ironsign(&["sign-blob", "--key", &key, "--output-signature", &sig_b, blob]).ok();
    let run = verify(&[
        "--signature",
        &sig_b,
        "--certificate",
        &cert,
        "--rfc3161-timestamp",
        &ts_a,
        "--timestamp-certificate-chain",
        &tsa_chain,
    ])
    .code(12);
    assert_eq!(codes(&run), ["TIMESTAMP_IMPRINT_MISMATCH"]);
    // A Sigstore bundle whose messageDigest names another blob.
    let sigstore = t.path("c.sigstore.json");
    ironsign(&[
        "sign-blob",
        "--key",
        &key,
        "--certificate",
        &cert,
        "--certificate-chain",
        &chain,
        "--new-bundle-format",
        "--bundle",
        &sigstore,
        blob,
    ])
    .ok();
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sigstore).unwrap()).unwrap();
    let other_digest = b64.encode(sha256_bytes(b"other bytes\n"));
    doc["messageSignature"]["messageDigest"]["digest"] = other_digest.into();
    let forged = t.path("forged.sigstore.json");
    std::fs::write(&forged, doc.to_string()).unwrap();
    assert_eq!(codes(&verify(&["--bundle", &forged]).code(12)), ["DIGEST_MISMATCH"]);
    // A Sigstore bundle with a transparency-log entry and no timestamp, by a certificate that
    // has expired since (signed while it was valid): the entry's integrated time never dates it.
    let expired = t.path("expired.sigstore.json");
    let (expired_key, expired_cert) = (pki_file("leaf-expired.key"), pki_file("leaf-expired.pem"));
    let args = [
        "sign-blob",
        "--key",
        &expired_key,
        "--certificate",
        &expired_cert,
        "--new-bundle-format",
        "--bundle",
        &expired,
        blob,
    ];
    ironsign_at("@2020-06-01 00:00:00", &args).ok();
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&expired).unwrap()).unwrap();
    doc["verificationMaterial"]["tlogEntries"] = serde_json::json!([{"logIndex": "1", "integratedTime": "1600000000"}]);
    std::fs::write(&expired, doc.to_string()).unwrap();
    let inter = pki_file("inter.pem");
    assert_eq!(codes(&verify(&["--ca-intermediates", &inter, "--bundle", &expired]).code(12)), ["CERT_EXPIRED"]);
    // An attestation over another blob's digest.
    let predicate = t.path("p.json");
    std::fs::write(&predicate, "{}").unwrap();
    let other = t.other_blob();
    let envelope = ironsign(&["attest-blob", "--key", &key, "--predicate", &predicate, &other]).ok().stdout;
    let env_file = t.path("other.intoto.json");
    std::fs::write(&env_file, envelope).unwrap();
    let run = ironsign(&[
        "verify-blob-attestation",
        "--key",
        &pki_file("leaf.pub"),
        "--signature",
        &env_file,
        "-o",
        "json",
        blob,
    ])
    .code(12);
    assert_eq!(codes(&run), ["SUBJECT_MISMATCH"]);
    // Oversized inputs are refused before they are parsed.
    let huge = t.path("huge.json");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(ironsign::blob::MAX_EVIDENCE_SIZE + 1).unwrap();
    let run = verify(&["--bundle", &huge]).code(3);
    assert!(run.stderr.contains("larger than"), "{}", run.stderr);
}

/// The SHA-256 of `data`, through the core's digest.
fn sha256_bytes(data: &[u8]) -> Vec<u8> {
    let hex = ironsign::Digest::sha256(data).hex().to_owned();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn blob_flags_that_cannot_be_honoured_are_refused() {
    let t = Setup::new();
    let blob = t.blob.as_str();
    let key = pki_file("leaf.key");
    let public = pki_file("leaf.pub");
    let refused = |args: &[&str], says: &str| {
        let run = ironsign(args);
        assert_ne!(run.code, 0, "{args:?} was accepted");
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    };
    refused(&["sign-blob", "--key", &key, "--tlog-upload", blob], "transparency log");
    refused(&["sign-blob", "--key", &key, "--use-signing-config=true", blob], "signing configuration");
    refused(&["sign-blob", "--key", &key, "--new-bundle-format", blob], "--bundle");
    refused(&["sign-blob", "--key", &key, "--rekor-url", "https://rekor.example", blob], "--rekor-url");
    refused(&["sign-blob", "--key", &key, "--fulcio-url", "https://fulcio.example", blob], "--fulcio-url");
    refused(&["sign-blob", "--key", &key, "--rfc3161-timestamp", &t.path("ts"), blob], "--timestamp-server-url");
    refused(&["sign-blob", blob], "--key");
    refused(
        &["verify-blob", "--key", &public, "--insecure-ignore-tlog=false", "--signature", "AAAA", blob],
        "transparency log",
    );
    refused(&["verify-blob", "--key", &public, "--signature", "https://example.com/sig", blob], "remote");
    let sig = ironsign(&["sign-blob", "--key", &key, blob]).ok().stdout;
    let bundle = t.path("b.json");
    ironsign(&["sign-blob", "--key", &key, "--bundle", &bundle, blob]).ok();
    refused(
        &["verify-blob", "--key", &public, "--bundle", &bundle, "--signature", sig.trim(), blob],
        "not with a bundle",
    );
    refused(
        &["verify-blob", "--key", &public, "--use-signed-timestamps", "--signature", sig.trim(), blob],
        "timestamp",
    );
    refused(&["verify-blob-attestation", "--key", &public, "--signature", &bundle], "--check-claims=false");
    // The base64 signature given inline, as cosign allows.
    ironsign(&["verify-blob", "--key", &public, "--signature", sig.trim(), "--private-infrastructure", blob]).ok();
}

/// cosign's stderr without what is not output shape: deprecation notices, warnings, v3's progress
/// line and its error lines (whose wording is cosign's own).
fn cosign_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            !(l.is_empty()
                || l.starts_with("Flag --")
                || l.starts_with("WARNING")
                || l.starts_with("Error:")
                || l.starts_with("error during command execution")
                || *l == "Signing artifact...")
        })
        .collect()
}

fn lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.is_empty()).collect()
}

/// A base64 DER ECDSA signature on one line, as `sign-blob` prints it.
fn assert_signature_line(stdout: &str, who: &str) {
    use base64::Engine as _;
    assert!(stdout.ends_with('\n') && stdout.trim_end().lines().count() == 1, "{who}: {stdout:?}");
    let der = base64::engine::general_purpose::STANDARD.decode(stdout.trim_end()).expect("base64");
    assert_eq!(der[0], 0x30, "{who}: a DER SEQUENCE");
}

/// Runs one tool's command line.
type RunCommand = dyn Fn(&[&str]) -> Run;

#[test]
fn output_lines_exit_codes_and_flag_grammar_are_cosigns() {
    let t = Setup::new();
    let blob = t.blob.as_str();
    let other_blob = t.other_blob();
    let (key, public) = (pki_file("leaf.key"), pki_file("leaf.pub"));
    let predicate = t.path("predicate.json");
    std::fs::write(&predicate, r#"{"builder":{"id":"ci"}}"#).unwrap();
    let using = format!("Using payload from: {blob}");
    // Each signer: ironsign with the test key, each cosign with its import of the same key (and
    // v3 told to write v2's shapes, as a pipeline moving from v2 does).
    let mut signers: Vec<(String, Box<RunCommand>)> =
        vec![("ironsign".into(), Box::new(|args: &[&str]| ironsign(args)))];
    for version in Cosign::ALL {
        signers.push((
            format!("cosign {version:?}"),
            Box::new(move |args: &[&str]| {
                let mut a = args.to_vec();
                if version == Cosign::V3 && a[0] != "verify-blob" && a[0] != "verify-blob-attestation" {
                    a.splice(1..1, ["--use-signing-config=false", "--new-bundle-format=false"]);
                }
                cosign(version, &a)
            }),
        ));
    }
    for (who, run) in &signers {
        let signing_key = if who == "ironsign" { key.clone() } else { t.cosign_key.clone() };
        let tag = who.replace(' ', "-");
        // To stdout; the booleans -y and --tlog-upload=false just before the blob.
        let out = run(&["sign-blob", "--key", &signing_key, "--tlog-upload=false", "-y", blob]);
        assert_eq!(out.code, 0, "{who}: {}", out.stderr);
        assert_signature_line(&out.stdout, who);
        assert_eq!(cosign_lines(&out.stderr), [using.as_str()], "{who}");
        // To files: the lines cosign prints, in its order.
        let (sig, bundle) = (t.path(&format!("{tag}.sig")), t.path(&format!("{tag}.bundle")));
        let out = run(&[
            "sign-blob",
            "--key",
            &signing_key,
            "--tlog-upload=false",
            "--output-signature",
            &sig,
            "--bundle",
            &bundle,
            blob,
        ]);
        assert_eq!(out.code, 0, "{who}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{who}");
        let wrote = [using.clone(), format!("Wrote bundle to file {bundle}"), format!("Wrote signature to file {sig}")];
        assert_eq!(cosign_lines(&out.stderr), wrote, "{who}");
        // Every verifier on this signature: `Verified OK` on stderr, nothing on stdout; a refusal
        // prints neither and exits non-zero (cosign 1; ironsign its documented 12, 2 for a
        // command line it cannot parse, as cosign's 1).
        for (verifier, verify) in &signers {
            for evidence in [["--signature", sig.as_str()], ["--bundle", bundle.as_str()]] {
                for (b, good) in [(blob, true), (other_blob.as_str(), false)] {
                    let mut args = vec!["verify-blob", "--key", &public];
                    args.extend(evidence);
                    args.extend(["--insecure-ignore-tlog", b]);
                    let out = verify(&args);
                    let context = format!("{verifier} verifying {who}'s {args:?}: {}", out.stderr);
                    assert_eq!(out.stdout, "", "{context}");
                    if good {
                        assert_eq!(out.code, 0, "{context}");
                        assert_eq!(cosign_lines(&out.stderr), ["Verified OK"], "{context}");
                    } else {
                        assert_eq!(out.code, if verifier == "ironsign" { 12 } else { 1 }, "{context}");
                        assert!(!out.stderr.contains("Verified OK"), "{context}");
                    }
                }
            }
            // pflag: `--flag false BLOB` makes `false` the blob and BLOB one argument too many.
            let args = ["verify-blob", "--key", &public, "--signature", &sig, "--insecure-ignore-tlog", "false", blob];
            let out = verify(&args);
            assert_eq!(out.code, if verifier == "ironsign" { 2 } else { 1 }, "{verifier} {args:?}: {}", out.stderr);
            // And `--flag=false`/`=true`, `--private-infrastructure` and `--new-bundle-format`
            // just before the blob.
            for flag in ["--insecure-ignore-tlog=true", "--private-infrastructure", "--private-infrastructure=true"] {
                let args = ["verify-blob", "--key", &public, "--signature", &sig, flag, blob];
                let out = verify(&args);
                assert_eq!(out.code, 0, "{verifier} {args:?}: {}", out.stderr);
            }
        }
        // attest-blob: the envelope to a file, the statement to another.
        let (env_file, statement) = (t.path(&format!("{tag}.intoto.json")), t.path(&format!("{tag}.statement.json")));
        let out = run(&[
            "attest-blob",
            "--key",
            &signing_key,
            "--predicate",
            &predicate,
            "--tlog-upload=false",
            "--output-signature",
            &env_file,
            "--output-attestation",
            &statement,
            "-y",
            blob,
        ]);
        assert_eq!(out.code, 0, "{who}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{who}");
        let wrote = [
            using.clone(),
            format!("Using payload from: {predicate}"),
            format!("Signature written in {env_file}"),
            format!("Attestation written in {statement}"),
        ];
        assert_eq!(cosign_lines(&out.stderr), wrote, "{who}");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&statement).unwrap()).unwrap();
        assert_eq!(doc["subject"][0]["name"], "release.tar.gz", "{who}");
        for (verifier, verify) in &signers {
            for (kind, b, good) in
                [("custom", blob, true), ("custom", other_blob.as_str(), false), ("slsaprovenance", blob, false)]
            {
                let args = [
                    "verify-blob-attestation",
                    "--key",
                    &public,
                    "--type",
                    kind,
                    "--signature",
                    &env_file,
                    "--insecure-ignore-tlog",
                    b,
                ];
                let out = verify(&args);
                let context = format!("{verifier} verifying {who}'s {args:?}: {}", out.stderr);
                assert_eq!(out.stdout, "", "{context}");
                if good {
                    assert_eq!((out.code, cosign_lines(&out.stderr)), (0, vec!["Verified OK"]), "{context}");
                } else {
                    assert_eq!(out.code, if verifier == "ironsign" { 12 } else { 1 }, "{context}");
                }
            }
        }
    }
    // The same for ironsign's own refusals: not one line on stdout, the reason on stderr.
    let out = ironsign(&["verify-blob", "--key", &public, "--signature", "AAAA", blob]).code(12);
    assert_eq!(lines(&out.stdout), Vec::<&str>::new());
    assert!(out.stderr.contains("BAD_SIGNATURE") || out.stderr.contains("signature"), "{}", out.stderr);
}
