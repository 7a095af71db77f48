//! The result object an ADD prints, in the version the runtime asked for.
//! Pure: the interfaces and addresses are read by the caller.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::commands::cni::config::version_tuple;

/// One interface of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// The namespace path, for the container's interface only.
    pub sandbox: Option<String>,
}

/// What this ADD made, for its result.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// The host side first (a bridge, then the veth's host end), the guest's
    /// interface last; a macvlan has only the guest's.
    pub interfaces: Vec<Interface>,
    pub ips: Vec<(IpNet, Option<IpAddr>)>,
    /// As the result carries them (`dst`, `gw`, and 1.1's extra fields an
    /// IPAM plugin may have set).
    pub routes: Vec<Value>,
    pub dns: Value,
}

impl Interface {
    fn to_value(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        if let Some(m) = &self.mac {
            o.insert("mac".into(), json!(m));
        }
        if let Some(m) = self.mtu {
            o.insert("mtu".into(), json!(m));
        }
        if let Some(s) = &self.sandbox {
            o.insert("sandbox".into(), json!(s));
        }
        Value::Object(o)
    }
}

/// The result: what came before us in a chain (`prevResult`), with our
/// interfaces appended and our addresses pointing at the guest's one.
pub fn build(prev: Option<&Value>, made: &Made, version: &str) -> Value {
    let list = |key: &str| prev.and_then(|p| p.get(key)).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut interfaces = list("interfaces");
    let mut ips = list("ips");
    let mut routes = list("routes");
    interfaces.extend(made.interfaces.iter().map(Interface::to_value));
    let guest_index = interfaces.len().saturating_sub(1);
    for (addr, gw) in &made.ips {
        let mut o = Map::new();
        o.insert("interface".into(), json!(guest_index));
        o.insert("address".into(), json!(addr.to_string()));
        if let Some(g) = gw {
            o.insert("gateway".into(), json!(g.to_string()));
        }
        ips.push(Value::Object(o));
    }
    routes.extend(made.routes.iter().cloned());
    let dns = match prev.and_then(|p| p.get("dns")) {
        Some(d) if d.as_object().is_some_and(|o| !o.is_empty()) => d.clone(),
        _ => made.dns.clone(),
    };
    let mut r = json!({
        "cniVersion": version,
        "interfaces": interfaces,
        "ips": ips,
        "routes": routes,
        "dns": if dns.is_null() { json!({}) } else { dns },
    });
    convert(&mut r, version);
    r
}

/// Fits a result to a spec version: before 1.0.0 each IP says its `version`
/// ("4" or "6"), from 1.0.0 it must not; interface `mtu` exists from 1.1.0.
pub fn convert(r: &mut Value, version: &str) {
    let v = version_tuple(version);
    if let Some(o) = r.as_object_mut() {
        o.insert("cniVersion".into(), json!(version));
    }
    for ip in r.get_mut("ips").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(o) = ip.as_object_mut() else { continue };
        if v < (1, 0, 0) {
            let six = o.get("address").and_then(Value::as_str).is_some_and(|a| a.contains(':'));
            o.insert("version".into(), json!(if six { "6" } else { "4" }));
        } else {
            o.remove("version");
        }
    }
    if v < (1, 1, 0) {
        for i in r.get_mut("interfaces").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(o) = i.as_object_mut() {
                o.remove("mtu");
            }
        }
    }
}

/// The index of the container's interface `ifname` in a result, if listed.
pub fn guest_interface(r: &Value, ifname: &str) -> Option<(usize, Option<String>)> {
    r.get("interfaces")?.as_array()?.iter().enumerate().find_map(|(i, v)| {
        let named = v.get("name").and_then(Value::as_str) == Some(ifname);
        let inside = v.get("sandbox").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        (named && inside).then(|| (i, v.get("mac").and_then(Value::as_str).map(str::to_string)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made() -> Made {
        Made {
            interfaces: vec![
                Interface { name: "br0".into(), mac: Some("02:00:00:00:00:01".into()), mtu: None, sandbox: None },
                Interface { name: "vnet1pl42".into(), mac: Some("02:00:00:00:00:02".into()), mtu: None, sandbox: None },
                Interface {
                    name: "net1".into(),
                    mac: Some("02:00:00:00:00:03".into()),
                    mtu: Some(1500),
                    sandbox: Some("/var/run/netns/pod1".into()),
                },
            ],
            ips: vec![("10.0.0.5/24".parse().unwrap(), Some("10.0.0.1".parse().unwrap()))],
            routes: vec![json!({"dst": "0.0.0.0/0", "gw": "10.0.0.1"})],
            dns: Value::Null,
        }
    }

    #[test]
    fn the_shape_of_the_bridge_plugin() {
        let r = build(None, &made(), "1.0.0");
        assert_eq!(r["ips"][0], json!({"interface": 2, "address": "10.0.0.5/24", "gateway": "10.0.0.1"}));
        assert_eq!(r["interfaces"][2]["sandbox"], "/var/run/netns/pod1");
        assert!(r["interfaces"][2].get("mtu").is_none(), "mtu is 1.1.0's");
        assert_eq!(r["dns"], json!({}));
        assert_eq!(build(None, &made(), "1.1.0")["interfaces"][2]["mtu"], 1500);
        assert_eq!(build(None, &made(), "0.4.0")["ips"][0]["version"], "4");
        assert_eq!(guest_interface(&r, "net1"), Some((2, Some("02:00:00:00:00:03".into()))));
    }

    #[test]
    fn a_chain_keeps_what_came_before() {
        let prev = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
                          "ips": [{"interface": 0, "address": "192.168.1.2/24"}], "dns": {"nameservers": ["1.1.1.1"]}});
        let r = build(Some(&prev), &made(), "1.0.0");
        assert_eq!(r["interfaces"].as_array().unwrap().len(), 4);
        assert_eq!(r["ips"][1]["interface"], 3);
        assert_eq!(r["dns"]["nameservers"][0], "1.1.1.1");
    }
}
