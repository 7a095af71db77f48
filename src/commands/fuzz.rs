//! Fuzzing of every input that is not argv (argv has its proptest in
//! cli.rs): CNI's stdin JSON and CNI_* environment, watch FILE lines,
//! containers' labels under a `labels` policy, `--batch` files. Parse-only:
//! no host is touched; compat-tests/57 runs a sample of such cases through
//! the real binary and checks that a refused one changed nothing. Each input gets PIPEWORK_FUZZ_CASES cases (10,000 by
//! default), from PIPEWORK_FUZZ_SEED (printed; a new one each run, so CI
//! explores, and any failure is replayed from its seed).
//!
//! A small generator of our own rather than proptest or arbitrary: the
//! inputs are lines of words and JSON documents, and what finds bugs is
//! structure-aware mutation of valid examples (swap a word for a nasty
//! one, drop, repeat, cut one in half; replace a JSON member with another
//! type or an extreme value), which is a few dozen lines here; proptest's
//! shrinking would help read a failure, but its strategy plumbing for
//! "mutate this corpus" is longer than the mutator, and arbitrary wants
//! a fuzzing engine (cargo-fuzz, nightly) that CI does not run.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::commands::batch;
use crate::commands::cni::config::{Command, Env, NetConf};
use crate::commands::watch::rules::{self, LabelPolicy};
use crate::request::{AddressSpec, DhcpMethod};

/// xorshift64*: deterministic from its seed, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

fn seed() -> u64 {
    let seed = std::env::var("PIPEWORK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        t.as_nanos() as u64 | 1
    });
    eprintln!("fuzz: PIPEWORK_FUZZ_SEED={seed}");
    seed
}

fn cases() -> usize {
    std::env::var("PIPEWORK_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000)
}

/// Words that have broken parsers, or might: our own options and keywords,
/// bounds, quoting, separators, odd bytes.
const NASTY: &[&str] = &[
    "",
    "-",
    "--",
    "-i",
    "-l",
    "-a",
    "--mtu",
    "--sysctl",
    "--direct-phys",
    "--shim",
    "--ovs-db",
    "--detach",
    "--batch",
    "--watch",
    "--engine",
    "--ipvlan",
    "--macvlan-mode",
    "--table",
    "--metric",
    "pipework",
    "tunnel",
    "route",
    "rule",
    "tc",
    "labels",
    "@",
    "@0",
    "@1",
    "@4094",
    "@4095",
    "@65536",
    "@-1",
    "@0x8001",
    "0/0",
    "slaac",
    "dhcp",
    "dhclient",
    "dhclient-f",
    "udhcpc",
    "udhcpc-f",
    "dhcpcd",
    "builtin-dhcp",
    "builtin-dhcp-f",
    "mac:",
    "mac:02:00:00:00:00:01",
    "U:",
    "U:web1",
    "10.0.0.1/24",
    "10.0.0.1/33",
    "10.0.0.1/24@10.0.0.254",
    "2001:db8::1/64",
    "::/0",
    "0.0.0.0/0",
    "255.255.255.255/32",
    "4294967296",
    "-1",
    "18446744073709551616",
    "'",
    "\"",
    "\\",
    "#",
    "=",
    "a=b",
    ":",
    ",",
    "br1",
    "ovsbr0",
    "ovsbr0@100-199",
    "ovsbr0@199-100",
    "eth0",
    "lo",
    "ovn:tenant1",
    "averyveryverylongname",
    "é",
    "\u{202e}",
    "\0",
    "\t",
    "pid:1",
    "pid:0",
    "netns:x",
    "/proc/1/ns/net",
    "docker:web1",
    "web1",
    "%d",
    "eth%d",
];

/// One line of words, mutated a few times.
fn mutate_words(rng: &mut Rng, line: &str) -> String {
    let mut w: Vec<String> = line.split(' ').map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(w.len());
        match rng.below(8) {
            0 | 1 => w[i] = rng.pick(NASTY).to_string(),
            2 => w.insert(i, rng.pick(NASTY).to_string()),
            3 if w.len() > 1 => {
                w.remove(i);
            }
            4 => {
                let dup = w[i].clone();
                w.insert(i, dup);
            }
            5 => {
                let j = rng.below(w.len());
                w.swap(i, j);
            }
            6 => {
                // Cut a word at a character boundary, or glue another on.
                let s = &w[i];
                let cut = s.char_indices().map(|(k, _)| k).nth(rng.below(s.chars().count() + 1)).unwrap_or(s.len());
                w[i] = if rng.chance(2) { s[..cut].to_string() } else { format!("{}{}", &s[..cut], rng.pick(NASTY)) };
            }
            _ => {
                let c = *rng.pick(&['@', ',', '/', ':', '=', '"', '\'', '\\', '-', 'x', '9', '\n', ' ']);
                w[i].push(c);
            }
        }
    }
    w.join(" ")
}

