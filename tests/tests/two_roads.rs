//! Two roads, one answer: for every PKI fixture, `verify --trust-config` and `verify` with the
//! equivalent flags give the same verdict and the same rejection codes, and so do the Rust API's
//! two roads (`trust_config::verify_image` and `Verifier` with the same roots, CRLs, TSA and
//! identity). Each fixture's trust setting is written once and rendered as flags, as a trust
//! configuration and as API values, so the roads cannot be given different inputs by mistake.

use ironsign::{Certificate, Error, ImageReference, Policy, TrustRoot, VerificationError, Verifier};
use ironsign_e2e::*;
use std::path::{Path, PathBuf};

const IDENTITY: &str = "signer@example.com";

/// What a fixture is verified under: PKI file names, and an optional CRL file.
struct TrustSetting {
    roots: &'static str,
    intermediates: Option<&'static str>,
    crl: Option<PathBuf>,
    tsa_chain: Option<&'static str>,
}

impl TrustSetting {
    fn new(roots: &'static str, intermediates: Option<&'static str>) -> Self {
        TrustSetting { roots, intermediates, crl: None, tsa_chain: None }
    }

    fn flags(&self) -> Vec<String> {
        let mut f = vec!["--ca-roots".to_owned(), pki_file(self.roots)];
        if let Some(i) = self.intermediates {
            f.extend(["--ca-intermediates".to_owned(), pki_file(i)]);
        }
        if let Some(crl) = &self.crl {
            f.extend(["--crl".to_owned(), crl.to_str().unwrap().to_owned()]);
        }
        if let Some(t) = self.tsa_chain {
            f.extend(["--timestamp-certificate-chain".to_owned(), pki_file(t)]);
        }
        f.extend(["--certificate-identity".to_owned(), IDENTITY.to_owned()]);
        f
    }

    fn write_config(&self, dir: &Path, name: &str) -> PathBuf {
        let mut text = format!(
            "version: 1\nimages: [\"{}/e2e/**\"]\nroots:\n  - file: {}\nidentity:\n  san: {IDENTITY}\n",
            registry(RegistryKind::Plain),
            pki_file(self.roots)
        );
        if let Some(i) = self.intermediates {
            text.push_str(&format!("intermediates:\n  - file: {}\n", pki_file(i)));
        }
        if let Some(crl) = &self.crl {
            text.push_str(&format!("crls:\n  - file: {}\n", crl.display()));
        }
        if let Some(t) = self.tsa_chain {
            text.push_str(&format!("tsa:\n  chain:\n    file: {}\n", pki_file(t)));
        }
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The API's trust root and policy for the same setting.
    fn api(&self) -> Result<(TrustRoot, Policy), Error> {
        let read = |name: &str| std::fs::read(pki().join(name)).unwrap();
        let roots = Certificate::from_pem_many(&read(self.roots), self.roots, 100)?;
        let intermediates = match self.intermediates {
            Some(i) => Certificate::from_pem_many(&read(i), i, 100)?,
            None => Vec::new(),
        };
        let mut trust = TrustRoot::from_certificates(roots, intermediates)?;
        if let Some(crl) = &self.crl {
            trust = trust.with_crls(&std::fs::read(crl).unwrap(), "crl")?;
        }
        if let Some(t) = self.tsa_chain {
            trust = trust.with_timestamp_authorities(ironsign::TimestampAuthorities::from_pem(&read(t))?);
        }
        Ok((trust, Policy::identity(ironsign::Identity::san(IDENTITY))))
    }
}

/// A verdict: `ok`, or the error code with the rejection codes.
fn verdict_of_error(e: &Error) -> String {
    let rejections = match e {
        Error::Verification(VerificationError::NoMatchingSignature { rejections, .. }) => {
            rejections.iter().map(|r| r.code).collect::<Vec<_>>()
        }
        _ => Vec::new(),
    };
    format!("{} {rejections:?}", e.code())
}

fn cli_verdict(run: &Run) -> String {
    if run.code == 0 {
        return "ok".into();
    }
    let json = run.json();
    let error = &json["error"];
    let rejections: Vec<&str> = error
        .pointer("/details/NoMatchingSignature/rejections")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|r| r["code"].as_str()).collect())
        .unwrap_or_default();
    format!("{} {rejections:?}", error["code"].as_str().unwrap_or("?"))
}

fn api_verdict<T>(result: Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => verdict_of_error(&e),
    }
}

/// Signs `image`'s payload with a PKI key and certificate, as a raw `.sig` layer (for
/// certificates `ironsign sign` refuses to sign with).
fn push_signed_by(image: &str, key: &str, cert: &str, chain: &str) {
    let payload = payload_for(image);
    let layer = signed_layer(&payload, key, Some(cert), Some(chain));
    push_raw_signatures(image, &[(payload, layer)]);
}

