//! What `--watch` keeps attached: attach lines from FILE (the `--batch`
//! grammar, GUEST naming a container) and from containers' own labels
//! (`pipework.attach`, `pipework.attach.N`: a line without GUEST, the
//! container being implied).
//!
//! FILE is the operator's; a label is whoever may start a container's, and
//! a watch runs as root. So labels are obeyed only where FILE's
//! `labels HOSTIF[@VLANS] …` lines allow, and never for what reaches past
//! the container's own interface: moving a host NIC (`--direct-phys`), the
//! host's own shim, naming the host side (`-l`), sysctls, another ovsdb
//! server, route/rule/tc, or DHCP methods that run host programs.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use anyhow::{anyhow, bail, Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::batch;
use crate::request::{AddressSpec, Attach, DhcpMethod, GuestRef, HostIfRef};

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

/// Where FILE lets labels attach: HOSTIFs, each with the VLANs labels may
/// ask on it (None: any tag, or none). Empty: labels are off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelPolicy {
    allowed: Vec<(String, Option<Vec<RangeInclusive<u16>>>)>,
}

impl LabelPolicy {
    pub fn is_off(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The words of one `labels` line (after `labels`), added.
    fn add(&mut self, words: &[String]) -> Result<()> {
        if words.is_empty() {
            bail!("a labels line names the host interfaces labels may use: labels HOSTIF[@VLANS] ...");
        }
        for w in words {
            let (host_if, vlans) = w.split_once('@').map_or((w.as_str(), None), |(h, v)| (h, Some(v)));
            // Checked as an attach's HOSTIF would be; `SCHEME:NAME` words
            // (ovn:tenant1) are kept as written, matched as written.
            if HostIfRef::parse(host_if).is_err() && !scheme_word(host_if) {
                HostIfRef::parse(host_if).with_context(|| format!("labels: '{w}'"))?;
            }
            let vlans = vlans.map(|v| parse_vlans(v).with_context(|| format!("labels: '{w}'"))).transpose()?;
            self.allowed.push((host_if.to_string(), vlans));
        }
        Ok(())
    }

    /// For the start of the watch: what labels may do.
    pub fn describe(&self) -> String {
        if self.is_off() {
            return "pipework.attach labels are off (FILE has no 'labels HOSTIF[@VLANS]' line); \
                    containers' labels are ignored"
                .to_string();
        }
        let list: Vec<String> = self
            .allowed
            .iter()
            .map(|(h, v)| match v {
                None => h.clone(),
                Some(r) => format!("{h}@{}", ranges_text(r)),
            })
            .collect();
        format!("pipework.attach labels may attach to {} only", list.join(", "))
    }

    /// Whether a label's words, as written, ask for what no label may.
    /// Checked before they are parsed: the refusal then names the option.
    pub fn check_words(&self, words: &[String]) -> std::result::Result<(), String> {
        for w in words {
            let flag = w.split_once('=').map_or(w.as_str(), |(f, _)| f);
            let forbidden = match flag {
                "--direct-phys" => Some("--direct-phys (it would move a host interface into the container)"),
                "--shim" => Some("--shim (the host's own interfaces)"),
                "--sysctl" => Some("--sysctl"),
                "--ovs-db" => Some("--ovs-db (another ovsdb server)"),
                _ if w.starts_with("-l") => Some("-l (naming the host side)"),
                _ => None,
            };
            if let Some(what) = forbidden {
                return Err(format!("a label may not ask for {what}"));
            }
        }
        Ok(())
    }

    /// Whether a label's line may be served; why not, when it may not.
    pub fn check(&self, a: &Attach) -> std::result::Result<(), String> {
        if a.direct_phys || a.host_side.is_some() || !a.tuning.sysctls.is_empty() {
            return Err("a label may not ask for --direct-phys, -l or --sysctl".to_string());
        }
        if let AddressSpec::Dhcp { method, .. } = &a.address {
            if !matches!(method, DhcpMethod::Builtin { .. }) {
                return Err(format!(
                    "a label may not ask for DHCP method '{}', which runs a program on the host; \
                     builtin-dhcp or builtin-dhcp-f may be asked",
                    method.keyword()
                ));
            }
        }
        let host_if = a.host_if.to_string();
        let entries: Vec<_> = self.allowed.iter().filter(|(h, _)| *h == host_if).collect();
        if entries.is_empty() {
            return Err(format!("{host_if} is not among the host interfaces FILE lets labels use ({})", self.list()));
        }
        if entries.iter().any(|(_, v)| v.is_none()) {
            return Ok(());
        }
        let ranges: Vec<RangeInclusive<u16>> = entries.iter().flat_map(|(_, v)| v.iter().flatten().cloned()).collect();
        let Some(tag) = &a.tag else {
            return Err(format!(
                "on {host_if} a label must ask for a VLAN among {} (an untagged port would carry every VLAN)",
                ranges_text(&ranges)
            ));
        };
        match tag.vlan_id() {
            Ok(id) if ranges.iter().any(|r| r.contains(&id)) => Ok(()),
            _ => Err(format!(
                "@{tag} on {host_if} is outside the VLANs FILE lets labels use there ({})",
                ranges_text(&ranges)
            )),
        }
    }

    fn list(&self) -> String {
        if self.is_off() {
            return "none: labels are off".to_string();
        }
        self.describe()
            .trim_start_matches("pipework.attach labels may attach to ")
            .trim_end_matches(" only")
            .to_string()
    }
}

/// `ovn:tenant1`: a HOSTIF of a kind named by a scheme, kept as written.
fn scheme_word(w: &str) -> bool {
    w.split_once(':')
        .is_some_and(|(s, n)| s != "mac" && !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()) && !n.is_empty())
        && !w.contains(char::is_whitespace)
}

