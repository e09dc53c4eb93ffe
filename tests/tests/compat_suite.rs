//! The drop-in proof (issue 14): a table of cosign invocations as pipelines and verifiers write
//! them. Each case runs first with the real cosign (v2.6.5, then v3.1.3, with the flags each
//! needs for the legacy format without a log) and then with `ironsign` in its place, each tool on
//! its own copy of the image and in its own directory. The outcome (success or refusal) must be
//! the same and the one the case expects, and stdout must have the same shape (the same JSON
//! keys, or as many lines), so `| jq …` and `| base64 -d` lines keep working.
//!
//! Placeholders: `{image}` the tool's copy of the image, `{copy}` another repository of the same
//! registry, `{dir}` the tool's directory, `{sign}`/`{verify}` the version's flags for the legacy
//! format, PKI files by name (`{leaf.pem}`, ...).

use ironsign_e2e::*;
use std::path::Path;

const PASSWORD: &str = "compat-pw";

/// One invocation: the steps that prepare the image (each must succeed), then the compared one.
struct Case {
    name: &'static str,
    setup: &'static [&'static str],
    run: &'static str,
    succeeds: bool,
}

/// Invocations whose output differs on purpose, with why: the outcome must still be the same, and
/// the suite reports them apart.
const DOCUMENTED_DIFFERENCES: &[(&str, Option<Cosign>, &str)] = &[
    (
        "verify -o json",
        None,
        "ironsign's --output json is its verification result document; cosign's default output (the payload array) is ironsign's too",
    ),
    ("version", None, "ironsign is built with rustc: rustVersion stands where cosign has goVersion"),
    (
        "verify-attestation",
        Some(Cosign::V3),
        "ironsign writes envelopes as cosign v2 does (an empty keyid); cosign v3 leaves keyid out",
    ),
    ("attest with chain, verify-attestation by chain", Some(Cosign::V3), "as for verify-attestation"),
];

const KEY_SIGN: &str = "sign --key imp.key {sign} {image}";
const CHAIN_SIGN: &str = "sign --key imp.key --certificate {leaf.pem} --certificate-chain {chain.pem} {sign} {image}";
const CHAIN_ID: &str = "--certificate-identity signer@example.com --certificate-oidc-issuer-regexp .*";
const ATTEST: &str = "attest --key imp.key --type custom --predicate {dir}/predicate.json {sign} {image}";

