//! OVN's Northbound database (the `OVN_Northbound` schema), through the
//! same OVSDB client as Open vSwitch's: the logical switch ports an
//! `ovn:LSWITCH` attach makes and `--detach` removes. The Southbound
//! database is never written; ovn-northd derives it.
//!
//! An attach reads once (the switch, its ports, the DHCP options) and
//! writes once: the Logical_Switch_Port row and its place in the switch's
//! `ports`, guarded so that a switch deleted or a port of the same name
//! made meanwhile fails the transaction instead of half-applying it.
//! Logical_Switch_Port is not a root table: a row no switch refers to is
//! garbage-collected by ovsdb-server, so taking a port out of its switch
//! deletes it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::{delete, eq, includes, insert, Atom, Client, Datum, Error, Op, Reply, Row, Tls, TlsFiles};

pub const DB: &str = "OVN_Northbound";

/// Where OVN's packages put the Northbound socket, as ovn-nbctl finds it.
pub const DEFAULT_REMOTE: &str = "unix:/var/run/ovn/ovnnb_db.sock";

/// The Northbound database `--ovn-nb` names, else `OVN_NB_DB`, else the
/// default socket, as ovn-nbctl chooses.
pub fn remote(asked: Option<&str>) -> String {
    asked
        .map(str::to_string)
        .or_else(|| std::env::var("OVN_NB_DB").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_REMOTE.to_string())
}

/// The files an `ssl:` remote needs, from `--ovn-nb-key`, `--ovn-nb-cert`
/// and `--ovn-nb-ca`: all three for an `ssl:` remote (a cluster's list may
/// mix it with others), none needed otherwise, and then ignored, as
/// ovn-nbctl ignores its -p/-c/-C.
pub fn tls_files(
    remote: &str,
    key: Option<&std::path::Path>,
    cert: Option<&std::path::Path>,
    ca: Option<&std::path::Path>,
) -> Result<Option<TlsFiles>> {
    if !remote.split(',').any(|r| r.trim().starts_with("ssl:")) {
        return Ok(None);
    }
    match (key, cert, ca) {
        (Some(key), Some(cert), Some(ca)) => {
            Ok(Some(TlsFiles { key: key.to_path_buf(), cert: cert.to_path_buf(), ca: ca.to_path_buf() }))
        }
        _ => {
            let missing: Vec<&str> = [
                (key, "--ovn-nb-key KEY (ovn-nbctl -p)"),
                (cert, "--ovn-nb-cert CERT (-c)"),
                (ca, "--ovn-nb-ca CACERT (-C)"),
            ]
            .iter()
            .filter(|(f, _)| f.is_none())
            .map(|(_, n)| *n)
            .collect();
            bail!(
                "OVN's Northbound database {remote} is reached over TLS, which needs this client's private key, \
                 its certificate and the CA certificate; missing: {} (with ovs-pki: NAME-privkey.pem, \
                 NAME-cert.pem, and the CA's cacert.pem)",
                missing.join(", ")
            )
        }
    }
}

/// A client of the Northbound database, connected on first use.
pub struct Northbound {
    client: Client,
}

impl fmt::Debug for Northbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Northbound({})", self.client.spelled())
    }
}

/// A logical switch port as pipework reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRow {
    pub uuid: String,
    pub name: String,
    /// `addresses`: "MAC IP…", "MAC dynamic", "router", "unknown".
    pub addresses: Vec<String>,
    /// What OVN's IPAM gave a "dynamic" port: "MAC IP".
    pub dynamic_addresses: String,
    pub external_ids: BTreeMap<String, String>,
    /// The switch that holds it ("" when none does).
    pub switch: String,
}

impl PortRow {
    /// Every MAC and IP address this port claims, as written.
    pub fn claims(&self) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for entry in self.addresses.iter().chain(std::iter::once(&self.dynamic_addresses)) {
            words.extend(entry.split_whitespace().filter(|w| !matches!(*w, "router" | "unknown" | "dynamic")).map(
                |w| {
                    // IPs may carry a prefix in `addresses`.
                    w.split('/').next().unwrap_or(w).to_ascii_lowercase()
                },
            ));
        }
        words
    }
}