/// `100-199,300`: VLAN IDs 1 to 4094, ranges low-high.
fn parse_vlans(text: &str) -> Result<Vec<RangeInclusive<u16>>> {
    let id = |s: &str| -> Result<u16> {
        match s.parse::<u16>() {
            Ok(v) if (1..=4094).contains(&v) => Ok(v),
            _ => bail!("'{s}' is not a VLAN ID (1 to 4094)"),
        }
    };
    text.split(',')
        .map(|part| {
            let (lo, hi) = part.split_once('-').map_or((part, part), |(l, h)| (l, h));
            let (lo, hi) = (id(lo)?, id(hi)?);
            if lo > hi {
                bail!("'{part}': the range runs backwards");
            }
            Ok(lo..=hi)
        })
        .collect()
}

fn ranges_text(r: &[RangeInclusive<u16>]) -> String {
    let parts: Vec<String> = r
        .iter()
        .map(|r| if r.start() == r.end() { r.start().to_string() } else { format!("{}-{}", r.start(), r.end()) })
        .collect();
    parts.join(",")
}

/// What FILE says: its attach rules, where labels may attach, and a message
/// for each line that is neither (naming the file and line); those lines
/// are left out, the others served.
#[derive(Debug, Default)]
pub struct WatchFile {
    pub rules: Vec<Rule>,
    pub policy: LabelPolicy,
    pub errors: Vec<String>,
}

pub fn read_file(path: &str) -> Result<WatchFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the watch file {path}"))?;
    Ok(parse_file(path, &text))
}

pub fn parse_file(path: &str, text: &str) -> WatchFile {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut policy = LabelPolicy::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{path}:{}", i + 1);
        if line.split_whitespace().next() == Some("labels") {
            let words: Vec<String> = line.split_whitespace().skip(1).map(str::to_string).collect();
            if let Err(e) = policy.add(&words) {
                errors.push(format!("{origin}: {e:#}"));
            }
            continue;
        }
        let parsed = shlex::split(line).ok_or_else(|| anyhow!("unbalanced quotes")).and_then(batch::parse_words);
        match parsed {
            Ok(a) if guest_word(&a).is_none() => {
                errors.push(format!("{origin}: GUEST must name a container, not {}", a.guest))
            }
            Ok(attach) => rules.push(Rule { origin, attach }),
            Err(e) => errors.push(format!("{origin}: {e:#}")),
        }
    }
    WatchFile { rules, policy, errors }
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

