//! Flags parse as cosign's (spf13/pflag): the verification lines of cosign's documentation, with
//! boolean flags before the image, give ironsign, cosign v2 and cosign v3 the same outcome; and
//! no flag listed by any command's `--help` takes the next word as its value.

use ironsign_e2e::*;

const PASSWORD: &str = "flags-pw";

/// Who runs a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ironsign,
    Cosign(Cosign),
}

const TOOLS: [Tool; 3] = [Tool::Ironsign, Tool::Cosign(Cosign::V2), Tool::Cosign(Cosign::V3)];

impl Tool {
    /// Runs `args`, with the flags cosign v3 needs for the legacy format (and no signing config)
    /// put right after the command name, so the rest of the line keeps its order.
    fn run(self, args: &[&str], signing: bool) -> Run {
        let mut line = vec![args[0]];
        let program = match self {
            Tool::Ironsign => ironsign_bin(),
            Tool::Cosign(version) => {
                line.extend(version.legacy_flags(signing).into_iter().filter(|f| *f != "--tlog-upload=false"));
                version.bin()
            }
        };
        line.extend_from_slice(&args[1..]);
        run(&program, &line, &[("COSIGN_PASSWORD", PASSWORD), ("IRONSIGN_REGISTRY_TIMEOUT", "20")])
    }
}

/// Expected outcome of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
}

fn outcome(run: &Run) -> Outcome {
    if run.code == 0 { Outcome::Success } else { Outcome::Failure }
}

