//! What a CNI runtime hands us, as types: the environment (`CNI_*`) and the
//! network configuration on stdin, and the attach request they amount to.
//! Pure: nothing here reads the system beyond the two inputs it is given.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde_json::Value;

use crate::guest::Container;
use crate::request::{
    parse_mac, parse_mac_tag, AddressSpec, Addressed, Attach, GuestRef, HostIfRef, IfName, OvsOptions, Route,
};

/// The spec versions we speak, oldest first. 0.3.x and 0.4.0 differ from
/// 1.0.0 only in the result's `version` field of each IP (and 0.3.x has no
/// CHECK); 1.1.0 adds STATUS, GC and interface MTUs.
pub const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The version we answer in when the runtime has not said one.
pub const NEWEST: &str = "1.1.0";

/// A CNI error object: a well-known code (or ours, from 100), a message and
/// the details behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

/// The spec's well-known codes, and ours.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENVIRONMENT: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODING_FAILURE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// STATUS: not ready for ADDs.
    pub const NOT_AVAILABLE: u32 = 50;
    /// Ours: the attach (or detach) itself failed; the message says where.
    pub const ATTACH_FAILED: u32 = 100;
    /// Ours: CHECK found the attachment not as the result says.
    pub const CHECK_FAILED: u32 = 101;
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError { code, msg: msg.into(), details: String::new() }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", self.msg, self.details)
        }
    }
}

impl std::error::Error for CniError {}

pub type Result<T> = std::result::Result<T, CniError>;

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg)
}

/// `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Status => "STATUS",
            Command::Gc => "GC",
        }
    }

    pub fn parse(s: &str) -> Result<Command> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            _ => {
                return Err(CniError::new(
                    code::INVALID_ENVIRONMENT,
                    format!("CNI_COMMAND={s}: not one of ADD, DEL, CHECK, VERSION, STATUS, GC"),
                ))
            }
        })
    }
}

/// The `CNI_*` variables a command needs, checked.
#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    /// Absent for DEL, GC and STATUS; or empty in a DEL after the namespace went.
    pub netns: Option<PathBuf>,
    pub ifname: String,
    /// `CNI_ARGS`: `K=V;K=V`.
    pub args: Vec<(String, String)>,
    pub path: Vec<PathBuf>,
}

impl Env {
    /// From a lookup of variables (the process environment, or a test's).
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<Env> {
        let command = Command::parse(&var("CNI_COMMAND").unwrap_or_default())?;
        let needs: &[&str] = match command {
            Command::Add | Command::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
            Command::Del => &["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
            Command::Version | Command::Status | Command::Gc => &[],
        };
        let missing: Vec<&str> = needs.iter().copied().filter(|n| var(n).is_none_or(|v| v.is_empty())).collect();
        if !missing.is_empty() {
            return Err(CniError::new(
                code::INVALID_ENVIRONMENT,
                format!("{} needs {} set", command.as_str(), missing.join(", ")),
            ));
        }
        let ifname = var("CNI_IFNAME").unwrap_or_default();
        if !ifname.is_empty() {
            IfName::parse(&ifname, "CNI_IFNAME")
                .map_err(|e| CniError::new(code::INVALID_ENVIRONMENT, format!("CNI_IFNAME={ifname}: {e:#}")))?;
        }
        let args = var("CNI_ARGS")
            .unwrap_or_default()
            .split(';')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| {
                    CniError::new(code::INVALID_ENVIRONMENT, format!("CNI_ARGS: '{kv}' is not KEY=VALUE"))
                })
            })
            .collect::<Result<_>>()?;
        Ok(Env {
            command,
            container_id: var("CNI_CONTAINERID").unwrap_or_default(),
            netns: var("CNI_NETNS").filter(|n| !n.is_empty()).map(PathBuf::from),
            ifname,
            args,
            path: std::env::split_paths(&var("CNI_PATH").unwrap_or_default()).collect(),
        })
    }

    fn arg(&self, key: &str) -> Option<&str> {
        self.args.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `K8S_POD_NAME` of CNI_ARGS, which Podman and kubelet pass.
    fn pod_name(&self) -> Option<&str> {
        self.arg("K8S_POD_NAME").filter(|n| !n.is_empty())
    }
}

