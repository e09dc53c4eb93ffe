//! No silent flags: every flag of the verifying commands (`verify`, `verify-attestation`, `tree`
//! with trust, and `verify`/`verify-attestation` with `--trust-config`) either changes the outcome
//! on a case built for it, or is refused with an error naming it. The flags come from the CLI
//! itself (`ironsign CMD --help`), so a flag added without a case here fails this test. Flags that
//! are not about trust (registry access, output, concurrency) and the hidden flags accepted for
//! cosign compatibility, which have nothing to act on here, are listed with the reason.

use ironsign_e2e::*;
use std::collections::BTreeSet;
use std::path::Path;

const IDENTITY: &str = "signer@example.com";

/// Flags that do not decide what is trusted, with why.
const NOT_TRUST: &[(&str, &str)] = &[
    ("--help", "prints help"),
    ("--output", "output format only"),
    ("--max-workers", "concurrency only"),
    ("--all-signatures", "which verified signatures are listed, not whether the image verifies"),
    ("--no-platforms", "tree: which manifests are listed, not how they are checked"),
    ("--allow-http-registry", "registry transport"),
    (
        "--allow-insecure-registry",
        "registry TLS, not signature trust (cosign_flags.rs::allow_insecure_registry_skips_registry_certificate_checks_as_in_cosign)",
    ),
    ("--registry-cacert", "registry TLS trust, not signature trust"),
    ("--registry-username", "registry credentials"),
    ("--registry-password", "registry credentials"),
    ("--registry-timeout", "registry request bound"),
    ("--timeout", "bounds the whole command's time (drop_in.rs::cosign_switches_on_verify)"),
    ("--verbose", "logging only"),
    ("--statements", "output format only (drop_in.rs::verify_attestation_prints_cosigns_envelopes)"),
];

/// Hidden flags accepted for cosign compatibility that have nothing to act on: there is no
/// transparency log, no Fulcio (private certificates carry no OIDC issuer), and both storage
/// formats are always read. `--help` does not list hidden flags, so they are named here and each
/// is checked to be accepted and to change nothing.
const COSIGN_COMPAT_NO_EFFECT: &[(&str, Option<&str>, &str)] = &[
    ("--certificate-oidc-issuer", Some("https://issuer.example"), "no OIDC issuer in private certificates"),
    ("--certificate-oidc-issuer-regexp", Some(".*"), "no OIDC issuer in private certificates"),
    ("--insecure-ignore-tlog", None, "there is no transparency log"),
    ("--insecure-ignore-sct", None, "there are no SCTs (no Fulcio)"),
    ("--new-bundle-format", None, "legacy tags and bundles are both always read"),
];

/// The long flags `ironsign ARGS --help` lists.
fn listed_flags(args: &[&str]) -> BTreeSet<String> {
    let mut full = args.to_vec();
    full.push("--help");
    let run = ironsign(&full).ok();
    // clap lists an option as "  -a, --annotations" or "      --key"; wrapped descriptions are
    // indented further.
    let re = regex::Regex::new(r"^(?:  -\w, |      )(--[a-z0-9][a-z0-9-]*)").unwrap();
    run.stdout.lines().filter_map(|l| re.captures(l)).map(|c| c[1].to_owned()).collect()
}

/// What a run came to: its exit code and the codes it reports (the error code and rejection
/// codes, or for `tree` every signature's status).
fn outcome(run: &Run) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&run.stdout) else {
        return format!("exit {}: {}", run.code, run.stderr.lines().last().unwrap_or_default());
    };
    let mut codes = Vec::new();
    collect(&json, &mut codes);
    format!("exit {}: {}", run.code, codes.join(" "))
}

fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("code", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("status", s) => {
                        out.push(s.get("rejected").map_or_else(|| s.to_string(), |r| r["code"].to_string()))
                    }
                    _ => collect(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// The images and files the cases run against.
struct Fixtures {
    /// Signed and attested by the test leaf with its chain, `-a env=prod`, timestamped.
    good: String,
    /// The same by a leaf without an extended key usage.
    noeku: String,
    /// Signed and attested by the test leaf without its chain.
    nochain: String,
    /// Signed and attested by the leaf's key alone (no certificate).
    keyonly: String,
    /// Signed and attested 100 days ago, timestamped then, by a leaf that expired since.
    lapsed: String,
    /// A CRL of the test intermediate revoking the test leaf.
    revoked: String,
    /// A trust configuration for the test root, intermediate and identity.
    config: String,
    /// A Rego policy that denies everything.
    deny: String,
    /// A Sigstore trusted root of the test CA chain (no TSA).
    trusted_root: String,
    _dir: tempfile::TempDir,
}

fn fixtures(tsa: &Tsa) -> Fixtures {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let predicate = d.join("predicate.json");
    std::fs::write(&predicate, r#"{"hello":"world"}"#).unwrap();
    let predicate = predicate.to_str().unwrap().to_owned();
    let now_url = tsa.url("ecdsa", None);
    let then_url = tsa.url("ecdsa", Some("-100d"));
    let make = |name: &str, signing: &[&str], at: Option<&str>| {
        let (_, image) = push_image(&unique_repo(name));
        let run = |args: &[&str]| match at {
            Some(offset) => ironsign_at(offset, args).ok(),
            None => ironsign(args).ok(),
        };
        let mut sign = vec!["sign"];
        sign.extend_from_slice(signing);
        sign.extend(["-a", "env=prod", image.as_str()]);
        run(&sign);
        let mut attest = vec!["attest", "--type", "custom", "--predicate", &predicate];
        attest.extend_from_slice(signing);
        attest.push(image.as_str());
        run(&attest);
        image
    };
    let (leaf_key, leaf, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let good = make(
        "flags-good",
        &[
            "--key",
            &leaf_key,
            "--certificate",
            &leaf,
            "--certificate-chain",
            &chain,
            "--timestamp-server-url",
            &now_url,
        ],
        None,
    );
    let (noeku_key, noeku_cert) = (pki_file("leaf-noeku.key"), pki_file("leaf-noeku.pem"));
    let noeku =
        make("flags-noeku", &["--key", &noeku_key, "--certificate", &noeku_cert, "--certificate-chain", &chain], None);
    let nochain = make("flags-nochain", &["--key", &leaf_key, "--certificate", &leaf], None);
    let keyonly = make("flags-keyonly", &["--key", &leaf_key], None);
    let (lapsed_key, lapsed_cert, lapsed_chain) =
        (pki_file("leaf-lapsed.key"), pki_file("leaf-lapsed.pem"), pki_file("chain-lapsed.pem"));
    let lapsed = make(
        "flags-lapsed",
        &[
            "--key",
            &lapsed_key,
            "--certificate",
            &lapsed_cert,
            "--certificate-chain",
            &lapsed_chain,
            "--timestamp-server-url",
            &then_url,
        ],
        Some("-100d"),
    );
    let revoked = d.join("revoked.pem");
    make_crl(d, "inter", &["leaf"], None, &revoked);
    let config = d.join("trust.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nimages: [\"{}/e2e/**\"]\nroots:\n  - file: {}\nintermediates:\n  - file: {}\nidentity:\n  san: {IDENTITY}\n",
            registry(RegistryKind::Plain),
            pki_file("root.pem"),
            pki_file("inter.pem")
        ),
    )
    .unwrap();
    let deny = d.join("deny.rego");
    std::fs::write(&deny, "package signature\n\ndefault allow = false\n").unwrap();
    let trusted_root = d.join("trusted-root.json");
    let ca = format!("url=https://ca.invalid,certificate-chain={}", pki_file("chain.pem"));
    ironsign(&["trusted-root", "create", "--fulcio", &ca, "--out", trusted_root.to_str().unwrap()]).ok();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    Fixtures {
        good,
        noeku,
        nochain,
        keyonly,
        lapsed,
        revoked: s(&revoked),
        config: s(&config),
        deny: s(&deny),
        trusted_root: s(&trusted_root),
        _dir: dir,
    }
}

/// What a flag must do in a command variant.
enum Expect {
    /// On `image`, `base` and `base` plus `with` (the flag and its value) end differently.
    Changes { image: String, base: Vec<String>, with: Vec<String> },
    /// Refused with an error naming the flag (exit 3).
    Refused { value: Option<String> },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Verify,
    VerifyAttestation,
    Tree,
    VerifyTrustConfig,
    VerifyAttestationTrustConfig,
}

impl Variant {
    fn command(self) -> &'static str {
        match self {
            Variant::Verify | Variant::VerifyTrustConfig => "verify",
            Variant::VerifyAttestation | Variant::VerifyAttestationTrustConfig => "verify-attestation",
            Variant::Tree => "tree",
        }
    }

    fn trust_config(self) -> bool {
        matches!(self, Variant::VerifyTrustConfig | Variant::VerifyAttestationTrustConfig)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The case for `flag` in `variant`, or `None` when this test has none (a failure).
fn expect(variant: Variant, flag: &str, f: &Fixtures) -> Option<Expect> {
    let root = pki_file("root.pem");
    let trusted = |image: &String, with: &[&str]| Expect::Changes {
        image: image.clone(),
        base: strings(&["--ca-roots", &root, "--certificate-identity", IDENTITY]),
        with: strings(with),
    };
    if variant.trust_config() {
        let config = |image: &String, with: &[&str]| Expect::Changes {
            image: image.clone(),
            base: strings(&["--trust-config", &f.config]),
            with: strings(with),
        };
        return Some(match flag {
            "--crl" => config(&f.good, &["--crl", &f.revoked]),
            "--require-code-signing-eku" => config(&f.noeku, &["--require-code-signing-eku"]),
            "--annotations" => config(&f.good, &["--annotations", "env=dev"]),
            "--type" if variant == Variant::VerifyAttestationTrustConfig => config(&f.good, &["--type", "vuln"]),
            "--policy" if variant == Variant::VerifyAttestationTrustConfig => config(&f.good, &["--policy", &f.deny]),
            "--key" => Expect::Refused { value: Some(pki_file("leaf.pub")) },
            "--certificate-chain" => Expect::Refused { value: Some(pki_file("chain.pem")) },
            "--ca-roots" => Expect::Refused { value: Some(root.clone()) },
            "--ca-intermediates" => Expect::Refused { value: Some(pki_file("inter.pem")) },
            "--timestamp-certificate-chain" => Expect::Refused { value: Some(pki_file("tsa-ecdsa-chain.pem")) },
            "--trusted-root" => Expect::Refused { value: Some(f.trusted_root.clone()) },
            "--use-signed-timestamps" => Expect::Refused { value: None },
            "--certificate-identity" | "--certificate-identity-regexp" => Expect::Refused { value: Some(".*".into()) },
            "--certificate-subject" | "--certificate-subject-regexp" => Expect::Refused { value: Some(".*".into()) },
            _ => return None,
        });
    }
    Some(match flag {
        "--key" => Expect::Changes {
            image: f.keyonly.clone(),
            base: Vec::new(),
            with: strings(&["--key", &pki_file("leaf.pub")]),
        },
        "--certificate-chain" => Expect::Changes {
            image: f.good.clone(),
            base: strings(&["--certificate-identity", IDENTITY]),
            with: strings(&["--certificate-chain", &pki_file("chain.pem")]),
        },
        "--ca-roots" => Expect::Changes {
            image: f.good.clone(),
            base: strings(&["--certificate-identity", IDENTITY]),
            with: strings(&["--ca-roots", &root]),
        },
        "--ca-intermediates" => trusted(&f.nochain, &["--ca-intermediates", &pki_file("inter.pem")]),
        "--timestamp-certificate-chain" => Expect::Changes {
            image: f.lapsed.clone(),
            base: strings(&["--ca-roots", &pki_file("lapsed-root.pem"), "--certificate-identity", IDENTITY]),
            with: strings(&["--timestamp-certificate-chain", &pki_file("tsa-ecdsa-chain.pem")]),
        },
        "--trusted-root" => Expect::Changes {
            image: f.good.clone(),
            base: strings(&["--certificate-identity", IDENTITY]),
            with: strings(&["--trusted-root", &f.trusted_root]),
        },
        // Without a timestamp authority it is refused (there is no public TSA to fall back on).
        "--use-signed-timestamps" => trusted(&f.good, &["--use-signed-timestamps"]),
        "--crl" => trusted(&f.good, &["--crl", &f.revoked]),
        "--certificate-identity"
        | "--certificate-identity-regexp"
        | "--certificate-subject"
        | "--certificate-subject-regexp" => Expect::Changes {
            image: f.good.clone(),
            base: strings(&["--ca-roots", &root]),
            with: strings(&[flag, "^nobody$"]),
        },
        "--require-code-signing-eku" => trusted(&f.noeku, &["--require-code-signing-eku"]),
        // In tree -a applies to signatures only (attestations carry no payload annotations).
        "--annotations" => trusted(&f.good, &["--annotations", "env=dev"]),
        "--trust-config" if variant != Variant::Tree => {
            Expect::Changes { image: f.good.clone(), base: Vec::new(), with: strings(&["--trust-config", &f.config]) }
        }
        "--type" if variant == Variant::VerifyAttestation => trusted(&f.good, &["--type", "vuln"]),
        "--policy" if variant == Variant::VerifyAttestation => trusted(&f.good, &["--policy", &f.deny]),
        _ => return None,
    })
}

fn run_variant(variant: Variant, args: &[String], image: &str) -> Run {
    let mut full = vec![variant.command().to_owned()];
    full.extend_from_slice(args);
    full.extend(["-o".into(), "json".into(), image.into()]);
    ironsign(&full.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn every_verification_flag_changes_the_outcome_or_is_refused() {
    let tsa = Tsa::start();
    let f = fixtures(&tsa);
    let mut missing = Vec::new();
    for variant in [
        Variant::Verify,
        Variant::VerifyAttestation,
        Variant::Tree,
        Variant::VerifyTrustConfig,
        Variant::VerifyAttestationTrustConfig,
    ] {
        let flags = listed_flags(&[variant.command()]);
        assert!(flags.contains("--ca-roots") && flags.contains("--crl"), "{variant:?}: help not parsed: {flags:?}");
        for flag in flags {
            if NOT_TRUST.iter().any(|(f, _)| *f == flag) || (variant.trust_config() && flag == "--trust-config") {
                continue;
            }
            let Some(expectation) = expect(variant, &flag, &f) else {
                missing.push(format!("{variant:?} {flag}"));
                continue;
            };
            match expectation {
                Expect::Changes { image, base, with } => {
                    assert_eq!(with[0], flag, "a case must exercise its own flag");
                    let without = outcome(&run_variant(variant, &base, &image));
                    let mut args = base.clone();
                    args.extend(with.iter().cloned());
                    let with_flag = outcome(&run_variant(variant, &args, &image));
                    assert_ne!(without, with_flag, "{variant:?} {flag}: no effect ({base:?} + {with:?})");
                }
                Expect::Refused { value } => {
                    let mut args = strings(&["--trust-config", &f.config, &flag]);
                    args.extend(value);
                    let run = run_variant(variant, &args, &f.good);
                    assert_eq!(run.code, 3, "{variant:?} {flag}: {}", run.stderr);
                    assert!(run.stderr.contains(flag.as_str()), "{variant:?} {flag}: {}", run.stderr);
                }
            }
        }
        // The allow-listed compatibility flags: accepted, and change nothing.
        for (flag, value, _why) in COSIGN_COMPAT_NO_EFFECT {
            let base = if variant.trust_config() {
                strings(&["--trust-config", &f.config])
            } else {
                strings(&["--ca-roots", &pki_file("root.pem"), "--certificate-identity", IDENTITY])
            };
            let mut args = base.clone();
            args.push((*flag).to_owned());
            args.extend(value.map(str::to_owned));
            let with_flag = run_variant(variant, &args, &f.good);
            assert_eq!(with_flag.code, 0, "{variant:?} {flag} is not accepted: {}", with_flag.stderr);
            assert_eq!(outcome(&with_flag), outcome(&run_variant(variant, &base, &f.good)), "{variant:?} {flag}");
        }
    }
    assert!(missing.is_empty(), "flags with no case (add one, or refuse them): {missing:?}");
}