/// Runs each line with every tool and checks every tool gives the expected outcome.
fn check_lines(lines: &[(Vec<&str>, Outcome)], signing: bool, fresh_image: &dyn Fn() -> String) {
    let mut mismatches = Vec::new();
    for (line, expected) in lines {
        for tool in TOOLS {
            let image = fresh_image();
            let args: Vec<&str> = line.iter().map(|a| if *a == "IMAGE" { image.as_str() } else { a }).collect();
            let run = tool.run(&args, signing);
            if outcome(&run) != *expected {
                mismatches.push(format!(
                    "{tool:?} {}: exit {} (expected {expected:?})\n  stderr: {}",
                    line.join(" "),
                    run.code,
                    run.stderr.trim().lines().last().unwrap_or("")
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A key pair in cosign's encrypted format, readable by all three tools.
fn cosign_key_pair(dir: &std::path::Path) -> (String, String) {
    let prefix = dir.join("flags").display().to_string();
    run(&ironsign_bin(), &["generate-key-pair", "--output-key-prefix", &prefix], &[("COSIGN_PASSWORD", PASSWORD)]).ok();
    (format!("{prefix}.key"), format!("{prefix}.pub"))
}

#[test]
fn cosign_documented_verify_lines_behave_as_in_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_key_pair(dir.path());
    let (tagged, image) = push_image(&unique_repo("flags-verify"));
    let (leaf, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    ironsign(&["sign", "--key", &leaf, "--certificate", &cert, "--certificate-chain", &chain, &tagged]).ok();
    ironsign_env(&["sign", "--key", &key, &tagged], &[("COSIGN_PASSWORD", PASSWORD)]).ok();
    let other = pki_file("other-leaf.pem");
    let other_public = dir.path().join("other.pub");
    let out =
        std::process::Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in", &other]).output().unwrap();
    std::fs::write(&other_public, out.stdout).unwrap();
    let other_public = other_public.display().to_string();
    let identity = ["--certificate-identity", "signer@example.com", "--certificate-oidc-issuer-regexp", ".*"];
    let by_chain = |extra: &[&'static str]| {
        let mut line = vec!["verify", "--certificate-chain", chain.as_str()];
        line.extend(identity);
        line.extend_from_slice(extra);
        line.push("IMAGE");
        line
    };
    use Outcome::*;
    let lines: Vec<(Vec<&str>, Outcome)> = vec![
        // cosign's documented line for a key, the boolean before the image.
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog", "IMAGE"], Success),
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog=true", "--allow-http-registry", "IMAGE"], Success),
        (vec!["verify", "--allow-http-registry", "--key", &public, "--insecure-ignore-tlog=1", "IMAGE"], Success),
        (vec!["verify", "--insecure-ignore-tlog=T", "--allow-http-registry=True", "--key", &public, "IMAGE"], Success),
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog", "--allow-http-registry=false", "IMAGE"], Success),
        (
            vec!["verify", "--key", &public, "--insecure-ignore-tlog", "--allow-insecure-registry=false", "IMAGE"],
            Success,
        ),
        // Asking for the log (cosign: no log entry; ironsign: no log) fails.
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog=false", "IMAGE"], Failure),
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog=0", "IMAGE"], Failure),
        // A key-only verification checks no SCT, so requiring one changes nothing.
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog", "--insecure-ignore-sct=false", "IMAGE"], Success),
        // Not a boolean.
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog=maybe", "IMAGE"], Failure),
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog=", "IMAGE"], Failure),
        // `false` after a boolean is an image (docker.io/library/false), which cannot be reached.
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog", "false", "IMAGE"], Failure),
        // The wrong key fails whatever the flags.
        (vec!["verify", "--key", &other_public, "--insecure-ignore-tlog", "IMAGE"], Failure),
        // cosign's private-PKI line: booleans before the image.
        (by_chain(&["--insecure-ignore-sct", "--insecure-ignore-tlog"]), Success),
        (by_chain(&["--insecure-ignore-sct=true", "--insecure-ignore-tlog=t", "--allow-http-registry"]), Success),
        // Requiring an SCT fails: private certificates have none.
        (by_chain(&["--insecure-ignore-sct=false", "--insecure-ignore-tlog"]), Failure),
        (by_chain(&["--insecure-ignore-sct", "--insecure-ignore-tlog", "true"]), Failure),
    ];
    check_lines(&lines, false, &|| image.clone());
}

#[test]
fn cosign_sign_lines_behave_as_in_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = cosign_key_pair(dir.path());
    use Outcome::*;
    let lines: Vec<(Vec<&str>, Outcome)> = vec![
        (vec!["sign", "--key", &key, "--tlog-upload=false", "-y", "IMAGE"], Success),
        (vec!["sign", "--key", &key, "-y", "--tlog-upload=false", "--recursive", "IMAGE"], Success),
        (vec!["sign", "--key", &key, "--tlog-upload=F", "--recursive=false", "--yes=true", "IMAGE"], Success),
        (vec!["sign", "--tlog-upload=0", "--allow-http-registry", "--key", &key, "-y", "IMAGE"], Success),
        (vec!["sign", "--key", &key, "--tlog-upload=false", "--recursive=yes", "-y", "IMAGE"], Failure),
    ];
    check_lines(&lines, true, &|| push_image(&unique_repo("flags-sign")).0);
}

#[test]
fn allow_insecure_registry_skips_registry_certificate_checks_as_in_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_key_pair(dir.path());
    let addr = registry(RegistryKind::Tls);
    let image = format!("{addr}/{}:v1", unique_repo("flags-insecure"));
    let tls_ca = pki_file("tls-ca.pem");
    let client = ironsign::RegistryClient::new(ironsign::RegistryOptions {
        ca_certificates_pem: vec![std::fs::read(&tls_ca).unwrap()],
        ..Default::default()
    })
    .unwrap();
    push_minimal_image(&client, &ironsign::ImageReference::parse(&image).unwrap());
    ironsign_env(&["sign", "--key", &key, "--registry-cacert", &tls_ca, &image], &[("COSIGN_PASSWORD", PASSWORD)]).ok();
    use Outcome::*;
    let lines: Vec<(Vec<&str>, Outcome)> = vec![
        // The registry's certificate is from a CA nobody was told about.
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog", "IMAGE"], Failure),
        (vec!["verify", "--key", &public, "--insecure-ignore-tlog", "--allow-insecure-registry", "IMAGE"], Success),
        (
            vec!["verify", "--allow-insecure-registry=true", "--key", &public, "--insecure-ignore-tlog", "IMAGE"],
            Success,
        ),
        (
            vec![
                "verify",
                "--allow-insecure-registry",
                "--allow-http-registry",
                "--key",
                &public,
                "--insecure-ignore-tlog",
                "IMAGE",
            ],
            Success,
        ),
        (
            vec!["verify", "--allow-insecure-registry=false", "--key", &public, "--insecure-ignore-tlog", "IMAGE"],
            Failure,
        ),
    ];
    check_lines(&lines, false, &|| image.clone());
    // Signing through it as well.
    let line = vec!["sign", "--key", &key, "--allow-insecure-registry", "--tlog-upload=false", "-y", "IMAGE"];
    check_lines(&[(line, Success)], true, &|| image.clone());
}

/// The commands of `ironsign --help`, with their subcommands: (path, help text).
fn commands(path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let help = ironsign(&args).ok().stdout;
    let mut in_commands = false;
    let mut subcommands = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') {
            in_commands = line.trim_end() == "Commands:";
            continue;
        }
        if in_commands {
            let name = line.split_whitespace().next().unwrap_or("").to_owned();
            if name != "help" && !name.is_empty() {
                subcommands.push(name);
            }
        }
    }
    out.push((path.clone(), help));
    for name in subcommands {
        let mut p = path.clone();
        p.push(name);
        commands(p, out);
    }
}

/// How a flag in `--help` takes a value.
#[derive(Debug, PartialEq, Eq)]
enum Takes {
    Nothing,
    OptionalAfterEquals,
    OptionalNextWord,
    Required,
}

/// The long flags of a help text (help and version excluded).
fn flags(help: &str) -> Vec<(String, Takes)> {
    let mut out = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        let trimmed = match trimmed.split_once(", ") {
            Some((short, rest)) if short.len() == 2 && short.starts_with('-') => rest,
            _ => trimmed,
        };
        let Some(rest) = trimmed.strip_prefix("--") else { continue };
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        if name == "help" || name == "version" {
            continue;
        }
        let takes = if after.starts_with("[=") {
            Takes::OptionalAfterEquals
        } else if after.starts_with(" [<") {
            Takes::OptionalNextWord
        } else if after.starts_with(" <") {
            Takes::Required
        } else {
            Takes::Nothing
        };
        out.push((format!("--{name}"), takes));
    }
    out
}

/// cosign's boolean flags that ironsign accepts but does not list in `--help`.
const HIDDEN_BOOLEANS: &[(&str, &str)] = &[
    ("verify", "--insecure-ignore-tlog"),
    ("verify", "--insecure-ignore-sct"),
    ("verify", "--new-bundle-format"),
    ("verify-attestation", "--insecure-ignore-tlog"),
    ("verify-attestation", "--insecure-ignore-sct"),
    ("verify-attestation", "--new-bundle-format"),
    ("sign", "--yes"),
    ("sign", "--new-bundle-format"),
    ("sign", "--use-signing-config"),
    ("attest", "--yes"),
    ("attest", "--new-bundle-format"),
    ("attest", "--use-signing-config"),
    ("sign-blob", "--yes"),
    ("sign-blob", "--use-signing-config"),
    ("attest-blob", "--yes"),
    ("attest-blob", "--use-signing-config"),
    ("verify-blob", "--insecure-ignore-tlog"),
    ("verify-blob", "--insecure-ignore-sct"),
    ("verify-blob", "--new-bundle-format"),
    ("verify-blob", "--private-infrastructure"),
    ("verify-blob", "--offline"),
    ("verify-blob", "--allow-certificate-chain"),
    ("verify-blob-attestation", "--insecure-ignore-tlog"),
    ("verify-blob-attestation", "--insecure-ignore-sct"),
    ("verify-blob-attestation", "--new-bundle-format"),
    ("verify-blob-attestation", "--private-infrastructure"),
    ("verify-blob-attestation", "--offline"),
    ("verify-blob-attestation", "--allow-certificate-chain"),
];

#[test]
fn no_flag_of_any_command_takes_the_next_word_as_a_boolean_value() {
    let mut all = Vec::new();
    commands(Vec::new(), &mut all);
    assert!(all.len() > 20, "only {} commands found", all.len());
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for (path, help) in &all {
        let mut listed = flags(help);
        let cmd = path.join(" ");
        listed.extend(HIDDEN_BOOLEANS.iter().filter(|(c, _)| *c == cmd).map(|(_, f)| (f.to_string(), Takes::Nothing)));
        for (flag, takes) in listed {
            match takes {
                Takes::Required => continue,
                Takes::OptionalNextWord => {
                    wrong.push(format!("{cmd} {flag}: its optional value may be the next word"));
                    continue;
                }
                Takes::Nothing | Takes::OptionalAfterEquals => {}
            }
            // The word after a boolean is never its value, and =false is always a value (unless
            // refused because it asks for what ironsign cannot do).
            let mut argv: Vec<&str> = path.iter().map(String::as_str).collect();
            argv.extend([flag.as_str(), "NOT-A-VALUE"]);
            let run = ironsign_env(&argv, &[("IRONSIGN_REGISTRY_TIMEOUT", "5")]);
            if run.stderr.contains(&format!("'NOT-A-VALUE' for '{flag}")) {
                wrong.push(format!("{}: {}", argv.join(" "), run.stderr.trim()));
            }
            let mut argv: Vec<&str> = path.iter().map(String::as_str).collect();
            let with_false = format!("{flag}=false");
            argv.extend([with_false.as_str(), "NOT-A-VALUE"]);
            let run = ironsign_env(&argv, &[("IRONSIGN_REGISTRY_TIMEOUT", "5")]);
            if run.stderr.contains(&format!("'false' for '{flag}")) && !run.stderr.contains("false: ironsign ") {
                wrong.push(format!("{}: {}", argv.join(" "), run.stderr.trim()));
            }
            checked.push(format!("{cmd} {flag}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked.len() > 30, "only {} boolean flags checked: {checked:?}", checked.len());
}
