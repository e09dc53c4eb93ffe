//! cosign commands that pipelines call, run with `ironsign` in their place (issue 14):
//! `import-key-pair` of keys openssl writes, and `version`. Each outcome is checked against the
//! real cosign v2.6.5 and v3.1.3 doing the same.

use ironsign_e2e::*;
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "drop-in-pw";

fn cosign(version: Cosign, args: &[&str], dir: &Path) -> Run {
    in_dir(&version.bin(), args, dir)
}

fn ironsign_in(args: &[&str], dir: &Path) -> Run {
    in_dir(&ironsign_bin(), args, dir)
}

/// Runs `program` in `dir` with the key password in cosign's variable.
fn in_dir(program: &Path, args: &[&str], dir: &Path) -> Run {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("IRONSIGN_PASSWORD")
        .env("COSIGN_PASSWORD", PASSWORD)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Keys as openssl writes them, in each encoding cosign's import-key-pair takes:
/// (file, what it is, whether cosign signs and verifies with it).
fn openssl_keys(dir: &Path) -> Vec<(&'static str, &'static str, bool)> {
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec-sec1.pem"], dir);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec-pkcs8.pem"], dir);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec384-pkcs8.pem"], dir);
    openssl(&["genrsa", "-traditional", "-out", "rsa-pkcs1.pem", "2048"], dir);
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", "rsa-pkcs8.pem"], dir);
    vec![
        ("ec-sec1.pem", "EC PRIVATE KEY", true),
        ("ec-pkcs8.pem", "PRIVATE KEY (EC)", true),
        // cosign signs with P-384 but verifies with SHA-256, so its own P-384 signatures fail.
        ("ec384-pkcs8.pem", "PRIVATE KEY (P-384)", false),
        ("rsa-pkcs1.pem", "RSA PRIVATE KEY", true),
        ("rsa-pkcs8.pem", "PRIVATE KEY (RSA)", true),
    ]
}

/// `ironsign import-key-pair` writes the public key cosign writes for the same input, and a
/// private key file cosign signs with; ironsign signs with cosign's import, and each verifies the
/// other's signature by the imported public key.
#[test]
fn import_key_pair_matches_cosign_for_every_openssl_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (file, what, cosign_signs) in openssl_keys(d) {
        let ours = format!("ours-{file}");
        let out = ironsign_in(&["import-key-pair", "--key", file, "--output-key-prefix", &ours], d).ok();
        assert_eq!(
            out.stderr,
            format!("Private key written to {ours}.key\nPublic key written to {ours}.pub\n"),
            "{what}"
        );
        let theirs = format!("theirs-{file}");
        cosign(Cosign::V2, &["import-key-pair", "--key", file, "-o", &theirs], d).ok();
        let read = |p: String| std::fs::read_to_string(d.join(p)).unwrap();
        assert_eq!(read(format!("{ours}.pub")), read(format!("{theirs}.pub")), "{what}: public keys differ");
        assert!(read(format!("{ours}.key")).starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), "{what}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join(format!("{ours}.key"))).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{what}: private key readable by others");
        }

        // ironsign signs with cosign's import; cosign signs with ironsign's.
        let (_, image) = push_image(&unique_repo("import-key"));
        ironsign_in(&["sign", "--key", &format!("{theirs}.key"), &image], d).ok();
        ironsign_in(&["verify", "--key", &format!("{ours}.pub"), &image], d).ok();
        if cosign_signs {
            for version in Cosign::ALL {
                let (_, image) = push_image(&unique_repo("import-key-cosign"));
                let mut args = vec!["sign", "--allow-http-registry", "--key"];
                let key = format!("{ours}.key");
                args.extend([key.as_str(), "-y"]);
                args.extend(version.legacy_flags(true));
                args.push(&image);
                cosign(version, &args, d).ok();
                ironsign_in(&["verify", "--key", &format!("{theirs}.pub"), &image], d).ok();
                let public = format!("{ours}.pub");
                let mut args = vec!["verify", "--allow-http-registry", "--key", &public, "--insecure-ignore-tlog"];
                args.extend(version.legacy_flags(false));
                args.push(&image);
                cosign(version, &args, d).ok();
            }
        }
    }
}

