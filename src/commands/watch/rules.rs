//! What `--watch` keeps attached: attach lines from FILE (the `--batch`
//! grammar, GUEST naming a container) and from containers' own labels
//! (`pipework.attach`, `pipework.attach.N`: a line without GUEST, the
//! container being implied).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::batch;
use crate::request::{Attach, GuestRef};

/// One attach to keep, and where it was written.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `FILE:LINE`, or `label pipework.attach.1`: for log lines.
    pub origin: String,
    pub attach: Attach,
}

/// The container a rule of FILE names: its GUEST word.
fn guest_word(a: &Attach) -> Option<&str> {
    match &a.guest {
        GuestRef::Auto(w) | GuestRef::Engine(_, w) => Some(w),
        _ => None,
    }
}

/// Does this FILE rule name this container (by name, or by an ID of at
/// least 12 characters, as `docker ps` shows them)?
pub fn names(rule: &Rule, id: &str, name: &str) -> bool {
    guest_word(&rule.attach).is_some_and(|w| {
        let w = w.trim_start_matches('/');
        w == name.trim_start_matches('/') || (w.len() >= 12 && id.starts_with(w))
    })
}

/// The rules of FILE, and a message for each line that is not one (naming
/// the file and line); those lines are left out, the others served.
pub fn read_file(path: &str) -> Result<(Vec<Rule>, Vec<String>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the watch file {path}"))?;
    Ok(parse_file(path, &text))
}

fn parse_file(path: &str, text: &str) -> (Vec<Rule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{path}:{}", i + 1);
        let parsed = shlex::split(line).ok_or_else(|| anyhow!("unbalanced quotes")).and_then(batch::parse_words);
        match parsed {
            Ok(a) if guest_word(&a).is_none() => {
                errors.push(format!("{origin}: GUEST must name a container, not {}", a.guest))
            }
            Ok(attach) => rules.push(Rule { origin, attach }),
            Err(e) => errors.push(format!("{origin}: {e:#}")),
        }
    }
    (rules, errors)
}

/// The label keys that hold attach lines: `pipework.attach` and
/// `pipework.attach.N`, in that order (N numerically).
fn is_attach_label(key: &str) -> Option<u32> {
    match key.strip_prefix("pipework.attach") {
        Some("") => Some(0),
        Some(rest) => rest.strip_prefix('.').and_then(|n| n.parse::<u32>().ok()).map(|n| n + 1),
        None => None,
    }
}

/// Whether a container carries attach lines in its labels.
pub fn has_attach_labels<'a>(mut keys: impl Iterator<Item = &'a String>) -> bool {
    keys.any(|k| is_attach_label(k).is_some())
}

/// The rules a container's labels carry, and a message for each bad one.
pub fn from_labels(name: &str, labels: &BTreeMap<String, String>) -> (Vec<Rule>, Vec<String>) {
    let mut keyed: Vec<(u32, &String, &String)> =
        labels.iter().filter_map(|(k, v)| is_attach_label(k).map(|n| (n, k, v))).collect();
    keyed.sort();
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (_, key, value) in keyed {
        let origin = format!("label {key} of {name}");
        let parsed = shlex::split(value)
            .ok_or_else(|| anyhow!("unbalanced quotes"))
            .and_then(|words| with_guest(words, name))
            .and_then(batch::parse_words);
        match parsed {
            Ok(attach) => rules.push(Rule { origin, attach }),
            Err(e) => errors.push(format!("{origin}: {e:#}")),
        }
    }
    (rules, errors)
}

/// A label's words with the container's name put where GUEST goes: after
/// HOSTIF and the options that may follow it.
fn with_guest(mut words: Vec<String>, guest: &str) -> Result<Vec<String>> {
    if words.first().map(String::as_str) == Some("pipework") {
        words.remove(0);
    }
    let mut i = skip_options(&words, 0);
    if i >= words.len() {
        bail!("no HOSTIF: a label holds HOSTIF [options] ADDRESS [MAC][@VLAN]");
    }
    i = skip_options(&words, i + 1);
    words.insert(i, guest.to_string());
    Ok(words)
}

/// The index of the first word at or after `i` that is not an option or an
/// option's value.
fn skip_options(words: &[String], mut i: usize) -> usize {
    let cmd = Cli::command();
    while let Some(w) = words.get(i) {
        if !w.starts_with('-') || w == "-" {
            break;
        }
        let takes_value = cmd.get_arguments().any(|a| {
            let long = w.strip_prefix("--").is_some_and(|l| a.get_long() == Some(l));
            let short = w.len() == 2 && w.strip_prefix('-').and_then(|s| s.chars().next()) == a.get_short();
            (long || short) && a.get_action().takes_values()
        });
        i += if takes_value { 2 } else { 1 };
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_container_goes_where_guest_goes() {
        let put = |s: &str| with_guest(words(s), "web1").unwrap().join(" ");
        assert_eq!(put("br1 10.0.0.5/24"), "br1 web1 10.0.0.5/24");
        assert_eq!(put("br1 -i eth2 10.0.0.5/24 U:web1"), "br1 -i eth2 web1 10.0.0.5/24 U:web1");
        assert_eq!(put("--mtu 1400 eth2 --promisc dhcp"), "--mtu 1400 eth2 --promisc web1 dhcp");
        assert_eq!(put("pipework ovsbr0 --mtu=1400 0/0 @10"), "ovsbr0 --mtu=1400 web1 0/0 @10");
        assert!(with_guest(words("-i eth2"), "web1").is_err());
    }

    #[test]
    fn labels_in_order_and_bad_ones_named() {
        let labels: BTreeMap<String, String> = [
            ("pipework.attach.10", "br3 10.0.3.5/24"),
            ("pipework.attach", "br1 10.0.1.5/24"),
            ("pipework.attach.2", "br2 10.0.2.300/24"),
            ("pipework.attachment", "ignored"),
            ("com.example", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (rules, errors) = from_labels("web1", &labels);
        let origins: Vec<_> = rules.iter().map(|r| r.origin.as_str()).collect();
        assert_eq!(origins, ["label pipework.attach of web1", "label pipework.attach.10 of web1"]);
        assert_eq!(rules[0].attach.guest.to_string(), "web1");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("label pipework.attach.2 of web1: "), "{errors:?}");
    }

    #[test]
    fn file_lines_name_containers() {
        let text =
            "# web\nbr1 web1 10.0.0.5/24\nbr1 web2 10.0.0.300/24\n\nbr1 pid:1 10.0.0.7/24\nbr1 0123456789abcdef 0/0\n";
        let (rules, errors) = parse_file("/etc/pipework.watch", text);
        assert_eq!(rules.len(), 2);
        assert!(errors[0].starts_with("/etc/pipework.watch:3: "), "{errors:?}");
        assert!(errors[1].starts_with("/etc/pipework.watch:5: GUEST must name a container"), "{errors:?}");
        assert!(names(&rules[0], "f00", "/web1") && !names(&rules[0], "f00", "web2"));
        assert!(names(&rules[1], "0123456789abcdef00", "db") && !names(&rules[1], "0123456789abcd00", "db"));
    }
}