/// The network configuration on stdin, our fields read and checked; the
/// whole document kept for the IPAM plugin, which reads it too.
#[derive(Debug, Clone)]
pub struct NetConf {
    pub version: String,
    pub name: String,
    /// The HOSTIF word.
    pub hostif: String,
    /// The ADDRESS word, when addresses do not come from IPAM.
    pub address: Option<String>,
    pub mac: Option<String>,
    pub vlan: Option<u16>,
    pub mtu: Option<u32>,
    /// `ovsDb`: the ovsdb-server, in `ovs-vsctl --db` form (`--ovs-db`).
    pub ovs_db: Option<String>,
    /// The IPAM plugin's name (`ipam.type`).
    pub ipam: Option<String>,
    pub prev_result: Option<Value>,
    pub runtime_mac: Option<String>,
    /// GC: the attachments still in use, (container ID, interface).
    pub valid_attachments: HashSet<(String, String)>,
    pub raw: Value,
}

/// The version a document asks for, when it is readable at all: errors are
/// answered in it.
pub fn version_of(stdin: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(stdin).ok()?;
    v.get("cniVersion")?.as_str().map(str::to_string)
}

/// `0.4.0` → (0, 4, 0), for comparing versions.
pub fn version_tuple(v: &str) -> (u32, u32, u32) {
    let mut n = v.split('.').map(|p| p.parse().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0), n.next().unwrap_or(0))
}