/// What import refuses, as a hurried user would feed it: an encrypted key (cosign refuses it too),
/// a certificate, keys ironsign cannot sign with, and an existing key pair without `-y`
/// (left untouched).
#[test]
fn import_key_pair_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "plain.pem"], d);
    let enc = ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "plain.pem", "-out", "enc.pem"];
    openssl(&[&enc[..], &["-passout", "pass:x"]].concat(), d);
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", "ed25519.pem"], d);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", "p521.pem"], d);
    std::fs::copy(pki_file("leaf.pem"), d.join("cert.pem")).unwrap();

    let refused = |file: &str, code: &str, says: &str| {
        let out = ironsign_in(&["import-key-pair", "--key", file, "-o", "x"], d);
        assert_ne!(out.code, 0, "{file} imported");
        assert!(out.stderr.contains(&format!("[{code}]")) && out.stderr.contains(says), "{file}: {}", out.stderr);
        assert!(!d.join("x.key").exists() && !d.join("x.pub").exists(), "{file}: files written");
    };
    refused("enc.pem", "KEY_UNSUPPORTED", "unencrypted");
    assert_ne!(cosign(Cosign::V2, &["import-key-pair", "--key", "enc.pem", "-o", "c"], d).code, 0);
    refused("cert.pem", "KEY_PARSE", "no PRIVATE KEY");
    refused("ed25519.pem", "KEY_UNSUPPORTED", "key algorithm");
    refused("p521.pem", "KEY_UNSUPPORTED", "P-256 and P-384");
    let missing = ironsign_in(&["import-key-pair", "--key", "missing.pem"], d);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("missing.pem"), "{}", missing.stderr);

    // An existing pair is kept unless -y; `-y` is a boolean and never takes the next word.
    ironsign_in(&["import-key-pair", "--key", "plain.pem"], d).ok();
    let before = std::fs::read(d.join("import-cosign.key")).unwrap();
    let again = ironsign_in(&["import-key-pair", "--key", "plain.pem"], d);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("import-cosign.key exists") && again.stderr.contains("-y"), "{}", again.stderr);
    assert_eq!(std::fs::read(d.join("import-cosign.key")).unwrap(), before);
    ironsign_in(&["import-key-pair", "-y", "--key", "plain.pem"], d).ok();
    assert_ne!(std::fs::read(d.join("import-cosign.key")).unwrap(), before, "-y did not overwrite");
}

/// `version` prints cosign's layout and its JSON keys, so `| jq -r .gitVersion` keeps working.
#[test]
fn version_has_cosigns_shape() {
    let dir = tempfile::tempdir().unwrap();
    let ours = ironsign_in(&["version", "--json"], dir.path()).ok().json();
    let theirs = cosign(Cosign::V3, &["version", "--json"], dir.path()).ok().json();
    for key in ["gitVersion", "gitCommit", "gitTreeState", "buildDate", "compiler", "platform"] {
        assert!(theirs[key].is_string(), "cosign has no {key}");
        assert!(ours[key].is_string(), "ironsign has no {key}: {ours}");
    }
    assert_eq!(ours["gitVersion"], format!("v{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(ours["platform"], theirs["platform"], "both built for this machine");
    let text = ironsign_in(&["version"], dir.path()).ok().stdout;
    for label in ["GitVersion:", "GitCommit:", "GitTreeState:", "BuildDate:", "Compiler:", "Platform:"] {
        assert!(text.lines().any(|l| l.starts_with(label)), "no {label} line in {text}");
    }
    assert_ne!(ironsign_in(&["version", "--json=maybe"], dir.path()).code, 0);
}
