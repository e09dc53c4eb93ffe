//! The whole command tree, hidden flags included, parses booleans as cosign's pflag does: a flag
//! that may go without a value never takes the next word as one.

use crate::{Cli, args};
use clap::{ArgAction, ArgMatches, Command, CommandFactory};
use std::any::TypeId;

/// The command line as `main` parses it.
fn command() -> Command {
    args::pflag_booleans(Cli::command())
}

/// Every (subcommand path, command) of the tree.
fn commands(command: &Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Command)>) {
    out.push((path.clone(), command.clone()));
    for sub in command.get_subcommands() {
        let mut p = path.clone();
        p.push(sub.get_name().to_owned());
        commands(sub, p, out);
    }
}

fn all_commands() -> Vec<(Vec<String>, Command)> {
    let mut built = command();
    built.build();
    let mut out = Vec::new();
    commands(&built, Vec::new(), &mut out);
    out
}

fn is_boolean(arg: &clap::Arg) -> bool {
    arg.get_value_parser().type_id() == TypeId::of::<bool>()
}

/// The matches of the innermost subcommand.
fn innermost(matches: &ArgMatches, path: &[String]) -> ArgMatches {
    path.iter().fold(matches.clone(), |m, name| m.subcommand_matches(name).expect("subcommand parsed").clone())
}

/// Parses `ironsign PATH… ARGS…`, ignoring errors that are not about the flag (missing required
/// flags), so one flag can be looked at alone.
fn parse_leniently(path: &[String], extra: &[&str]) -> ArgMatches {
    let argv = std::iter::once("ironsign").chain(path.iter().map(String::as_str)).chain(extra.iter().copied());
    let matches = command().ignore_errors(true).try_get_matches_from(argv).expect("parses");
    innermost(&matches, path)
}

#[test]
fn a_flag_that_may_go_without_a_value_takes_it_only_after_equals() {
    for (path, sub) in all_commands() {
        for arg in sub.get_arguments().filter(|a| !a.is_positional()) {
            let name = format!("{} --{}", path.join(" "), arg.get_long().unwrap_or(arg.get_id().as_str()));
            assert!(
                !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse),
                "{name}: a plain switch rejects cosign's --flag=false"
            );
            let optional_value = arg.get_num_args().is_some_and(|n| n.takes_values() && n.min_values() == 0);
            assert!(!optional_value || arg.is_require_equals_set(), "{name}: would take the next word as its value");
            if is_boolean(arg) {
                assert!(optional_value, "{name}: a boolean must work as a bare --flag");
            }
        }
    }
}