impl NetConf {
    /// Parses stdin (VERSION never gets here: it answers for any
    /// document). GC needs no `hostif`; every other command does.
    pub fn parse(stdin: &[u8], command: Command) -> Result<NetConf> {
        let raw: Value = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(code::DECODING_FAILURE, "the network configuration on stdin is not JSON")
                .with_details(e.to_string())
        })?;
        if !raw.is_object() {
            return Err(CniError::new(code::DECODING_FAILURE, "the network configuration must be a JSON object"));
        }
        let text = |key: &str| -> Result<Option<String>> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(format!("\"{key}\" must be a string, not {other}"))),
            }
        };
        let number = |key: &str, range: std::ops::RangeInclusive<u64>| -> Result<Option<u64>> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_u64().filter(|n| range.contains(n)) {
                    Some(n) => Ok(Some(n)),
                    None => Err(invalid(format!(
                        "\"{key}\": {v} is not a number from {} to {}",
                        range.start(),
                        range.end()
                    ))),
                },
            }
        };
        let version = text("cniVersion")?.unwrap_or_else(|| "0.1.0".into());
        if !VERSIONS.contains(&version.as_str()) {
            return Err(CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!("cniVersion {version} is not supported; pipework speaks {}", VERSIONS.join(", ")),
            ));
        }
        let needs_hostif = !matches!(command, Command::Gc);
        let hostif = text("hostif")?.unwrap_or_default();
        if needs_hostif && hostif.is_empty() {
            return Err(invalid(
                "\"hostif\" is missing: the host interface to attach to (a bridge, an OVS bridge, a NIC for macvlan…)",
            ));
        }
        if !hostif.is_empty() {
            HostIfRef::parse(&hostif).map_err(|e| invalid(format!("\"hostif\": {e:#}")))?;
        }
        let ipam = match raw.get("ipam") {
            None | Some(Value::Null) => None,
            Some(i) => match i.get("type").and_then(Value::as_str) {
                Some(t) if !t.is_empty() && !t.contains('/') => Some(t.to_string()),
                Some(t) if !t.is_empty() => {
                    return Err(invalid(format!("\"ipam\": type \"{t}\" must be a plain plugin name")))
                }
                _ if i.as_object().is_some_and(|o| o.is_empty()) => None,
                _ => {
                    return Err(invalid(
                        "\"ipam\" needs a \"type\": the IPAM plugin to run (host-local, static, dhcp…)",
                    ))
                }
            },
        };
        let address = text("address")?;
        if address.is_some() && ipam.is_some() {
            return Err(invalid("\"address\" and \"ipam\" both say where addresses come from; keep one"));
        }
        if let Some(a) = &address {
            AddressSpec::parse(a, None).map_err(|e| invalid(format!("\"address\": {e:#}")))?;
        }
        if raw.pointer("/runtimeConfig/ips").is_some_and(|v| !v.is_null()) && ipam.is_none() {
            return Err(CniError::new(
                code::UNSUPPORTED_FIELD,
                "runtimeConfig \"ips\" (the ips capability) is for an IPAM plugin; add \"ipam\": {\"type\": \"static\"}",
            ));
        }
        let mac = text("mac")?;
        let runtime_mac = match raw.pointer("/runtimeConfig/mac") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(invalid(format!("runtimeConfig \"mac\" must be a string, not {other}"))),
        };
        for m in mac.iter().chain(&runtime_mac) {
            parse_mac(m).map_err(|e| invalid(format!("\"mac\": {e:#}")))?;
        }
        let valid_attachments = match raw.get("cni.dev/valid-attachments") {
            None | Some(Value::Null) => HashSet::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                    match (s("containerID"), s("ifname")) {
                        (Some(c), Some(i)) => Ok((c, i)),
                        _ => Err(invalid(format!("\"cni.dev/valid-attachments\": {v} lacks containerID or ifname"))),
                    }
                })
                .collect::<Result<_>>()?,
            Some(other) => return Err(invalid(format!("\"cni.dev/valid-attachments\" must be a list, not {other}"))),
        };
        Ok(NetConf {
            name: text("name")?.unwrap_or_default(),
            hostif,
            address,
            mac,
            vlan: number("vlan", 1..=4094)?.map(|v| v as u16),
            ovs_db: text("ovsDb")?,
            mtu: number("mtu", 68..=65535)?.map(|v| v as u32),
            ipam,
            prev_result: raw.get("prevResult").filter(|v| !v.is_null()).cloned(),
            runtime_mac,
            valid_attachments,
            version,
            raw,
        })
    }

    /// The MAC to give: the runtime's (`mac` capability), then `CNI_ARGS`
    /// `MAC=`, then the configuration's.
    fn mac_word<'a>(&'a self, env: &'a Env) -> Option<&'a str> {
        self.runtime_mac.as_deref().or(env.arg("MAC")).or(self.mac.as_deref())
    }

    /// The attach this configuration asks for, with addresses either from
    /// `"address"` or, given here, from an IPAM result.
    pub fn attach(&self, env: &Env, from_ipam: Option<&Addresses>) -> Result<Attach> {
        let netns = env.netns.clone().ok_or_else(|| CniError::new(code::INVALID_ENVIRONMENT, "CNI_NETNS is empty"))?;
        let (address, routes) = match (from_ipam, &self.address) {
            (Some(a), _) => a.as_request(),
            (None, Some(word)) => {
                (AddressSpec::parse(word, None).map_err(|e| invalid(format!("\"address\": {e:#}")))?, Vec::new())
            }
            (None, None) => (AddressSpec::None { gateway: None }, Vec::new()),
        };
        let mac = match self.mac_word(env) {
            Some(m) => Some(parse_mac(m).map_err(|e| invalid(format!("mac {m}: {e:#}")))?),
            None => None,
        };
        let tag = match self.vlan {
            Some(v) => parse_mac_tag(&format!("@{v}")).map_err(|e| invalid(format!("{e:#}")))?.1,
            None => None,
        };
        let ovs = OvsOptions {
            external_ids: vec![
                ("pipework.cni.network".to_string(), self.name.clone()),
                ("pipework.cni.ifname".to_string(), env.ifname.clone()),
            ],
            db: self.ovs_db.clone(),
            ..Default::default()
        };
        let host_if = HostIfRef::parse(&self.hostif).map_err(|e| invalid(format!("\"hostif\": {e:#}")))?;
        let mut a = Attach::new(host_if, GuestRef::NetnsPath(netns), address);
        a.guest_if = Some(
            IfName::parse(&env.ifname, "CNI_IFNAME")
                .map_err(|e| CniError::new(code::INVALID_ENVIRONMENT, format!("{e:#}")))?,
        );
        (a.mac, a.tag, a.routes, a.ovs) = (mac, tag, routes, ovs);
        a.tuning.mtu = self.mtu;
        Ok(a)
    }

    /// How messages and DHCP name the guest: the pod's name, else the
    /// container ID cut to 12 characters, as `docker ps` shows it.
    pub fn label(&self, env: &Env) -> String {
        match env.pod_name() {
            Some(pod) => pod.to_string(),
            None => env.container_id.chars().take(12).collect(),
        }
    }

    /// Who the guest is for OVS external-ids and DHCP: the container ID, and
    /// the pod's name when the runtime passed one.
    pub fn container(&self, env: &Env) -> Container {
        let name = env.pod_name().unwrap_or(&env.container_id);
        Container { id: env.container_id.clone(), name: name.to_string() }
    }
}