const CASES: &[Case] = &[
    Case { name: "generate-key-pair", setup: &[], run: "generate-key-pair --output-key-prefix fresh", succeeds: true },
    Case { name: "import-key-pair", setup: &[], run: "import-key-pair --key {leaf.key} -o again", succeeds: true },
    Case { name: "sign by key", setup: &[], run: KEY_SIGN, succeeds: true },
    Case { name: "verify by key", setup: &[KEY_SIGN], run: "verify --key imp.pub {verify} {image}", succeeds: true },
    // cosign's help lists -k for verify, but its parser refuses it; so does ironsign's.
    Case {
        name: "verify -k short form",
        setup: &[KEY_SIGN],
        run: "verify -k imp.pub {verify} {image}",
        succeeds: false,
    },
    Case { name: "verify unsigned", setup: &[], run: "verify --key imp.pub {verify} {image}", succeeds: false },
    Case {
        name: "verify another key",
        setup: &[KEY_SIGN],
        run: "verify --key {dod-leaf.pub} {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "sign -a, verify -a",
        setup: &["sign --key imp.key -a team=ib -a build=7 {sign} {image}"],
        run: "verify --key imp.pub -a team=ib {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "verify -a mismatch",
        setup: &["sign --key imp.key -a team=ib {sign} {image}"],
        run: "verify --key imp.pub -a team=other {verify} {image}",
        succeeds: false,
    },
    Case { name: "sign with chain", setup: &[], run: CHAIN_SIGN, succeeds: true },
    Case {
        name: "verify by chain",
        setup: &[CHAIN_SIGN],
        run: "verify --certificate-chain {chain.pem} {id} --insecure-ignore-sct {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "verify by chain, wrong identity",
        setup: &[CHAIN_SIGN],
        run: "verify --certificate-chain {chain.pem} --certificate-identity nobody@example.com --certificate-oidc-issuer-regexp .* --insecure-ignore-sct {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify by chain, another root",
        setup: &[CHAIN_SIGN],
        run: "verify --certificate-chain {other-chain.pem} {id} --insecure-ignore-sct {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify by roots",
        setup: &[CHAIN_SIGN],
        run: "verify --ca-roots {root.pem} --ca-intermediates {inter.pem} {id} --insecure-ignore-sct {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "verify by roots, another root",
        setup: &[CHAIN_SIGN],
        run: "verify --ca-roots {other-root.pem} {id} --insecure-ignore-sct {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify identity regexp",
        setup: &[CHAIN_SIGN],
        run: "verify --certificate-chain {chain.pem} --certificate-identity-regexp ^signer@ --certificate-oidc-issuer-regexp .* --insecure-ignore-sct {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "verify identity regexp mismatch",
        setup: &[CHAIN_SIGN],
        run: "verify --certificate-chain {chain.pem} --certificate-identity-regexp ^nobody@ --certificate-oidc-issuer-regexp .* --insecure-ignore-sct {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify unsigned by chain",
        setup: &[],
        run: "verify --certificate-chain {chain.pem} {id} --insecure-ignore-sct {verify} {image}",
        succeeds: false,
    },
    Case { name: "attest", setup: &[], run: ATTEST, succeeds: true },
    Case {
        name: "verify-attestation",
        setup: &[ATTEST],
        run: "verify-attestation --key imp.pub --type custom {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "verify-attestation, another type",
        setup: &[ATTEST],
        run: "verify-attestation --key imp.pub --type slsaprovenance {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify-attestation, another key",
        setup: &[ATTEST],
        run: "verify-attestation --key {dod-leaf.pub} --type custom {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify-attestation of an unattested image",
        setup: &[KEY_SIGN],
        run: "verify-attestation --key imp.pub --type custom {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "attest with chain, verify-attestation by chain",
        setup: &[
            "attest --key imp.key --certificate {leaf.pem} --certificate-chain {chain.pem} --type custom --predicate {dir}/predicate.json {sign} {image}",
        ],
        run: "verify-attestation --certificate-chain {chain.pem} {id} --insecure-ignore-sct --type custom {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "download signature",
        setup: &[KEY_SIGN],
        run: "download signature --allow-http-registry {image}",
        succeeds: true,
    },
    Case {
        name: "download attestation",
        setup: &[ATTEST],
        run: "download attestation --allow-http-registry {image}",
        succeeds: true,
    },
    Case { name: "triangulate", setup: &[], run: "triangulate --allow-http-registry {image}", succeeds: true },
    Case {
        name: "triangulate attestation",
        setup: &[],
        run: "triangulate --type attestation --allow-http-registry {image}",
        succeeds: true,
    },
    Case { name: "generate", setup: &[], run: "generate --allow-http-registry -a a=1 {image}", succeeds: true },
    Case {
        name: "sign --upload=false",
        setup: &[],
        run: "sign --key imp.key --upload=false --output-signature {dir}/s.b64 --output-payload {dir}/p.json {sign} {image}",
        succeeds: true,
    },
    Case {
        name: "attach signature then verify",
        setup: &[
            "sign --key imp.key --upload=false --output-signature {dir}/s.b64 --output-payload {dir}/p.json {sign} {image}",
            "attach signature --allow-http-registry --payload {dir}/p.json --signature {dir}/s.b64 {image}",
        ],
        run: "verify --key imp.pub {verify} {image}",
        succeeds: true,
    },
    Case {
        name: "copy then verify the copy",
        setup: &[KEY_SIGN, "copy --allow-http-registry {image} {copy}"],
        run: "verify --key imp.pub {verify} {copy}",
        succeeds: true,
    },
    Case {
        name: "save, load, verify",
        setup: &[KEY_SIGN, "save --dir {dir}/layout {image}", "load --allow-http-registry --dir {dir}/layout {copy}"],
        run: "verify --key imp.pub {verify} {copy}",
        succeeds: true,
    },
    Case {
        name: "clean, then verify",
        setup: &[KEY_SIGN, "clean --allow-http-registry --force {image}"],
        run: "verify --key imp.pub {verify} {image}",
        succeeds: false,
    },
    Case {
        name: "verify -o json",
        setup: &[KEY_SIGN],
        run: "verify --key imp.pub --output json {verify} {image}",
        succeeds: true,
    },
    Case { name: "version", setup: &[], run: "version --json", succeeds: true },
];

/// The tool a case runs with.
#[derive(Clone, Copy, Debug)]
enum Tool {
    Cosign(Cosign),
    Ironsign(Cosign),
}

impl Tool {
    fn version(self) -> Cosign {
        match self {
            Tool::Cosign(v) | Tool::Ironsign(v) => v,
        }
    }