/// A logical switch.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchRow {
    pub uuid: String,
    pub name: String,
    pub ports: Vec<String>,
    /// `other_config:subnet`: OVN's IPAM hands out addresses of it.
    pub subnet: Option<String>,
}

/// What an attach must know before it writes, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Survey {
    /// Every logical switch (a port's switch is found through them).
    pub switches: Vec<SwitchRow>,
    pub ports: Vec<PortRow>,
    /// DHCP_Options rows: UUID and `cidr`.
    pub dhcp: Vec<(String, String)>,
}

impl Survey {
    pub fn switch(&self, name: &str) -> Option<&SwitchRow> {
        self.switches.iter().find(|s| s.name == name)
    }

    pub fn port(&self, name: &str) -> Option<&PortRow> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The ports of one switch.
    pub fn ports_of<'a>(&'a self, switch: &'a str) -> impl Iterator<Item = &'a PortRow> {
        self.ports.iter().filter(move |p| p.switch == switch)
    }

    /// The DHCP_Options row for a subnet (by its `cidr`).
    pub fn dhcp_for(&self, subnet: &str) -> Option<&str> {
        self.dhcp.iter().find(|(_, cidr)| same_subnet(cidr, subnet)).map(|(u, _)| u.as_str())
    }
}

fn same_subnet(a: &str, b: &str) -> bool {
    match (a.parse::<ipnet::IpNet>(), b.parse::<ipnet::IpNet>()) {
        (Ok(a), Ok(b)) => a.trunc() == b.trunc(),
        _ => a == b,
    }
}

/// The logical switch port an attach makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub switch: String,
    pub name: String,
    /// One `addresses` entry: "MAC IP…" or "MAC dynamic".
    pub addresses: String,
    /// One `port_security` entry: "MAC IP…", or "MAC" alone.
    pub port_security: String,
    /// `dhcpv4_options`: a DHCP_Options row's UUID.
    pub dhcpv4_options: Option<String>,
    pub external_ids: Vec<(String, String)>,
}

impl PortSpec {
    /// The write: guards, the row, its place in the switch. `replace`: the
    /// UUID of a leftover row of the same name, taken out of its switch
    /// (and so deleted) in the same transaction.
    pub fn ops(&self, replace: Option<&str>) -> Vec<Op> {
        let mut ops = vec![Op::Comment(format!("pipework: {}", self.nbctl()))];
        ops.push(Op::wait_some("Logical_Switch", vec![eq("name", self.switch.as_str())]));
        match replace {
            Some(old) => {
                let u = Datum::uuid(old);
                ops.push(Op::wait_some("Logical_Switch_Port", vec![eq("_uuid", u.clone())]));
                ops.push(Op::mutate("Logical_Switch", vec![includes("ports", u.clone())], vec![delete("ports", u)]));
            }
            None => ops.push(Op::wait_none("Logical_Switch_Port", vec![eq("name", self.name.as_str())])),
        }
        let mut row = Row::new()
            .with("name", self.name.as_str())
            .with("addresses", Datum::strings(&[&self.addresses]))
            .with("port_security", Datum::strings(&[&self.port_security]))
            .with("external_ids", Datum::string_map(&self.external_ids));
        if let Some(d) = &self.dhcpv4_options {
            row.set("dhcpv4_options", Datum::uuid(d));
        }
        ops.push(Op::insert("Logical_Switch_Port", row, Some("lsp")));
        ops.push(Op::mutate(
            "Logical_Switch",
            vec![eq("name", self.switch.as_str())],
            vec![insert("ports", Datum::named_uuid("lsp"))],
        ));
        ops
    }

    /// The index of the insert among `ops(replace)`.
    fn insert_op(replace: Option<&str>) -> usize {
        if replace.is_some() {
            4
        } else {
            3
        }
    }

    /// The same write as ovn-nbctl commands (`--dry-run`, the server's log).
    pub fn nbctl(&self) -> String {
        let (s, p) = (&self.switch, &self.name);
        let mut line = format!(
            "lsp-add {s} {p} -- lsp-set-addresses {p} \"{}\" -- lsp-set-port-security {p} \"{}\"",
            self.addresses, self.port_security
        );
        if let Some(d) = &self.dhcpv4_options {
            line.push_str(&format!(" -- lsp-set-dhcpv4-options {p} {d}"));
        }
        if !self.external_ids.is_empty() {
            line.push_str(&format!(" -- set Logical_Switch_Port {p}"));
            for (k, v) in &self.external_ids {
                line.push_str(&format!(" external_ids:{k}={v}"));
            }
        }
        line
    }
}