/// Several lines, each a mutation of a valid one, sometimes left valid.
fn mutate_file(rng: &mut Rng, corpus: &[&str]) -> String {
    (0..1 + rng.below(3))
        .map(|_| {
            let line = *rng.pick(corpus);
            if rng.chance(5) {
                line.to_string()
            } else {
                mutate_words(rng, line)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn nasty_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.chance(2)),
        2 => json!(*rng.pick(&[0i64, -1, 1, 4094, 4095, 65536, i64::MAX, i64::MIN])),
        3 => json!(*rng.pick(&[0.5f64, 1e308, -0.0])),
        4 => json!(u64::MAX),
        5 => json!([]),
        6 => json!({}),
        7 => json!([rng.pick(NASTY).to_string()]),
        _ => json!(rng.pick(NASTY).to_string()),
    }
}

/// A JSON document with a member replaced, removed or added, at any depth.
fn mutate_json(rng: &mut Rng, v: &mut Value, depth: usize) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = rng.pick(&keys).clone();
            match rng.below(5) {
                0 => {
                    o.remove(&k);
                }
                1 => {
                    o.insert(rng.pick(CNI_KEYS).to_string(), nasty_value(rng));
                }
                2 if depth < 4 => mutate_json(rng, o.get_mut(&k).unwrap(), depth + 1),
                _ => {
                    o.insert(k, nasty_value(rng));
                }
            }
        }
        Value::Array(a) if !a.is_empty() && depth < 4 => {
            let i = rng.below(a.len());
            mutate_json(rng, &mut a[i], depth + 1);
        }
        _ => *v = nasty_value(rng),
    }
}

const CNI_KEYS: &[&str] = &[
    "cniVersion",
    "name",
    "type",
    "hostif",
    "address",
    "vlan",
    "mtu",
    "mac",
    "ipam",
    "prevResult",
    "runtimeConfig",
    "args",
    "ovsDb",
    "guestif",
    "ips",
    "routes",
    "gateway",
    "interface",
    "dns",
    "capabilities",
    "disableCheck",
];

const CNI_CORPUS: &[&str] = &[
    r#"{"cniVersion":"1.0.0","name":"lan","type":"pipework","hostif":"br0","address":"10.10.103.95/24@10.10.103.254","vlan":100,"mtu":1400,"mac":"U:web"}"#,
    r#"{"cniVersion":"1.0.0","name":"n","hostif":"br0","mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"02:00:00:00:00:02"}}"#,
    r#"{"cniVersion":"0.4.0","name":"n","type":"pipework","hostif":"ovsbr0","vlan":7,"ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}"#,
    r#"{"cniVersion":"1.1.0","name":"n","type":"pipework","hostif":"eth2","address":"dhcp","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.1.0.5/24","gateway":"10.1.0.1","interface":0}],"routes":[{"dst":"0.0.0.0/0"}]}}"#,
    r#"{"cniVersion":"1.0.0","name":"n","type":"pipework","hostif":"br0","address":"2001:db8::5/64","args":{"cni":{"ips":["10.0.0.9/24"]}}}"#,
];

#[test]
fn cni_stdin_and_environment() {
    let mut rng = Rng(seed());
    let base: BTreeMap<&str, &str> = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "0123456789abcdef"),
        ("CNI_NETNS", "/var/run/netns/pod1"),
        ("CNI_IFNAME", "net1"),
        ("CNI_PATH", "/opt/cni/bin"),
        ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"),
    ]
    .into();
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..cases() {
        let mut env: BTreeMap<String, String> = base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for _ in 0..rng.below(3) {
            let k = rng.pick(&base.keys().copied().collect::<Vec<_>>()).to_string();
            if rng.chance(4) {
                env.remove(&k);
            } else {
                let v = env.get(&k).cloned().unwrap_or_default();
                env.insert(k, mutate_words(&mut rng, &v));
            }
        }
        let src: &str = CNI_CORPUS[rng.below(CNI_CORPUS.len())];
        let mut doc: Value = serde_json::from_str(src).unwrap();
        for _ in 0..1 + rng.below(3) {
            mutate_json(&mut rng, &mut doc, 0);
        }
        let mut stdin = doc.to_string().into_bytes();
        if rng.chance(8) && !stdin.is_empty() {
            let i = rng.below(stdin.len());
            if rng.chance(2) {
                stdin.truncate(i);
            } else {
                stdin[i] = rng.next() as u8;
            }
        }
        let command = *rng.pick(&[Command::Add, Command::Del, Command::Check, Command::Status, Command::Gc]);
        let outcome = Env::read(|k| env.get(k).cloned())
            .and_then(|e| NetConf::parse(&stdin, command).map(|c| (e, c)))
            .and_then(|(e, c)| if command == Command::Add { c.attach(&e, None).map(|_| ()) } else { Ok(()) });
        match outcome {
            Ok(()) => parsed += 1,
            Err(e) => {
                // What main answers: a CNI error object with a code and a message.
                assert!(e.code > 0 && !e.msg.is_empty(), "an error without code or message: {e:?}");
                let obj = json!({"cniVersion": "1.0.0", "code": e.code, "msg": e.msg, "details": e.details});
                assert!(serde_json::from_str::<Value>(&obj.to_string()).is_ok());
                refused += 1;
            }
        }
    }
    eprintln!("fuzz: CNI stdin + environment: {} cases, {parsed} accepted, {refused} refused", parsed + refused);
}