/// The rules a container's labels carry that `policy` allows, and a
/// message for each bad or refused one. With labels off, none, silently:
/// the watch said so at its start.
pub fn from_labels(name: &str, labels: &BTreeMap<String, String>, policy: &LabelPolicy) -> (Vec<Rule>, Vec<String>) {
    if policy.is_off() {
        return (Vec::new(), Vec::new());
    }
    let mut keyed: Vec<(u32, &String, &String)> =
        labels.iter().filter_map(|(k, v)| is_attach_label(k).map(|n| (n, k, v))).collect();
    keyed.sort();
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (_, key, value) in keyed {
        let origin = format!("label {key} of {name}");
        let refused = |why: String| format!("{origin}: refused: {why}; nothing done for it");
        let Some(words) = shlex::split(value) else {
            errors.push(format!("{origin}: unbalanced quotes"));
            continue;
        };
        if let Err(why) = policy.check_words(&words) {
            errors.push(refused(why));
            continue;
        }
        match with_guest(words, name).and_then(batch::parse_words) {
            Ok(attach) => match policy.check(&attach) {
                Ok(()) => rules.push(Rule { origin, attach }),
                Err(why) => errors.push(refused(why)),
            },
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
    // An option that wants a value and ends the label (`br1 -i`) would put
    // the index past the end: the fuzzer's find, a panic that stopped the
    // watch on one container's label.
    i = skip_options(&words, i + 1).min(words.len());
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
        assert_eq!(put("br1 -i"), "br1 -i web1");
        assert!(
            from_labels(
                "web1",
                &[("pipework.attach".into(), "br1 -i".into())].into(),
                &parse_file("f", "labels br1").policy
            )
            .1
            .len()
                == 1
        );
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
        let policy = parse_file("f", "labels br1 br2 br3").policy;
        let (rules, errors) = from_labels("web1", &labels, &policy);
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
        let WatchFile { rules, errors, policy } = parse_file("/etc/pipework.watch", text);
        assert!(policy.is_off());
        assert_eq!(rules.len(), 2);
        assert!(errors[0].starts_with("/etc/pipework.watch:3: "), "{errors:?}");
        assert!(errors[1].starts_with("/etc/pipework.watch:5: GUEST must name a container"), "{errors:?}");
        assert!(names(&rules[0], "f00", "/web1") && !names(&rules[0], "f00", "web2"));
        assert!(names(&rules[1], "0123456789abcdef00", "db") && !names(&rules[1], "0123456789abcd00", "db"));
    }

    fn label_rule(policy: &LabelPolicy, line: &str) -> std::result::Result<(), String> {
        let labels: BTreeMap<String, String> = [("pipework.attach".to_string(), line.to_string())].into();
        let (rules, errors) = from_labels("web1", &labels, policy);
        match (rules.len(), errors.first()) {
            (1, None) => Ok(()),
            (0, Some(e)) => Err(e.clone()),
            _ => panic!("{line}: {} rules, errors {errors:?}", rules.len()),
        }
    }

    #[test]
    fn labels_lines_say_where_labels_may_attach() {
        let f = parse_file(
            "w",
            "labels br1 ovsbr0@100-199,300 ovn:tenant1\nlabels mac:02:00:00:00:00:07\nbr1 web1 10.0.0.5/24\n",
        );
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.rules.len(), 1);
        assert_eq!(
            f.policy.describe(),
            "pipework.attach labels may attach to br1, ovsbr0@100-199,300, ovn:tenant1, mac:02:00:00:00:00:07 only"
        );
        for bad in ["labels", "labels br1@0", "labels br1@5-3", "labels ovsbr0@1-5000", "labels bad/name", "labels x@a"]
        {
            let f = parse_file("w", bad);
            assert!(
                f.policy.is_off() && f.errors.len() == 1 && f.errors[0].starts_with("w:1: "),
                "{bad}: {:?}",
                f.errors
            );
        }
        assert!(parse_file("w", "br1 web1 10.0.0.5/24").policy.describe().contains("labels are off"));
    }

    #[test]
    fn labels_are_ignored_unless_the_file_allows_them() {
        let off = LabelPolicy::default();
        let labels: BTreeMap<String, String> =
            [("pipework.attach".to_string(), "--direct-phys eth0 10.0.0.5/24".to_string())].into();
        let (rules, errors) = from_labels("web1", &labels, &off);
        assert!(rules.is_empty() && errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_label_gets_only_what_the_file_allows() {
        let p = parse_file("w", "labels br1 ovsbr0@100-199 eth2").policy;
        for ok in [
            "br1 10.0.0.5/24",
            "br1 -i eth2 --mtu 1400 10.0.0.5/24@10.0.0.1",
            "ovsbr0 10.0.0.5/24 @100",
            "ovsbr0 10.0.0.5/24 02:00:00:00:00:01@199",
            "br1 builtin-dhcp",
            "br1 builtin-dhcp-f",
            "eth2 10.0.0.5/24",
            "eth2 --ipvlan l2 10.0.0.5/24",
        ] {
            assert_eq!(label_rule(&p, ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            (
                "br9 10.0.0.5/24",
                "br9 is not among the host interfaces FILE lets labels use (br1, ovsbr0@100-199, eth2)",
            ),
            ("ovsbr0 10.0.0.5/24 @99", "@99 on ovsbr0 is outside the VLANs FILE lets labels use there (100-199)"),
            ("ovsbr0 10.0.0.5/24 @200", "outside the VLANs"),
            ("ovsbr0 10.0.0.5/24", "a label must ask for a VLAN among 100-199"),
            ("--direct-phys eth2 10.0.0.5/24", "may not ask for --direct-phys"),
            ("br1 -l myveth 10.0.0.5/24", "may not ask for -l"),
            ("br1 -lmyveth 10.0.0.5/24", "may not ask for -l"),
            ("br1 --sysctl net.ipv4.ip_forward=1 10.0.0.5/24", "may not ask for --sysctl"),
            ("br1 --sysctl=net.ipv4.ip_forward=1 10.0.0.5/24", "may not ask for --sysctl"),
            ("ovsbr0 --ovs-db tcp:10.0.0.9:6640 10.0.0.5/24 @100", "may not ask for --ovs-db"),
            ("br1 dhclient", "DHCP method 'dhclient'"),
            ("br1 dhclient-f", "DHCP method 'dhclient-f'"),
            ("br1 udhcpc", "runs a program on the host"),
            ("br1 dhcpcd", "runs a program on the host"),
            ("br1 dhcp", "runs a program on the host"),
            ("mac:02:00:00:00:00:07 10.0.0.5/24", "mac:02:00:00:00:00:07 is not among"),
        ] {
            let e = label_rule(&p, bad).expect_err(bad);
            assert!(e.starts_with("label pipework.attach of web1: refused: ") && e.contains(why), "{bad}: {e}");
        }
        // Not attach lines at all: refused by the grammar.
        for bad in
            ["--shim eth2 10.0.0.250/24", "route add 10.9.0.0/16 via 10.0.0.1", "tc qdisc add dev eth1 root netem"]
        {
            assert!(label_rule(&p, bad).is_err(), "{bad}");
        }
    }
}