/// Why the write did not commit, when a guard says so.
#[derive(Debug, PartialEq)]
pub enum Lost {
    /// The switch was deleted since it was read.
    Switch,
    /// A port of that name appeared (or the leftover went) meanwhile.
    Port,
}

impl Northbound {
    /// A client of `remote` (`unix:PATH`, `tcp:IP:PORT`, `ssl:IP:PORT` with
    /// `tls`; a list for a cluster); nothing is opened yet.
    pub fn with_tls(remote: &str, timeout: Duration, tls: Option<Tls>) -> Northbound {
        Northbound { client: Client::with_tls(remote, timeout, tls.map(std::rc::Rc::new)) }
    }

    pub fn spelled(&self) -> &str {
        self.client.spelled()
    }

    /// Does the server answer? (Opens the connection later requests reuse.)
    pub fn answers(&self) -> Result<(), Error> {
        self.client.connect()
    }

    fn transact(&self, ops: &[Op]) -> Result<Reply, Error> {
        self.client.transact(DB, ops)
    }

    /// Switches, ports and DHCP options, in one read.
    pub fn survey(&self) -> Result<Survey> {
        let r = self
            .transact(&survey_ops())
            .with_context(|| format!("reading OVN's Northbound database at {}", self.spelled()))?;
        parse_survey(&r).map_err(|e| anyhow!("OVN's Northbound database at {}: {e}", self.spelled()))
    }

    /// The attach's one write; the new row's UUID. A guard that failed is
    /// `Err(Ok(Lost))`, any other failure `Err(Err(_))`.
    pub fn add_port(&self, spec: &PortSpec, replace: Option<&str>) -> Result<String, Result<Lost, anyhow::Error>> {
        let ops = spec.ops(replace);
        match self.transact(&ops) {
            Ok(reply) => reply.uuid(PortSpec::insert_op(replace)).map_err(|e| Err(anyhow!(e))),
            Err(Error::Txn { txn, .. }) if txn.op == Some(1) => Err(Ok(Lost::Switch)),
            Err(Error::Txn { txn, .. }) if txn.op == Some(2) => Err(Ok(Lost::Port)),
            Err(e) => Err(Err(anyhow!(e))),
        }
    }

    /// Takes the port of this UUID out of whichever switch holds it (ovsdb
    /// then deletes it): an attach's undo.
    pub fn remove_port(&self, uuid: &str) -> Result<()> {
        self.transact(&[remove_op(uuid)]).map(drop).with_context(|| {
            format!("removing the new logical switch port from OVN's Northbound database at {}", self.spelled())
        })
    }

    /// The port of this name, if any.
    pub fn port(&self, name: &str) -> Result<Option<PortRow>> {
        let ops = [Op::select("Logical_Switch_Port", vec![eq("name", name)], &PORT_COLUMNS)];
        let r = self.transact(&ops).with_context(|| format!("looking up logical switch port {name}"))?;
        let rows = r.rows(0).map_err(|e| anyhow!(e))?;
        rows.first().map(port_row).transpose().map_err(|e| anyhow!(e))
    }

    /// `--detach`: the port of this name goes, when pipework made it (its
    /// external_ids say so). Whether there was one to remove.
    pub fn del_port(&self, name: &str) -> Result<bool> {
        let Some(p) = self.port(name)? else { return Ok(false) };
        if !p.external_ids.contains_key("pipework.interface") {
            bail!(
                "logical switch port {name} was not made by pipework (no pipework.* external_ids); \
                 left alone (remove it with ovn-nbctl lsp-del {name})"
            );
        }
        self.transact(&[remove_op(&p.uuid)])
            .with_context(|| format!("removing logical switch port {name} from OVN's Northbound database"))?;
        Ok(true)
    }
}

const PORT_COLUMNS: [&str; 5] = ["_uuid", "name", "addresses", "dynamic_addresses", "external_ids"];