#[test]
fn every_boolean_reads_pflag_spellings_and_leaves_the_next_word_alone() {
    let mut seen = 0;
    for (path, sub) in all_commands() {
        for arg in sub.get_arguments().filter(|a| !a.is_positional() && is_boolean(a)) {
            let id = arg.get_id().as_str();
            let flag = format!("--{}", arg.get_long().expect("booleans are long flags"));
            // Whether a value is refused as asking for what ironsign cannot do.
            let refused = |value: bool| {
                command()
                    .try_get_matches_from(
                        std::iter::once("ironsign".to_owned())
                            .chain(path.iter().cloned())
                            .chain([format!("{flag}={value}")]),
                    )
                    .is_err_and(|e| {
                        e.kind() == clap::error::ErrorKind::ValueValidation && e.to_string().contains(": ironsign ")
                    })
            };
            let (true_refused, false_refused) = (refused(true), refused(false));
            assert!(!(true_refused && false_refused), "{path:?} {flag}: both values refused");
            let bare_means_true = !true_refused;
            let m = parse_leniently(&path, &[&flag, "next-word"]);
            if bare_means_true {
                assert_eq!(m.get_one::<bool>(id), Some(&true), "{path:?} {flag} next-word");
            }
            let raw: Vec<_> = m.get_raw(id).into_iter().flatten().collect();
            assert!(!raw.iter().any(|v| *v == "next-word"), "{path:?} {flag} took the next word");
            for (spelling, value) in [
                ("1", true),
                ("t", true),
                ("T", true),
                ("TRUE", true),
                ("true", true),
                ("True", true),
                ("0", false),
                ("f", false),
                ("F", false),
                ("FALSE", false),
                ("false", false),
                ("False", false),
            ] {
                if (value && true_refused) || (!value && false_refused) {
                    continue;
                }
                let m = parse_leniently(&path, &[&format!("{flag}={spelling}")]);
                assert_eq!(m.get_one::<bool>(id), Some(&value), "{path:?} {flag}={spelling}");
            }
            for bad in ["", "yes", "no", "on", "tRUE", "2"] {
                let argv =
                    std::iter::once("ironsign".to_owned()).chain(path.iter().cloned()).chain([format!("{flag}={bad}")]);
                let err = command().try_get_matches_from(argv).expect_err(&format!("{path:?} {flag}={bad}"));
                assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{path:?} {flag}={bad}: {err}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} boolean flags found");
}

#[test]
fn short_boolean_clusters_still_work() {
    let path = ["clean".to_owned()];
    let m = parse_leniently(&path, &["-f", "registry.example/app@sha256:00"]);
    assert_eq!(m.get_one::<bool>("force"), Some(&true));
    let m = parse_leniently(&["sign".to_owned()], &["-y", "registry.example/app"]);
    assert_eq!(m.get_one::<bool>("_yes"), Some(&true));
    let m = parse_leniently(&["sign".to_owned()], &["-y=false", "registry.example/app"]);
    assert_eq!(m.get_one::<bool>("_yes"), Some(&false));
    let m = parse_leniently(&["sign".to_owned()], &["-yo", "json", "registry.example/app"]);
    assert_eq!(m.get_one::<bool>("_yes"), Some(&true));
    assert_eq!(m.get_raw("output").into_iter().flatten().collect::<Vec<_>>(), ["json"]);
}

#[test]
fn a_later_boolean_overrides_an_earlier_one() {
    let m = parse_leniently(&["sign".to_owned()], &["--recursive", "--recursive=false", "x"]);
    assert_eq!(m.get_one::<bool>("recursive"), Some(&false));
    let m = parse_leniently(&["sign".to_owned()], &["--recursive=false", "--recursive", "x"]);
    assert_eq!(m.get_one::<bool>("recursive"), Some(&true));
}

#[test]
fn what_ironsign_cannot_do_is_refused_by_name() {
    for (path, flag) in [
        ("verify", "--insecure-ignore-tlog=false"),
        ("verify-attestation", "--insecure-ignore-tlog=0"),
        ("sign", "--tlog-upload"),
        ("sign", "--tlog-upload=true"),
        ("attest", "--tlog-upload=T"),
        ("verify", "--private-infrastructure=false"),
    ] {
        let err = command()
            .try_get_matches_from(["ironsign", path, flag, "registry.example/app"])
            .expect_err(&format!("{path} {flag} accepted"));
        let text = err.to_string();
        assert!(text.contains(flag.split('=').next().unwrap()) && text.contains("ironsign"), "{path} {flag}: {text}");
    }
    for (path, flag) in [
        ("verify", "--insecure-ignore-tlog"),
        ("verify", "--insecure-ignore-sct=1"),
        ("sign", "--tlog-upload=false"),
        ("verify", "--private-infrastructure"),
        ("verify", "--use-signed-timestamps"),
        ("verify", "-d"),
        ("sign", "--verbose"),
    ] {
        let m = parse_leniently(&[path.to_owned()], &[flag, "registry.example/app"]);
        let raw: Vec<_> = m.get_raw("images").into_iter().flatten().collect();
        assert_eq!(raw, ["registry.example/app"], "{path} {flag}");
    }
}

#[test]
fn cosigns_global_flags_go_anywhere_and_timeout_reads_go_durations() {
    for argv in [
        ["ironsign", "-d", "verify", "--key", "k.pub", "registry.example/app"].as_slice(),
        &["ironsign", "verify", "--key", "k.pub", "-t", "90s", "registry.example/app"],
        &["ironsign", "verify", "--timeout=1h30m", "--key", "k.pub", "--verbose", "registry.example/app"],
    ] {
        command().try_get_matches_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    }
    use std::time::Duration;
    for (text, expected) in [
        ("90s", Duration::from_secs(90)),
        ("3m0s", Duration::from_secs(180)),
        ("1h30m", Duration::from_secs(5400)),
        ("2.5s", Duration::from_millis(2500)),
        ("250ms", Duration::from_millis(250)),
        ("0", Duration::ZERO),
    ] {
        assert_eq!(args::parse_go_duration(text), Ok(expected), "{text}");
    }
    for bad in ["", "90", "s", "1d", "-5s", "1h-5m", "5 s", "1.2.3s"] {
        assert!(args::parse_go_duration(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn attachment_sizes_read_as_cosign_reads_them() {
    for (text, expected) in
        [("134217728", 134_217_728), ("128MiB", 128 << 20), ("100MB", 100_000_000), ("1.5 KiB", 1536)]
    {
        assert_eq!(args::parse_byte_size(text), Ok(expected), "{text}");
    }
    for bad in ["", "MiB", "-5", "0", "12 parsecs", "1e3"] {
        assert!(args::parse_byte_size(bad).is_err(), "{bad:?} accepted");
    }
}