const LINES: &[&str] = &[
    "br1 web1 10.0.0.5/24",
    "br1 -i eth2 web1 10.0.0.5/24@10.0.0.1 U:web1",
    "ovsbr0 --mtu 1400 web1 0/0 @10",
    "pipework eth2 --ipvlan l2 web1 dhclient",
    "--direct-phys eth2 web1 builtin-dhcp",
    "br1 web1 10.0.0.5/24,2001:db8::5/64 02:00:00:00:00:01@7",
    "mac:02:00:00:00:00:07 -a 6 web1 slaac",
    "br1 --sysctl net.ipv6.conf.eth1.accept_ra=2 --table 5 web1 10.0.0.5/24",
    "tunnel br1 vxlan:100 192.0.2.1 192.0.2.2",
    "labels br1 ovsbr0@100-199,300 ovn:tenant1",
    "# a comment",
];

#[test]
fn watch_file_lines() {
    let mut rng = Rng(seed());
    let (mut rules_seen, mut errors_seen) = (0, 0);
    let n = cases();
    for _ in 0..n {
        let text = mutate_file(&mut rng, LINES);
        let f = rules::parse_file("w", &text);
        rules_seen += f.rules.len();
        errors_seen += f.errors.len();
        for e in &f.errors {
            assert!(e.starts_with("w:"), "an error that names no line: {e}");
        }
        let _ = f.policy.describe();
    }
    eprintln!("fuzz: watch FILE: {n} cases, {rules_seen} rules, {errors_seen} lines refused");
}

#[test]
fn labels_under_a_policy() {
    let mut rng = Rng(seed());
    const LABELS: &[&str] = &[
        "br1 10.0.0.5/24",
        "ovsbr0 10.0.0.5/24 @150",
        "-i eth2 ovsbr0 10.0.0.5/24 02:00:00:00:00:01@100",
        "br1 builtin-dhcp-f",
        "eth2 --ipvlan l2 10.0.0.5/24",
        "br1 --mtu 1400 -i eth3 10.0.0.5/24@10.0.0.1",
    ];
    let (mut served, mut refused) = (0, 0);
    let n = cases();
    for _ in 0..n {
        let policy_line = if rng.chance(4) {
            mutate_words(&mut rng, "labels br1 ovsbr0@100-199 eth2")
        } else {
            "labels br1 ovsbr0@100-199 eth2".into()
        };
        let policy: LabelPolicy = rules::parse_file("w", &policy_line).policy;
        let labels: BTreeMap<String, String> = (0..1 + rng.below(2))
            .map(|i| {
                let key = if i == 0 { "pipework.attach".to_string() } else { format!("pipework.attach.{i}") };
                let line = *rng.pick(LABELS);
                (key, mutate_words(&mut rng, line))
            })
            .collect();
        let (ok, errors) = rules::from_labels("web1", &labels, &policy);
        refused += errors.len();
        for r in &ok {
            served += 1;
            // Whatever the mutation, a served label never reaches past the
            // container's own interface.
            let a = &r.attach;
            assert!(!a.direct_phys && a.host_side.is_none() && a.tuning.sysctls.is_empty(), "{r:?}");
            assert!(a.ovs.db.is_none() || std::env::var("PIPEWORK_OVS_DB").is_ok(), "{r:?}");
            if let AddressSpec::Dhcp { method, .. } = &a.address {
                assert!(matches!(method, DhcpMethod::Builtin { .. }), "{r:?}");
            }
            assert!(policy.check(a).is_ok(), "served although the policy refuses it: {r:?}");
        }
    }
    eprintln!("fuzz: labels: {n} cases, {served} served, {refused} refused");
}

#[test]
fn batch_files() {
    let mut rng = Rng(seed());
    let (mut accepted, mut refused) = (0, 0);
    let n = cases();
    for _ in 0..n {
        let text = mutate_file(&mut rng, LINES);
        match batch::parse_all(&text) {
            Ok(_) => accepted += 1,
            Err(e) => {
                let msg = format!("{e:#}");
                assert!(!msg.is_empty());
                refused += 1;
            }
        }
    }
    eprintln!("fuzz: --batch FILE: {n} cases, {accepted} accepted, {refused} refused");
}