/// The survey's reads: switches, ports, DHCP options.
pub fn survey_ops() -> Vec<Op> {
    vec![
        Op::select("Logical_Switch", vec![], &["_uuid", "name", "ports", "other_config"]),
        Op::select("Logical_Switch_Port", vec![], &PORT_COLUMNS),
        Op::select("DHCP_Options", vec![], &["_uuid", "cidr"]),
    ]
}

/// A port out of its switch (by UUID, so that a port of the same name made
/// since is not touched).
pub fn remove_op(uuid: &str) -> Op {
    let u = Datum::uuid(uuid);
    Op::mutate("Logical_Switch", vec![includes("ports", u.clone())], vec![delete("ports", u)])
}

fn strings(row: &Row, column: &str) -> Vec<String> {
    row.get(column)
        .map(|d| d.atoms().into_iter().filter_map(Atom::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn port_row(row: &Row) -> Result<PortRow, super::datum::Malformed> {
    Ok(PortRow {
        uuid: row.uuid("_uuid").ok_or_else(|| super::datum::Malformed("a port without _uuid".into()))?.to_string(),
        name: row.str("name").to_string(),
        addresses: strings(row, "addresses"),
        dynamic_addresses: strings(row, "dynamic_addresses").join(" "),
        external_ids: row.map("external_ids"),
        switch: String::new(),
    })
}

pub fn parse_survey(r: &Reply) -> Result<Survey, super::datum::Malformed> {
    let mut s = Survey::default();
    for row in r.rows(0)? {
        s.switches.push(SwitchRow {
            uuid: row.uuid("_uuid").unwrap_or_default().to_string(),
            name: row.str("name").to_string(),
            ports: row.uuids("ports").into_iter().map(str::to_string).collect(),
            subnet: row.map("other_config").get("subnet").cloned(),
        });
    }
    for row in r.rows(1)? {
        let mut p = port_row(&row)?;
        p.switch =
            s.switches.iter().find(|sw| sw.ports.contains(&p.uuid)).map(|sw| sw.name.clone()).unwrap_or_default();
        s.ports.push(p);
    }
    for row in r.rows(2)? {
        s.dhcp.push((row.uuid("_uuid").unwrap_or_default().to_string(), row.str("cidr").to_string()));
    }
    Ok(s)
}

/// The IP of a claim word, when it is one.
pub fn claim_ip(word: &str) -> Option<IpAddr> {
    word.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_ssl_remote_needs_all_three_files_and_others_none() {
        let (k, c, ca) = (std::path::Path::new("k.pem"), std::path::Path::new("c.pem"), std::path::Path::new("ca.pem"));
        assert_eq!(tls_files("tcp:10.0.0.1:6641", Some(k), Some(c), Some(ca)).unwrap(), None);
        assert_eq!(tls_files("unix:/x.sock", None, None, None).unwrap(), None);
        let f = tls_files("ssl:10.0.0.1:6641", Some(k), Some(c), Some(ca)).unwrap().unwrap();
        assert_eq!((f.key.as_path(), f.cert.as_path(), f.ca.as_path()), (k, c, ca));
        assert_eq!(f.nbctl_args(), " -p k.pem -c c.pem -C ca.pem");
        // A cluster whose list holds one ssl: member needs them too.
        let e = tls_files("tcp:10.0.0.1:6641, ssl:10.0.0.2:6641", Some(k), None, None).unwrap_err().to_string();
        assert!(e.contains("missing: --ovn-nb-cert CERT (-c), --ovn-nb-ca CACERT (-C)"), "{e}");
        let e = tls_files("ssl:10.0.0.1:6641", None, None, None).unwrap_err().to_string();
        assert!(e.contains("--ovn-nb-key KEY (ovn-nbctl -p), --ovn-nb-cert"), "{e}");
    }

    fn spec(dhcp: bool) -> PortSpec {
        PortSpec {
            switch: "ls1".into(),
            name: "web1-eth1".into(),
            addresses: if dhcp { "0a:00:00:00:00:01 dynamic" } else { "0a:00:00:00:00:01 10.50.0.11" }.into(),
            port_security: if dhcp { "0a:00:00:00:00:01" } else { "0a:00:00:00:00:01 10.50.0.11" }.into(),
            dhcpv4_options: dhcp.then(|| "5f1c3a9e-0000-4000-8000-000000000001".to_string()),
            external_ids: vec![("pipework.interface".into(), "eth1".into())],
        }
    }

    fn wire(ops: &[Op]) -> Vec<serde_json::Value> {
        ops.iter().map(Op::to_json).collect()
    }

    #[test]
    fn an_attach_writes_one_port_and_its_place_in_the_switch_under_guards() {
        let w = wire(&spec(false).ops(None));
        assert_eq!(w.len(), 5);
        assert_eq!(w[0]["op"], "comment");
        assert_eq!(
            w[1],
            json!({"op": "wait", "table": "Logical_Switch", "where": [["name", "==", "ls1"]],
                   "columns": ["_uuid"], "until": "!=", "rows": [], "timeout": 0})
        );
        assert_eq!(
            w[2],
            json!({"op": "wait", "table": "Logical_Switch_Port", "where": [["name", "==", "web1-eth1"]],
                   "columns": ["_uuid"], "until": "==", "rows": [], "timeout": 0})
        );
        assert_eq!(
            w[3],
            json!({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": "lsp", "row": {
                "name": "web1-eth1",
                "addresses": "0a:00:00:00:00:01 10.50.0.11",
                "port_security": "0a:00:00:00:00:01 10.50.0.11",
                "external_ids": ["map", [["pipework.interface", "eth1"]]]}})
        );
        assert_eq!(
            w[4],
            json!({"op": "mutate", "table": "Logical_Switch", "where": [["name", "==", "ls1"]],
                   "mutations": [["ports", "insert", ["named-uuid", "lsp"]]]})
        );
        assert_eq!(PortSpec::insert_op(None), 3);
    }

    #[test]
    fn dhcp_ports_are_dynamic_with_their_options_row() {
        let w = wire(&spec(true).ops(None));
        assert_eq!(w[3]["row"]["addresses"], "0a:00:00:00:00:01 dynamic");
        assert_eq!(w[3]["row"]["port_security"], "0a:00:00:00:00:01");
        assert_eq!(w[3]["row"]["dhcpv4_options"], json!(["uuid", "5f1c3a9e-0000-4000-8000-000000000001"]));
        assert!(spec(true).nbctl().contains("lsp-set-dhcpv4-options web1-eth1 5f1c3a9e"));
    }

    #[test]
    fn a_leftover_of_the_same_name_goes_in_the_same_transaction() {
        let old = "11111111-2222-4333-8444-555555555555";
        let w = wire(&spec(false).ops(Some(old)));
        assert_eq!(w[2]["where"], json!([["_uuid", "==", ["uuid", old]]]));
        assert_eq!(w[2]["until"], "!=");
        assert_eq!(
            w[3],
            json!({"op": "mutate", "table": "Logical_Switch", "where": [["ports", "includes", ["uuid", old]]],
                   "mutations": [["ports", "delete", ["uuid", old]]]})
        );
        assert_eq!(w[4]["op"], "insert");
        assert_eq!(PortSpec::insert_op(Some(old)), 4);
    }

    #[test]
    fn the_dry_run_speaks_ovn_nbctl() {
        assert_eq!(
            spec(false).nbctl(),
            "lsp-add ls1 web1-eth1 -- lsp-set-addresses web1-eth1 \"0a:00:00:00:00:01 10.50.0.11\" \
             -- lsp-set-port-security web1-eth1 \"0a:00:00:00:00:01 10.50.0.11\" \
             -- set Logical_Switch_Port web1-eth1 external_ids:pipework.interface=eth1"
        );
    }

    #[test]
    fn a_survey_finds_each_ports_switch_and_claims() {
        // As ovsdb-server answered the survey's three selects (recorded from OVN 23.03's NB).
        let result = json!([
            {"rows": [
                {"_uuid": ["uuid", "a1"], "name": "ls1", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]],
                 "other_config": ["map", [["subnet", "10.50.0.0/24"]]]},
                {"_uuid": ["uuid", "a2"], "name": "ls2", "ports": ["uuid", "p3"], "other_config": ["map", []]}]},
            {"rows": [
                {"_uuid": ["uuid", "p1"], "name": "lsp-g12", "addresses": "02:00:00:00:00:12 10.50.0.12",
                 "dynamic_addresses": ["set", []], "external_ids": ["map", []]},
                {"_uuid": ["uuid", "p2"], "name": "d1", "addresses": "0a:00:00:00:00:09 dynamic",
                 "dynamic_addresses": "0a:00:00:00:00:09 10.50.0.2", "external_ids": ["map", []]},
                {"_uuid": ["uuid", "p3"], "name": "ls2-lr1", "addresses": "router",
                 "dynamic_addresses": ["set", []], "external_ids": ["map", []]}]},
            {"rows": [{"_uuid": ["uuid", "d0"], "cidr": "10.50.0.0/24"}]}
        ]);
        let s = parse_survey(&Reply::parse(&result, 3).unwrap().unwrap()).unwrap();
        assert_eq!(s.switch("ls1").unwrap().subnet.as_deref(), Some("10.50.0.0/24"));
        assert_eq!(s.port("lsp-g12").unwrap().switch, "ls1");
        assert_eq!(s.port("ls2-lr1").unwrap().switch, "ls2");
        assert_eq!(s.ports_of("ls1").count(), 2);
        assert_eq!(s.port("lsp-g12").unwrap().claims(), ["02:00:00:00:00:12", "10.50.0.12"]);
        assert_eq!(s.port("d1").unwrap().claims(), ["0a:00:00:00:00:09", "0a:00:00:00:00:09", "10.50.0.2"]);
        assert!(s.port("ls2-lr1").unwrap().claims().is_empty());
        assert_eq!(s.dhcp_for("10.50.0.0/24"), Some("d0"));
        assert_eq!(s.dhcp_for("10.60.0.0/24"), None);
        assert_eq!(
            wire(&survey_ops())[1],
            json!({"op": "select", "table": "Logical_Switch_Port", "where": [],
                   "columns": ["_uuid", "name", "addresses", "dynamic_addresses", "external_ids"]})
        );
    }

    #[test]
    fn undo_and_detach_take_the_port_out_of_its_switch() {
        assert_eq!(
            remove_op("p1").to_json(),
            json!({"op": "mutate", "table": "Logical_Switch", "where": [["ports", "includes", ["uuid", "p1"]]],
                   "mutations": [["ports", "delete", ["uuid", "p1"]]]})
        );
    }

    /// Against a scripted server: the attach's write is one `transact`
    /// on OVN_Northbound, the insert's UUID comes back, and a failed guard
    /// says which one.
    #[test]
    fn one_transact_per_attach_and_guards_that_name_what_changed() {
        use crate::sys::ovsdb::fake::Fake;
        let mut n = 0;
        let fake = Fake::start("nb", move |req| {
            n += 1;
            vec![match (req["method"].as_str(), n) {
                (Some("transact"), 1) => {
                    r#"{"id":$ID,"result":[{},{},{},{"uuid":["uuid","9a2b"]},{"count":1}],"error":null}"#.to_string()
                }
                (Some("transact"), 2) => {
                    r#"{"id":$ID,"result":[{},{"error":"timed out","details":"\"wait\" timed out"}],"error":null}"#
                        .to_string()
                }
                _ => r#"{"id":$ID,"result":[{},{},{"error":"timed out","details":""}],"error":null}"#.to_string(),
            }]
        });
        let nb = Northbound::with_tls(&fake.remote(), Duration::from_secs(5), None);
        assert_eq!(nb.add_port(&spec(false), None).unwrap(), "9a2b");
        assert!(matches!(nb.add_port(&spec(false), None), Err(Ok(Lost::Switch))));
        assert!(matches!(nb.add_port(&spec(false), None), Err(Ok(Lost::Port))));
        drop(nb);
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 3, "{reqs:?}");
        assert_eq!(reqs[0]["method"], "transact");
        assert_eq!(reqs[0]["params"][0], DB);
        assert_eq!(reqs[0]["params"].as_array().unwrap().len(), 6, "the database, then five operations");
        assert_eq!(reqs[0]["params"][4]["table"], "Logical_Switch_Port");
    }

    #[test]
    fn the_database_is_asked_then_env_then_default() {
        assert_eq!(remote(Some("tcp:172.30.0.1:6641")), "tcp:172.30.0.1:6641");
    }
}