#[test]
fn verify_and_trust_config_give_one_answer_on_every_fixture() {
    let tsa = Tsa::start();
    let dir = tempfile::tempdir().unwrap();
    let revoked = dir.path().join("revoked.pem");
    make_crl(dir.path(), "inter", &["leaf"], None, &revoked);
    let main = || TrustSetting::new("root.pem", Some("inter.pem"));
    let lapsed = || TrustSetting {
        tsa_chain: Some("tsa-ecdsa-chain.pem"),
        ..TrustSetting::new("lapsed-root.pem", Some("lapsed-inter.pem"))
    };
    let (leaf_key, leaf, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let sign = |image: &str| {
        ironsign(&["sign", "--key", &leaf_key, "--certificate", &leaf, "--certificate-chain", &chain, image]).ok()
    };
    let sign_lapsed = |image: &str, tsa_offset: &str| {
        let (key, cert, chain) =
            (pki_file("leaf-lapsed.key"), pki_file("leaf-lapsed.pem"), pki_file("chain-lapsed.pem"));
        let url = tsa.url("ecdsa", Some(tsa_offset));
        let args = [
            "sign",
            "--key",
            &key,
            "--certificate",
            &cert,
            "--certificate-chain",
            &chain,
            "--timestamp-server-url",
            &url,
            image,
        ];
        ironsign_at("-100d", &args).ok();
    };

    // (name, trust setting, image, expected verdict)
    let mut fixtures: Vec<(&str, TrustSetting, String, &str)> = Vec::new();
    let image = |name: &str| push_image(&unique_repo(&format!("roads-{name}"))).1;

    let good = image("good");
    sign(&good);
    fixtures.push(("good", main(), good.clone(), "ok"));

    let expired = image("expired");
    push_signed_by(&expired, "leaf-expired.key", "leaf-expired.pem", "chain.pem");
    fixtures.push(("expired", main(), expired, r#"NO_MATCHING_SIGNATURE ["CERT_EXPIRED"]"#));

    let future = image("future");
    push_signed_by(&future, "leaf-future.key", "leaf-future.pem", "chain.pem");
    fixtures.push(("not yet valid", main(), future, r#"NO_MATCHING_SIGNATURE ["CERT_NOT_YET_VALID"]"#));

    let revoked_image = image("revoked");
    sign(&revoked_image);
    fixtures.push((
        "revoked",
        TrustSetting { crl: Some(revoked.clone()), ..main() },
        revoked_image,
        r#"NO_MATCHING_SIGNATURE ["CERT_REVOKED"]"#,
    ));

    let wrong_eku = image("eku");
    push_signed_by(&wrong_eku, "leaf-serverauth.key", "leaf-serverauth.pem", "chain.pem");
    fixtures.push(("wrong EKU", main(), wrong_eku, r#"NO_MATCHING_SIGNATURE ["CERT_NO_CODE_SIGNING"]"#));

    let other = image("other");
    push_signed_by(&other, "other-leaf.key", "other-leaf.pem", "other-chain.pem");
    fixtures.push(("other root", main(), other, r#"NO_MATCHING_SIGNATURE ["CERT_UNTRUSTED_CHAIN"]"#));

    fixtures.push(("intermediate as root", TrustSetting::new("inter.pem", None), good.clone(), "CERT_NOT_A_ROOT []"));

    let tampered = image("tampered");
    let payload = payload_for(&tampered);
    let layer = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let mut changed = payload.clone();
    changed.push(b' ');
    push_raw_signatures(&tampered, &[(changed, layer)]);
    fixtures.push(("tampered payload", main(), tampered, r#"NO_MATCHING_SIGNATURE ["BAD_SIGNATURE"]"#));

    let copied = image("copied");
    let good_layer = {
        let reference = ImageReference::parse(&good).unwrap();
        let signed = block_on(async { client().fetch_signatures(&reference).await.unwrap() });
        let l = signed.signatures.into_iter().next().unwrap();
        (l.payload, l.annotations)
    };
    push_raw_signatures(&copied, &[good_layer]);
    fixtures.push(("copied signature", main(), copied, r#"NO_MATCHING_SIGNATURE ["DIGEST_MISMATCH"]"#));

    let before = image("ts-before");
    sign_lapsed(&before, "-100d");
    fixtures.push(("timestamped before expiry", lapsed(), before, "ok"));

    let after = image("ts-after");
    sign_lapsed(&after, "-10d");
    fixtures.push(("timestamped after expiry", lapsed(), after, r#"NO_MATCHING_SIGNATURE ["CERT_EXPIRED"]"#));

    for (name, setting, image, expected) in &fixtures {
        let config = setting.write_config(dir.path(), &name.replace(' ', "-"));
        let mut args = vec!["verify".to_owned(), "-o".into(), "json".into()];
        args.extend(setting.flags());
        args.push(image.clone());
        let by_flags = ironsign(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let by_config = ironsign(&["verify", "-o", "json", "--trust-config", config.to_str().unwrap(), image]);
        assert_eq!(by_flags.code, by_config.code, "{name}: exit codes\n{}\n{}", by_flags.stderr, by_config.stderr);
        let verdict = cli_verdict(&by_flags);
        assert_eq!(verdict, cli_verdict(&by_config), "{name}: CLI roads differ");
        assert_eq!(verdict, *expected, "{name}: {}", by_flags.stderr);

        let reference = ImageReference::parse(image).unwrap();
        let by_verifier = api_verdict(setting.api().and_then(|(trust, policy)| {
            let signed = block_on(async { client().fetch_signatures(&reference).await })?;
            Verifier::new(trust).verify(&signed, &policy)
        }));
        let by_trust_config = api_verdict(ironsign::TrustConfig::from_file(&config).and_then(|config| {
            block_on(async { ironsign::trust_config::verify_image(&client(), &config, &reference).await })
        }));
        assert_eq!(by_verifier, by_trust_config, "{name}: API roads differ");
        assert_eq!(by_verifier, verdict, "{name}: the API and the CLI differ");
    }
}