    fn run(self, args: &[String], dir: &Path) -> Run {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let program = match self {
            Tool::Cosign(v) => v.bin(),
            Tool::Ironsign(_) => ironsign_bin(),
        };
        let home = dir.to_str().unwrap();
        run_in(&program, &args, dir, &[("COSIGN_PASSWORD", PASSWORD), ("HOME", home)])
    }
}

/// `template` with its placeholders filled for `tool`, split into words.
fn expand(template: &str, tool: Tool, image: &str, copy: &str, dir: &Path) -> Vec<String> {
    let version = tool.version();
    let sign = ["--allow-http-registry", "-y"].iter().copied().chain(version.legacy_flags(true)).collect::<Vec<_>>();
    let mut verify = vec!["--allow-http-registry", "--insecure-ignore-tlog"];
    verify.extend(version.legacy_flags(false));
    let mut out = Vec::new();
    for word in template.replace("{id}", CHAIN_ID).split_whitespace() {
        match word {
            "{sign}" => out.extend(sign.iter().map(|s| (*s).to_owned())),
            "{verify}" => out.extend(verify.iter().map(|s| (*s).to_owned())),
            _ => {
                let mut w = word.replace("{image}", image).replace("{copy}", copy);
                w = w.replace("{dir}", dir.to_str().unwrap());
                while let (Some(start), Some(end)) = (w.find('{'), w.find('}')) {
                    let name = w[start + 1..end].to_owned();
                    w = w.replace(&format!("{{{name}}}"), &pki_file(&name));
                }
                out.push(w);
            }
        }
    }
    out
}

/// What must match between the tools: per stdout line, the JSON value's shape (keys, recursively,
/// and value kinds) or "text".
fn shape(stdout: &str) -> Vec<String> {
    fn of(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Object(m) => {
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", of(v))).collect();
                format!("{{{}}}", inner.join(","))
            }
            serde_json::Value::Array(a) => format!("[{}]", a.first().map(of).unwrap_or_default()),
            serde_json::Value::String(_) => "s".into(),
            serde_json::Value::Number(_) => "n".into(),
            serde_json::Value::Bool(_) => "b".into(),
            serde_json::Value::Null => "null".into(),
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(stdout) {
        return vec![of(&v)];
    }
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).map(|v| of(&v)).unwrap_or_else(|_| "text".into()))
        .collect()
}

/// Runs `case` with `tool` on a fresh copy of the test image: (outcome, stdout shape).
fn run_case(case: &Case, tool: Tool) -> Result<(bool, Vec<String>), String> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("predicate.json"), r#"{"scan":"compat"}"#).unwrap();
    let (_, image) = push_image(&unique_repo("compat"));
    let copy = format!("{}/{}:copy", registry(RegistryKind::Plain), unique_repo("compat-copy"));
    let import = tool.run(&expand("import-key-pair --key {leaf.key} -o imp", tool, &image, &copy, d), d);
    if import.code != 0 {
        return Err(format!("import-key-pair: {}", import.stderr));
    }
    for step in case.setup {
        let out = tool.run(&expand(step, tool, &image, &copy, d), d);
        if out.code != 0 {
            return Err(format!("setup {step:?} failed: {}", out.stderr));
        }
    }
    let out = tool.run(&expand(case.run, tool, &image, &copy, d), d);
    Ok((out.code == 0, shape(&out.stdout)))
}

/// Every case behaves the same with ironsign as with cosign, for both cosign releases.
#[test]
fn ironsign_runs_cosigns_invocations_with_the_same_outcome_and_output_shape() {
    let (mut same, mut documented) = (0, 0);
    let mut differences = Vec::new();
    let total = CASES.len() * Cosign::ALL.len();
    for version in Cosign::ALL {
        for case in CASES {
            let theirs = run_case(case, Tool::Cosign(version));
            let ours = run_case(case, Tool::Ironsign(version));
            let documented_here = DOCUMENTED_DIFFERENCES
                .iter()
                .any(|(name, only, _)| *name == case.name && only.is_none_or(|v| v == version));
            match (theirs, ours) {
                (Ok(t), Ok(o)) if t == o && t.0 == case.succeeds => same += 1,
                (Ok(t), Ok(o)) if documented_here && t.0 == o.0 && t.0 == case.succeeds => documented += 1,
                (t, o) => differences.push(format!("{version:?} {}: cosign {t:?}, ironsign {o:?}", case.name)),
            }
        }
    }
    eprintln!(
        "compat suite: {same} of {total} invocations behave the same; {documented} differ in output as documented"
    );
    assert!(differences.is_empty(), "{} of {total} differ:\n{}", differences.len(), differences.join("\n"));
}