/// `ADDR/PREFIX` field `key` of a result's object, required.
fn prefix_field(o: &Value, key: &str) -> Result<IpNet> {
    o.get(key)
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| CniError::new(code::DECODING_FAILURE, format!("result: {o} has no \"{key}\" as ADDR/PREFIX")))
}

/// IP address field `key` of a result's object, when present.
fn ip_field(o: &Value, key: &str) -> Result<Option<IpAddr>> {
    match o.get(key).and_then(Value::as_str) {
        Some(a) => a
            .parse()
            .map(Some)
            .map_err(|_| CniError::new(code::DECODING_FAILURE, format!("result: \"{key}\": {a} is not an IP address"))),
        None => Ok(None),
    }
}

/// Addresses and routes, as an IPAM result (or a prevResult) gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Addresses {
    pub ips: Vec<(IpNet, Option<IpAddr>)>,
    pub routes: Vec<Route>,
}

impl Addresses {
    /// Reads `ips` and `routes` of a result object, keeping only the IPs
    /// that belong to interface `only` (an index into `interfaces`) when given.
    pub fn from_result(v: &Value, only: Option<usize>) -> Result<Addresses> {
        let mut out = Addresses::default();
        for ip in v.get("ips").and_then(Value::as_array).into_iter().flatten() {
            if let (Some(want), Some(i)) = (only, ip.get("interface").and_then(Value::as_u64)) {
                if i as usize != want {
                    continue;
                }
            }
            out.ips.push((prefix_field(ip, "address")?, ip_field(ip, "gateway")?));
        }
        for r in v.get("routes").and_then(Value::as_array).into_iter().flatten() {
            out.routes.push(Route { dest: prefix_field(r, "dst")?, via: ip_field(r, "gw")? });
        }
        // A route without "gw" goes through "a default gateway, as the
        // plugin determines it": that family's gateway in "ips", as the
        // reference plugins read it.
        for r in out.routes.iter_mut().filter(|r| r.via.is_none()) {
            r.via = out.ips.iter().filter_map(|(_, gw)| *gw).find(|gw| gw.is_ipv4() == r.dest.addr().is_ipv4());
        }
        Ok(out)
    }

    /// As an attach takes them: the addresses, a default route (`0/0` via a
    /// gateway) as the gateway of that family's first address, as the
    /// command line's `ADDR@GW` says it; every other route as a route.
    fn as_request(&self) -> (AddressSpec, Vec<Route>) {
        let mut addrs: Vec<Addressed> = self.ips.iter().map(|(a, _)| Addressed { addr: *a, gateway: None }).collect();
        let mut routes = Vec::new();
        for r in &self.routes {
            let default_via = r.via.filter(|_| r.dest.prefix_len() == 0);
            let owner = default_via.and_then(|gw| {
                addrs.iter_mut().find(|a| a.addr.addr().is_ipv4() == gw.is_ipv4() && a.gateway.is_none())
            });
            match (owner, default_via) {
                (Some(a), Some(gw)) => a.gateway = Some(gw),
                _ => routes.push(r.clone()),
            }
        }
        if addrs.is_empty() {
            (AddressSpec::None { gateway: None }, routes)
        } else {
            (AddressSpec::Static { addrs }, routes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Env> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::read(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn add_env() -> Env {
        env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c0ffee"),
            ("CNI_NETNS", "/var/run/netns/pod1"),
            ("CNI_IFNAME", "net1"),
            ("CNI_PATH", "/usr/lib/cni"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web"),
        ])
        .unwrap()
    }

    #[test]
    fn missing_variables_are_named() {
        let e = env(&[("CNI_COMMAND", "ADD"), ("CNI_CONTAINERID", "x")]).unwrap_err();
        assert_eq!(e.code, code::INVALID_ENVIRONMENT);
        assert!(e.msg.contains("CNI_NETNS, CNI_IFNAME, CNI_PATH"), "{}", e.msg);
        assert_eq!(env(&[("CNI_COMMAND", "BOGUS")]).unwrap_err().code, code::INVALID_ENVIRONMENT);
        assert!(env(&[("CNI_COMMAND", "VERSION")]).is_ok());
    }

    #[test]
    fn a_command_line_translates_one_to_one() {
        let conf = br#"{"cniVersion":"1.0.0","name":"lan","type":"pipework","hostif":"br0",
                        "address":"10.10.103.95/24@10.10.103.254","vlan":100,"mtu":1400,"mac":"U:web"}"#;
        let conf = NetConf::parse(conf, Command::Add).unwrap();
        let a = conf.attach(&add_env(), None).unwrap();
        assert_eq!(a.host_if.to_string(), "br0");
        assert_eq!(a.guest_if.unwrap().as_str(), "net1");
        assert_eq!(a.guest, GuestRef::NetnsPath("/var/run/netns/pod1".into()));
        assert_eq!(a.address, AddressSpec::parse("10.10.103.95/24@10.10.103.254", None).unwrap());
        assert_eq!(a.tag.unwrap().vlan_id().unwrap(), 100);
        assert_eq!(a.tuning.mtu, Some(1400));
        assert_eq!(a.mac, Some(parse_mac("U:web").unwrap()));
        assert!(a.ovs.external_ids.contains(&("pipework.cni.network".into(), "lan".into())));
        assert_eq!(conf.container(&add_env()).name, "web");
        assert_eq!(conf.label(&add_env()), "web");
    }

    #[test]
    fn an_ovn_switch_is_a_hostif_too() {
        let conf = br#"{"cniVersion":"1.0.0","name":"ovn","type":"pipework","hostif":"ovn:ls1",
                        "address":"10.50.0.11/24@10.50.0.1"}"#;
        let conf = NetConf::parse(conf, Command::Add).unwrap();
        let a = conf.attach(&add_env(), None).unwrap();
        assert_eq!(a.host_if, crate::request::HostIfRef::Ovn("ls1".into()));
        assert!(a.ovs.external_ids.contains(&("pipework.cni.network".into(), "ovn".into())));
    }

    #[test]
    fn the_runtime_mac_wins() {
        let conf = br#"{"cniVersion":"1.0.0","name":"n","hostif":"br0","mac":"02:00:00:00:00:01",
                        "runtimeConfig":{"mac":"02:00:00:00:00:02"}}"#;
        let a = NetConf::parse(conf, Command::Add).unwrap().attach(&add_env(), None).unwrap();
        assert_eq!(a.mac, Some(parse_mac("02:00:00:00:00:02").unwrap()));
    }

    #[test]
    fn bad_configurations_say_which_field() {
        let cases: [(&[u8], u32, &str); 8] = [
            (b"{", code::DECODING_FAILURE, "not JSON"),
            (br#"{"cniVersion":"9.9.9","hostif":"br0"}"#, code::INCOMPATIBLE_VERSION, "9.9.9"),
            (br#"{"cniVersion":"1.0.0"}"#, code::INVALID_CONFIG, "hostif"),
            (br#"{"cniVersion":"1.0.0","hostif":"br0","vlan":4095}"#, code::INVALID_CONFIG, "vlan"),
            (br#"{"cniVersion":"1.0.0","hostif":"br0","mtu":"big"}"#, code::INVALID_CONFIG, "mtu"),
            (br#"{"cniVersion":"1.0.0","hostif":"br0","address":"10.0.0.300/24"}"#, code::INVALID_CONFIG, "address"),
            (
                br#"{"cniVersion":"1.0.0","hostif":"br0","address":"dhcp","ipam":{"type":"static"}}"#,
                code::INVALID_CONFIG,
                "keep one",
            ),
            (br#"{"cniVersion":"1.0.0","hostif":"br0","ipam":{"type":"../x"}}"#, code::INVALID_CONFIG, "plain"),
        ];
        for (conf, want, word) in cases {
            let e = NetConf::parse(conf, Command::Add).unwrap_err();
            assert_eq!((e.code, e.msg.contains(word)), (want, true), "{}: {e}", String::from_utf8_lossy(conf));
        }
    }

    #[test]
    fn ipam_default_route_becomes_the_gateway() {
        let result = serde_json::json!({
            "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1"}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "192.168.0.0/16", "gw": "10.1.0.254"}]
        });
        let (spec, routes) = Addresses::from_result(&result, None).unwrap().as_request();
        assert_eq!(spec, AddressSpec::parse("10.1.0.5/24@10.1.0.1", None).unwrap());
        assert_eq!(
            routes,
            [Route { dest: "192.168.0.0/16".parse().unwrap(), via: Some("10.1.0.254".parse().unwrap()) }]
        );
    }

    #[test]
    fn gc_reads_valid_attachments() {
        let conf =
            br#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth1"}]}"#;
        let c = NetConf::parse(conf, Command::Gc).unwrap();
        assert!(c.valid_attachments.contains(&("a".to_string(), "eth1".to_string())));
    }
}
