//! Open vSwitch's database (the `Open_vSwitch` schema), through the OVSDB
//! client: the typed helpers every OVS path of pipework uses — attach,
//! detach, tunnels, CNI, the watch's cleanup. No program runs.
//!
//! An attach is one transaction, the same rows `ovs-vsctl --may-exist
//! add-port` writes: guards (`wait`) instead of a read first, the bridge
//! too when asked, `next_cfg` bumped, and then a wait, on a monitor set up
//! in the same write, until ovs-vswitchd reports (`cur_cfg`) that it
//! applied it, and what it made of the port (`ofport`, `error`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use std::cell::RefCell;

use super::{add, delete, eq, includes, insert, unixctl, Client, Datum, Error, Op, Reply, Row, Shape, Watch, Watching};
use crate::sys::genl;

pub const DB: &str = "Open_vSwitch";

/// How long ovs-vswitchd may take to apply a change, and any request to
/// take. A live daemon answers in milliseconds; a dead one never does.
pub const TIMEOUT_SECS: u64 = 10;

/// Open vSwitch's database server, connected on first use.
pub struct Vswitch {
    client: Client,
    /// How long ovs-vswitchd may take to apply a transaction.
    apply_wait: Duration,
    /// Ports committed and not yet seen applied, by name (`await_port`).
    pending: RefCell<HashMap<String, (PortSpec, Pending)>>,
}

/// A transaction committed, its application by ovs-vswitchd not yet seen.
struct Pending {
    watching: Watching,
    /// The operation whose reply holds the bumped `next_cfg`.
    next_cfg_op: usize,
    /// The Interface row watched.
    iface: Option<String>,
}

/// The port an attach adds and everything it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct PortSpec {
    pub bridge: String,
    pub port: String,
    /// Create the bridge in the same transaction, with this datapath type
    /// (`system`, the kernel's; `netdev`, ovs-vswitchd's own).
    pub create_bridge: Option<String>,
    /// Access VLAN (`@VLAN`).
    pub tag: Option<u16>,
    /// The reference's `pipework.*` keys on the Interface row.
    pub external_ids: Vec<(String, String)>,
}

/// What one attach's transaction did. Returned whenever it may have
/// reached the database (also when unsure, so that undo looks); an `Err`
/// from `add_port` means nothing was committed.
pub struct Added {
    /// The port was already on the bridge and was reused, as the reference
    /// does; undo must leave it.
    pub port_existed: bool,
    /// The new Port row (what undo removes).
    pub port_uuid: Option<String>,
    /// This transaction created the bridge (another attach may have beaten
    /// it to it: then it joined that one).
    pub created_bridge: bool,
    /// Why the attach cannot go on, although the transaction ran.
    pub error: Option<anyhow::Error>,
}

/// No bridge of that name in ovsdb.
#[derive(Debug)]
pub struct NoSuchBridge(pub String);

impl fmt::Display for NoSuchBridge {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Open vSwitch has no bridge named {}", self.0)
    }
}

impl std::error::Error for NoSuchBridge {}

/// An Interface row, as tunnels read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceRow {
    pub name: String,
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub ofport: Option<i64>,
    pub error: String,
    pub external_ids: BTreeMap<String, String>,
}

impl InterfaceRow {
    const COLUMNS: [&str; 6] = ["name", "type", "options", "ofport", "error", "external_ids"];

    fn from_row(r: &Row) -> InterfaceRow {
        InterfaceRow {
            name: r.str("name").to_string(),
            kind: r.str("type").to_string(),
            options: r.map("options"),
            ofport: r.int("ofport"),
            error: r.str("error").to_string(),
            external_ids: r.map("external_ids"),
        }
    }
}

/// A bridge as tunnel facts read it.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeRow {
    pub uuid: String,
    pub name: String,
    pub datapath_type: String,
    pub ports: Vec<String>,
}

/// What a tunnel line needs to know of Open vSwitch, read in one
/// transaction: every bridge and port, the Interface rows of the tunnel
/// type, the bridge's own `mtu_request`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub bridges: Vec<BridgeRow>,
    /// Port UUID → name.
    pub ports: HashMap<String, String>,
    /// Interface rows of the asked tunnel type.
    pub tunnels: Vec<InterfaceRow>,
    /// The `mtu_request` of the bridge's own interface.
    pub mtu_request: Option<u32>,
}

impl Snapshot {
    pub fn bridge(&self, name: &str) -> Option<&BridgeRow> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The names of a bridge's ports, its own internal port aside (as
    /// `ovs-vsctl list-ports`).
    pub fn port_names(&self, bridge: &str) -> Vec<String> {
        let Some(b) = self.bridge(bridge) else { return Vec::new() };
        b.ports.iter().filter_map(|u| self.ports.get(u)).filter(|n| *n != bridge).cloned().collect()
    }

    /// The bridge that holds the port of this name.
    pub fn port_bridge(&self, port: &str) -> Option<&str> {
        let uuid = self.ports.iter().find(|(_, n)| *n == port)?.0;
        self.bridges.iter().find(|b| b.ports.contains(uuid)).map(|b| b.name.as_str())
    }
}

/// One tunnel port of a line: new, or ours already (set again in place).
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelPort {
    pub name: String,
    pub exists: bool,
    /// Access VLAN; None: a trunk (the tag is cleared).
    pub tag: Option<u16>,
    /// `gre`, `vxlan`, `geneve`.
    pub kind: String,
    pub options: Vec<(String, String)>,
    /// Options of ours this line does not set, removed if present.
    pub drop_options: Vec<String>,
    pub external_ids: Vec<(String, String)>,
}

/// A tunnel line's one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelSet {
    pub bridge: String,
    /// Create the bridge, with this datapath type.
    pub create: Option<String>,
    pub ports: Vec<TunnelPort>,
    /// Set the bridge's own interface's `mtu_request`.
    pub mtu_request: Option<u32>,
}

/// What a tunnel transaction made, for its undo.
#[derive(Debug, Clone, Default)]
pub struct TunnelsMade {
    pub bridge_uuid: Option<String>,
    pub port_uuids: Vec<String>,
}

/// The server `--ovs-db` names, else the default one in OVS_RUNDIR, as
/// `ovs-vsctl` finds it.
pub fn server(db: Option<&str>) -> String {
    db.map(str::to_string).unwrap_or_else(|| format!("unix:{}", rundir().join("db.sock").display()))
}

/// What `find` found nothing at, as the error using it would have said:
/// no socket, no server.
pub fn absent(db: Option<&str>) -> Error {
    Error::NotRunning { remote: server(db), source: std::io::Error::from_raw_os_error(libc::ENOENT) }
}

impl Vswitch {
    /// The Open vSwitch of `db` (`--ovs-db`), or the default one; None when
    /// there is certainly none: its unix socket does not exist. Nothing is
    /// opened until a question is asked.
    pub fn find(db: Option<&str>) -> Option<Vswitch> {
        let client = Client::new(&server(db), Duration::from_secs(TIMEOUT_SECS));
        let remotes = client.remotes();
        if !remotes.is_empty() && remotes.iter().all(|r| r.certainly_absent()) {
            return None;
        }
        Some(Vswitch { client, apply_wait: Duration::from_secs(TIMEOUT_SECS), pending: RefCell::default() })
    }

    /// Does a server answer? (Opens the connection every later question
    /// reuses.)
    pub fn answers(&self) -> Result<(), Error> {
        self.client.connect()
    }

    fn transact(&self, ops: &[Op]) -> Result<Reply, Error> {
        self.client.transact(DB, ops)
    }

    /// One transaction, then a wait until ovs-vswitchd has applied it
    /// (`cur_cfg` reaches the `next_cfg` it bumps), watching `iface`'s
    /// Interface row meanwhile: the reply and that row, as applied.
    fn transact_applied(&self, ops: Vec<Op>, iface: Option<&str>, what: &str) -> Result<(Reply, Option<Row>), Error> {
        let mut pending = self.commit(ops, iface)?;
        self.applied(&mut pending, what)
    }

    /// The first half of `transact_applied`: committed, not yet applied.
    fn commit(&self, mut ops: Vec<Op>, iface: Option<&str>) -> Result<Pending, Error> {
        ops.push(Op::mutate("Open_vSwitch", vec![], vec![add("next_cfg", 1)]));
        ops.push(Op::select("Open_vSwitch", vec![], &["next_cfg"]));
        let next_cfg_op = ops.len() - 1;
        let mut watches = vec![Watch {
            table: "Open_vSwitch".into(),
            columns: vec![("cur_cfg".into(), Shape::Scalar)],
            conditions: None,
        }];
        if let Some(name) = iface {
            watches.push(Watch {
                table: "Interface".into(),
                columns: vec![
                    ("name".into(), Shape::Scalar),
                    ("ofport".into(), Shape::Set),
                    ("error".into(), Shape::Set),
                ],
                conditions: Some(vec![eq("name", name)]),
            });
        }
        let watching = self.client.transact_watched(DB, &ops, &watches)?;
        Ok(Pending { watching, next_cfg_op, iface: iface.map(str::to_string) })
    }

    /// The second half: ovs-vswitchd has applied it.
    fn applied(&self, p: &mut Pending, what: &str) -> Result<(Reply, Option<Row>), Error> {
        let (last, iface) = (p.next_cfg_op, p.iface.as_deref());
        self.client.await_watched(&mut p.watching, self.apply_wait, what, |reply, mon| {
            let next = reply.rows(last).ok()?.first()?.int("next_cfg")?;
            let cur = mon.rows("Open_vSwitch").next()?.1.int("cur_cfg")?;
            // ovs-vswitchd sets cur_cfg to the next_cfg it applied; a
            // later bump by someone else only makes it larger.
            (cur >= next).then(|| {
                let row = iface.and_then(|n| mon.rows("Interface").map(|(_, r)| r).find(|r| r.str("name") == n));
                (reply.clone(), row.cloned())
            })
        })
    }

    /// Does ovsdb know a bridge of this name? Errors count as no, as in the
    /// reference, which then takes the device for a physical interface.
    pub fn bridge_exists(&self, name: &str) -> bool {
        self.transact(&[Op::select("Bridge", vec![eq("name", name)], &["_uuid"])])
            .and_then(|r| r.rows(0).map_err(|e| malformed(&self.client, e)))
            .is_ok_and(|rows| !rows.is_empty())
    }

    /// The attach's port, as `ovs-vsctl --may-exist add-port` makes it: an
    /// existing port of the name on this bridge is reused (taken out and
    /// put back for the new veth), one on another bridge is refused. When
    /// this returns the port is committed; `await_port` then waits for
    /// ovs-vswitchd to set it up, so that the guest's side is configured
    /// meanwhile.
    pub fn add_port(&self, spec: &PortSpec) -> Result<Added> {
        let context = || format!("adding port {} to Open vSwitch bridge {}", spec.port, spec.bridge);
        let mut create = spec.create_bridge.is_some();
        let mut last = None;
        // A guard that fails means someone changed the database meanwhile:
        // look again, a few times.
        for _ in 0..3 {
            match self.add_port_once(spec, create) {
                Ok(added) => return Ok(added),
                Err(Refusal::BridgeAppeared) => create = false,
                Err(Refusal::NoSuchBridge) => {
                    return Err(anyhow!(NoSuchBridge(spec.bridge.clone()))).with_context(context)
                }
                Err(Refusal::PortExists) => match self.port_bridge(&spec.port).with_context(context)? {
                    Some((uuid, bridge, _)) if bridge == spec.bridge => return self.readd_port(spec, &uuid),
                    Some((_, other, _)) => bail!(
                        "cannot create a port named {p} because a port named {p} already exists on bridge {other}",
                        p = spec.port
                    ),
                    None => {}
                },
                Err(Refusal::Failed(e)) if e.is_transient() && e.txn().is_some() => last = Some(e),
                Err(Refusal::Failed(e)) => return Err(anyhow!(e)).with_context(context),
            }
        }
        Err(anyhow!(last.unwrap_or(Error::Broken {
            remote: self.client.spelled().into(),
            why: "the database kept changing".into()
        })))
        .with_context(context)
    }

    fn add_port_once(&self, spec: &PortSpec, create: bool) -> Result<Added, Refusal> {
        let (b, p) = (spec.bridge.as_str(), spec.port.as_str());
        // In ovsdb-server's log, as ovs-vsctl's own transactions are.
        let mut ops = vec![Op::Comment(format!("pipework: ovs-vsctl {}", spec.args().join(" ")))];
        let bridge_guard = ops.len();
        if create {
            ops.push(Op::wait_none("Bridge", vec![eq("name", b)]));
            ops.push(Op::insert("Interface", Row::new().with("name", b).with("type", "internal"), Some("br_iface")));
            ops.push(Op::insert(
                "Port",
                Row::new().with("name", b).with("interfaces", Datum::named_uuid("br_iface")),
                Some("br_port"),
            ));
        } else {
            ops.push(Op::wait_some("Bridge", vec![eq("name", b)]));
        }
        let port_guard = ops.len();
        ops.push(Op::wait_none("Port", vec![eq("name", p)]));
        let ids = Datum::string_map(&spec.external_ids);
        ops.push(Op::insert("Interface", Row::new().with("name", p).with("external_ids", ids), Some("iface")));
        let port_op = ops.len();
        let mut port = Row::new().with("name", p).with("interfaces", Datum::named_uuid("iface"));
        if let Some(tag) = spec.tag {
            port.set("tag", i64::from(tag));
        }
        ops.push(Op::insert("Port", port, Some("port")));
        match &spec.create_bridge {
            Some(dp) if create => {
                let mut bridge = Row::new().with("name", b).with(
                    "ports",
                    Datum::Set(vec![super::Atom::NamedUuid("br_port".into()), super::Atom::NamedUuid("port".into())]),
                );
                // `system` is ovsdb's default: left unset, as `ovs-vsctl add-br` does.
                if dp != "system" {
                    bridge.set("datapath_type", dp.as_str());
                }
                ops.push(Op::insert("Bridge", bridge, Some("bridge")));
                ops.push(Op::mutate("Open_vSwitch", vec![], vec![insert("bridges", Datum::named_uuid("bridge"))]));
            }
            _ => ops.push(Op::mutate("Bridge", vec![eq("name", b)], vec![insert("ports", Datum::named_uuid("port"))])),
        }
        let pending = match self.commit(ops, Some(p)) {
            Ok(pending) => pending,
            Err(Error::Txn { txn, .. }) if txn.op == Some(bridge_guard) && create => {
                return Err(Refusal::BridgeAppeared)
            }
            Err(Error::Txn { txn, .. }) if txn.op == Some(bridge_guard) => return Err(Refusal::NoSuchBridge),
            Err(Error::Txn { txn, .. }) if txn.op == Some(port_guard) => return Err(Refusal::PortExists),
            Err(e) => return Err(Refusal::Failed(e)),
        };
        let port_uuid = pending.watching.reply().uuid(port_op).ok();
        self.pending.borrow_mut().insert(p.to_string(), (spec.clone(), pending));
        Ok(Added { port_existed: false, port_uuid, created_bridge: create, error: None })
    }

    /// Waits until ovs-vswitchd has set up the port `add_port` committed:
    /// an error when it could not (no OpenFlow port number, an error on the
    /// Interface row) or did not answer in time.
    pub fn await_port(&self, port: &str) -> Result<()> {
        let Some((spec, mut pending)) = self.pending.borrow_mut().remove(port) else { return Ok(()) };
        let (b, p) = (&spec.bridge, &spec.port);
        let what = format!("waiting for ovs-vswitchd to apply port {p} on {b}");
        match self.applied(&mut pending, &what) {
            Ok((_, row)) => self.setup_error(&spec, row.as_ref()).map_or(Ok(()), Err),
            Err(Error::Timeout { .. }) => bail!(
                "ovs-vswitchd did not apply the new port {p} on {b} within {} s; is it running? (check with: \
                 ovs-appctl version)",
                self.apply_wait.as_secs()
            ),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("waiting for ovs-vswitchd to set up port {p} on {b}")),
        }
    }

    /// A port ovs-vswitchd could not set up: no OpenFlow port number (or
    /// -1), or an error on its Interface row — then why: the row's error,
    /// else the bridge itself cannot run.
    fn setup_error(&self, spec: &PortSpec, row: Option<&Row>) -> Option<anyhow::Error> {
        let (b, p) = (&spec.bridge, &spec.port);
        let error = row.map(|r| r.str("error")).unwrap_or("");
        let ofport = row.and_then(|r| r.int("ofport"));
        if error.is_empty() && ofport.is_some_and(|o| o > 0) {
            return None;
        }
        if !error.is_empty() {
            return Some(anyhow!("Open vSwitch could not set up port {p} on bridge {b}: {error}"));
        }
        let datapath = self
            .transact(&[Op::select("Bridge", vec![eq("name", b.as_str())], &["datapath_type"])])
            .ok()
            .and_then(|r| r.rows(0).ok())
            .and_then(|rows| rows.first().map(|r| r.str("datapath_type").to_string()))
            .unwrap_or_default();
        let kernel_less = matches!(datapath.as_str(), "" | "system") && !kernel_datapath_present();
        Some(if kernel_less {
            anyhow!(
                "Open vSwitch bridge {b} cannot forward: it uses the kernel datapath, and this kernel has no \
                 openvswitch module. Use the userspace datapath: ovs-vsctl set Bridge {b} datapath_type=netdev \
                 (pipework creates new bridges that way on such kernels)"
            )
        } else {
            anyhow!(
                "Open vSwitch bridge {b} cannot forward: ovs-vswitchd could not set it up (see the ovs-vswitchd log)"
            )
        })
    }

    /// The old row names a device that is gone: we made a new veth of that
    /// name. The userspace datapath keeps polling the dead one (and
    /// re-adding the row in the same transaction changes nothing), so the
    /// port is taken out and put back, with the daemon applying each step.
    fn readd_port(&self, spec: &PortSpec, uuid: &str) -> Result<Added> {
        let context = || format!("re-adding the existing port {} on {} for the new veth", spec.port, spec.bridge);
        let out =
            Op::mutate("Bridge", vec![eq("name", spec.bridge.as_str())], vec![delete("ports", Datum::uuid(uuid))]);
        let existed = |error| Added { port_existed: true, port_uuid: None, created_bridge: false, error: Some(error) };
        if let Err(e) = self.transact_applied(vec![out], None, "waiting for ovs-vswitchd to remove the old port") {
            return Ok(existed(anyhow!(e).context(context())));
        }
        match self.add_port_once(spec, false) {
            Ok(added) => Ok(Added { port_existed: true, port_uuid: None, ..added }),
            Err(r) => Ok(existed(r.into_error(spec).context(context()))),
        }
    }

    /// The Port row of this name: its UUID, the bridge that holds it, its
    /// access tag; None when there is no such port.
    fn port_bridge(&self, port: &str) -> Result<Option<(String, String, Option<u16>)>> {
        let r = self.transact(&[Op::select("Port", vec![eq("name", port)], &["_uuid", "tag"])])?;
        let rows = r.rows(0).map_err(|e| malformed(&self.client, e))?;
        let Some(row) = rows.first() else { return Ok(None) };
        let uuid = row.uuid("_uuid").context("a Port row without _uuid")?.to_string();
        let tag = row.int("tag").and_then(|t| u16::try_from(t).ok());
        let r = self.transact(&[Op::select("Bridge", vec![includes("ports", Datum::uuid(&uuid))], &["name"])])?;
        let rows = r.rows(0).map_err(|e| malformed(&self.client, e))?;
        Ok(Some((uuid, rows.first().map(|b| b.str("name").to_string()).unwrap_or_default(), tag)))
    }

    /// Where a port is: its bridge and access tag, or None when ovsdb has no
    /// such port.
    pub fn port_place(&self, port: &str) -> Result<Option<(String, Option<u16>)>> {
        let place = self.port_bridge(port).with_context(|| format!("asking where port {port} is"))?;
        Ok(place.map(|(_, bridge, tag)| (bridge, tag)))
    }

    /// The port of this name as an attach would add it again: its bridge,
    /// access tag and Interface external_ids; None when there is no such
    /// port.
    pub fn port_spec(&self, port: &str) -> Result<Option<PortSpec>> {
        let Some((_, bridge, tag)) = self.port_bridge(port).with_context(|| format!("reading port {port}"))? else {
            return Ok(None);
        };
        let ids = self.interface_ids(port)?.unwrap_or_default();
        let external_ids = ids.into_iter().collect();
        Ok(Some(PortSpec { bridge, port: port.to_string(), create_bridge: None, tag, external_ids }))
    }

    /// `--replace`: the port taken out of its bridge, ovs-vswitchd done
    /// with it before this returns, so that its device can be renamed aside
    /// and a new port of its name made.
    pub fn take_out_port(&self, spec: &PortSpec) -> Result<()> {
        let (b, p) = (spec.bridge.as_str(), spec.port.as_str());
        let context = || format!("taking port {p} out of Open vSwitch bridge {b}");
        let Some((uuid, _, _)) = self.port_bridge(p).with_context(context)? else { return Ok(()) };
        let op = Op::mutate("Bridge", vec![eq("name", b)], vec![delete("ports", Datum::uuid(&uuid))]);
        let what = format!("waiting for ovs-vswitchd to take port {p} out of {b}");
        self.transact_applied(vec![op], None, &what).map(drop).with_context(context)
    }

    /// Undo of `take_out_port`: the port added again as it was, once
    /// ovs-vswitchd has applied whatever came before (a new port of the same
    /// name removed by an undo without waiting: the userspace datapath keeps
    /// polling a dead device while its row stands), and set up.
    pub fn put_back_port(&self, spec: &PortSpec) -> Result<()> {
        let what = format!("waiting for ovs-vswitchd before putting port {} back", spec.port);
        self.transact_applied(vec![], None, &what).with_context(|| format!("putting port {} back", spec.port))?;
        let added = self.add_port(spec)?;
        if let Some(e) = added.error {
            return Err(e);
        }
        self.await_port(&spec.port)
    }

    /// Undo of a port this run added (by its row, so a port of the same
    /// name made since is not touched). No wait: the database is what
    /// matters, and ovs-vswitchd may be the reason we are undoing.
    pub fn remove_port(&self, bridge: &str, port_uuid: &str) -> Result<()> {
        let op = Op::mutate("Bridge", vec![eq("name", bridge)], vec![delete("ports", Datum::uuid(port_uuid))]);
        self.transact(&[op]).map(drop).with_context(|| format!("removing the new port from {bridge}"))
    }

    /// `--detach`: the port of this name, on whichever bridge holds it.
    /// Returns false, having done nothing, when no ovsdb-server answers:
    /// then there is no database to hold the port either.
    pub fn del_port_anywhere(&self, port: &str) -> Result<bool> {
        let found = match self.port_bridge(port) {
            Err(e) if super::find_error(&e).is_some_and(Error::is_not_running) => return Ok(false),
            r => r.with_context(|| format!("removing Open vSwitch port {port}"))?,
        };
        if let Some((uuid, _, _)) = found {
            let u = Datum::uuid(&uuid);
            let op = Op::mutate("Bridge", vec![includes("ports", u.clone())], vec![delete("ports", u)]);
            self.transact(&[op]).with_context(|| format!("removing Open vSwitch port {port}"))?;
        }
        Ok(true)
    }

    /// Every port whose Interface row an attach marked with a container ID,
    /// with that ID.
    pub fn container_ports(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .marked_ports()?
            .into_iter()
            .filter_map(|(name, ids)| ids.get("pipework.containerid").map(|id| (name, id.clone())))
            .collect())
    }

    /// Every port whose Interface row carries `pipework.` external-ids, with
    /// those ids.
    pub fn marked_ports(&self) -> Result<Vec<(String, BTreeMap<String, String>)>> {
        let r = self.transact(&[Op::select("Interface", vec![], &["name", "external_ids"])]);
        let rows = r.and_then(|r| r.rows(0).map_err(|e| malformed(&self.client, e)));
        let rows = rows.context("listing Open vSwitch interfaces")?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let ids: BTreeMap<_, _> =
                    r.map("external_ids").into_iter().filter(|(k, _)| k.starts_with("pipework.")).collect();
                (!ids.is_empty()).then(|| (r.str("name").to_string(), ids))
            })
            .collect())
    }

    /// Every Interface row: name, type, options, ofport, error and
    /// external-ids, for tunnels (ours and others').
    pub fn interfaces(&self) -> Result<Vec<InterfaceRow>> {
        let r = self.transact(&[Op::select("Interface", vec![], &InterfaceRow::COLUMNS)]);
        let rows = r.and_then(|r| r.rows(0).map_err(|e| malformed(&self.client, e)));
        Ok(rows.context("listing Open vSwitch interfaces")?.iter().map(InterfaceRow::from_row).collect())
    }

    /// The Interface rows of these names (missing ones are absent).
    pub fn interfaces_named(&self, names: &[String]) -> Result<Vec<InterfaceRow>> {
        let ops: Vec<Op> = names
            .iter()
            .map(|n| Op::select("Interface", vec![eq("name", n.as_str())], &InterfaceRow::COLUMNS))
            .collect();
        let r = self.transact(&ops).context("reading the tunnel ports back")?;
        let mut out = Vec::new();
        for i in 0..names.len() {
            out.extend(r.rows(i).map_err(|e| malformed(&self.client, e))?.iter().map(InterfaceRow::from_row));
        }
        Ok(out)
    }

    /// What a tunnel line on `bridge` needs to know, in one transaction.
    pub fn snapshot(&self, bridge: &str, tunnel_type: &str) -> Result<Snapshot> {
        let ops = [
            Op::select("Bridge", vec![], &["_uuid", "name", "datapath_type", "ports"]),
            Op::select("Port", vec![], &["_uuid", "name"]),
            Op::select("Interface", vec![eq("type", tunnel_type)], &InterfaceRow::COLUMNS),
            Op::select("Interface", vec![eq("name", bridge)], &["mtu_request"]),
        ];
        let r = self.transact(&ops).context("reading Open vSwitch's bridges, ports and tunnels")?;
        let rows = |i| r.rows(i).map_err(|e| malformed(&self.client, e));
        let bridges = rows(0)?
            .iter()
            .map(|b| BridgeRow {
                uuid: b.uuid("_uuid").unwrap_or_default().to_string(),
                name: b.str("name").to_string(),
                datapath_type: b.str("datapath_type").to_string(),
                ports: b.uuids("ports").into_iter().map(str::to_string).collect(),
            })
            .collect();
        let ports = rows(1)?
            .iter()
            .map(|p| (p.uuid("_uuid").unwrap_or_default().to_string(), p.str("name").to_string()))
            .collect();
        let tunnels = rows(2)?.iter().map(InterfaceRow::from_row).collect();
        let mtu_request = rows(3)?.first().and_then(|r| r.int("mtu_request")).and_then(|m| u32::try_from(m).ok());
        Ok(Snapshot { bridges, ports, tunnels, mtu_request })
    }

    /// A tunnel line's ports (and bridge, and MTU) in one transaction,
    /// applied by ovs-vswitchd before this returns.
    pub fn set_tunnels(&self, set: &TunnelSet) -> Result<TunnelsMade> {
        let b = set.bridge.as_str();
        let mut ops = Vec::new();
        let mut new_ports = Vec::new();
        let mut inserts = Vec::new();
        if set.create.is_some() {
            ops.push(Op::wait_none("Bridge", vec![eq("name", b)]));
            let mut iface = Row::new().with("name", b).with("type", "internal");
            if let Some(m) = set.mtu_request {
                iface.set("mtu_request", i64::from(m));
            }
            ops.push(Op::insert("Interface", iface, Some("br_iface")));
            ops.push(Op::insert(
                "Port",
                Row::new().with("name", b).with("interfaces", Datum::named_uuid("br_iface")),
                Some("br_port"),
            ));
            new_ports.push(super::Atom::NamedUuid("br_port".into()));
        } else {
            ops.push(Op::wait_some("Bridge", vec![eq("name", b)]));
        }
        for (i, t) in set.ports.iter().enumerate() {
            let name = t.name.as_str();
            let tag = t.tag.map_or_else(Datum::empty, |v| i64::from(v).into());
            if t.exists {
                // Set again in place: other options and ids of the row stay.
                ops.push(Op::update(
                    "Port",
                    vec![eq("name", name)],
                    Row::new().with("protected", true).with("tag", tag),
                ));
                let opt_keys: Vec<&String> = t.options.iter().map(|(k, _)| k).chain(&t.drop_options).collect();
                let id_keys: Vec<&String> = t.external_ids.iter().map(|(k, _)| k).collect();
                ops.push(Op::update("Interface", vec![eq("name", name)], Row::new().with("type", t.kind.as_str())));
                ops.push(Op::mutate(
                    "Interface",
                    vec![eq("name", name)],
                    vec![
                        delete("options", Datum::strings(&opt_keys)),
                        insert("options", Datum::string_map(&t.options)),
                        delete("external_ids", Datum::strings(&id_keys)),
                        insert("external_ids", Datum::string_map(&t.external_ids)),
                    ],
                ));
            } else {
                let iface = Row::new()
                    .with("name", name)
                    .with("type", t.kind.as_str())
                    .with("options", Datum::string_map(&t.options))
                    .with("external_ids", Datum::string_map(&t.external_ids));
                ops.push(Op::insert("Interface", iface, Some(&format!("iface{i}"))));
                inserts.push(ops.len());
                let port = Row::new()
                    .with("name", name)
                    .with("interfaces", Datum::named_uuid(&format!("iface{i}")))
                    .with("protected", true)
                    .with("tag", tag);
                ops.push(Op::insert("Port", port, Some(&format!("port{i}"))));
                new_ports.push(super::Atom::NamedUuid(format!("port{i}")));
            }
        }
        let mut bridge_insert = None;
        match &set.create {
            Some(dp) => {
                bridge_insert = Some(ops.len());
                let bridge =
                    Row::new().with("name", b).with("datapath_type", dp.as_str()).with("ports", Datum::Set(new_ports));
                ops.push(Op::insert("Bridge", bridge, Some("bridge")));
                ops.push(Op::mutate("Open_vSwitch", vec![], vec![insert("bridges", Datum::named_uuid("bridge"))]));
            }
            None => {
                if !new_ports.is_empty() {
                    ops.push(Op::mutate("Bridge", vec![eq("name", b)], vec![insert("ports", Datum::Set(new_ports))]));
                }
                if let Some(m) = set.mtu_request {
                    ops.push(Op::update(
                        "Interface",
                        vec![eq("name", b)],
                        Row::new().with("mtu_request", i64::from(m)),
                    ));
                }
            }
        }
        let what = format!("waiting for ovs-vswitchd to apply the tunnels of {b}");
        let (reply, _) =
            self.transact_applied(ops, None, &what).with_context(|| format!("setting up the tunnels of {b}"))?;
        let uuid = |i: usize| reply.uuid(i).map_err(|e| malformed(&self.client, e));
        Ok(TunnelsMade {
            bridge_uuid: bridge_insert.map(uuid).transpose()?,
            port_uuids: inserts.into_iter().map(uuid).collect::<Result<_, _>>()?,
        })
    }

    /// Undo of `set_tunnels`: the bridge it created, or the ports it added
    /// and the `mtu_request` it changed (`Some(None)`: there was none).
    pub fn take_back_tunnels(&self, bridge: &str, made: &TunnelsMade, old_mtu: Option<Option<u32>>) -> Result<()> {
        let mut ops = Vec::new();
        if let Some(u) = &made.bridge_uuid {
            ops.push(Op::mutate("Open_vSwitch", vec![], vec![delete("bridges", Datum::uuid(u))]));
        } else {
            if !made.port_uuids.is_empty() {
                let uuids = made.port_uuids.iter().map(|u| super::Atom::Uuid(u.clone())).collect();
                ops.push(Op::mutate("Bridge", vec![eq("name", bridge)], vec![delete("ports", Datum::Set(uuids))]));
            }
            if let Some(old) = old_mtu {
                let m = old.map_or_else(Datum::empty, |m| i64::from(m).into());
                ops.push(Op::update("Interface", vec![eq("name", bridge)], Row::new().with("mtu_request", m)));
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.transact_applied(ops, None, "waiting for ovs-vswitchd to take the tunnels back")
            .map(drop)
            .context("taking the tunnels back")
    }

    /// `--detach tunnel`: these ports of `bridge`, in one transaction that
    /// ovs-vswitchd applies before this returns.
    pub fn del_ports(&self, bridge: &str, names: &[String]) -> Result<()> {
        let ops: Vec<Op> = names.iter().map(|n| Op::select("Port", vec![eq("name", n.as_str())], &["_uuid"])).collect();
        let r = self.transact(&ops).with_context(|| format!("looking up the tunnel ports of {bridge}"))?;
        let mut uuids = Vec::new();
        for i in 0..names.len() {
            let rows = r.rows(i).map_err(|e| malformed(&self.client, e))?;
            uuids.extend(rows.iter().filter_map(|p| p.uuid("_uuid")).map(|u| super::Atom::Uuid(u.to_string())));
        }
        if uuids.is_empty() {
            return Ok(());
        }
        let op = Op::mutate("Bridge", vec![eq("name", bridge)], vec![delete("ports", Datum::Set(uuids))]);
        let what = format!("waiting for ovs-vswitchd to remove the tunnels of {bridge}");
        self.transact_applied(vec![op], None, &what)
            .map(drop)
            .with_context(|| format!("removing the tunnels of {bridge}"))
    }

    /// `ovs-appctl ovs/route/lookup IP`, over ovs-vswitchd's control
    /// socket: the device ovs-vswitchd's own routing table (the userspace
    /// datapath's) sends tunnels to IP through.
    pub fn route_lookup(&self, ip: std::net::IpAddr) -> Result<Option<String>> {
        let dir = rundir();
        let socket = unixctl::socket(&dir, "ovs-vswitchd").with_context(|| {
            format!("ovs-vswitchd has no control socket in {} (is it running? OVS_RUNDIR)", dir.display())
        })?;
        let out = match unixctl::call(&socket, "ovs/route/lookup", &[ip.to_string()], Duration::from_secs(TIMEOUT_SECS))
        {
            Ok(out) => out,
            // Its answer for an address no route of its own covers.
            Err(Error::Refused { error, .. }) if error == "Not found" => return Ok(None),
            Err(e) => return Err(anyhow!(e)).with_context(|| format!("asking ovs-vswitchd for its route to {ip}")),
        };
        Ok(out.lines().find_map(|l| l.trim().strip_prefix("dev ").map(|d| d.trim().to_string())))
    }

    /// Undo of a bridge this run created, unless another attach joined it
    /// (a guard: the bridge's ports are still those just read).
    pub fn del_bridge_if_empty(&self, bridge: &str) -> Result<()> {
        let context = || format!("deleting bridge {bridge}");
        let ops = [
            Op::select("Bridge", vec![eq("name", bridge)], &["_uuid", "ports"]),
            Op::select("Port", vec![eq("name", bridge)], &["_uuid"]),
        ];
        let r = self.transact(&ops).with_context(context)?;
        let rows = |i| r.rows(i).map_err(|e| malformed(&self.client, e));
        let Some(b) = rows(0)?.into_iter().next() else { return Ok(()) };
        let own = rows(1)?.first().and_then(|p| p.uuid("_uuid").map(str::to_string));
        if b.uuids("ports").iter().any(|u| Some(*u) != own.as_deref()) {
            return Ok(());
        }
        let uuid = b.uuid("_uuid").context("a Bridge row without _uuid")?.to_string();
        let unchanged = Op::Wait {
            table: "Bridge".into(),
            conditions: vec![eq("_uuid", Datum::uuid(&uuid))],
            columns: vec!["ports".into()],
            equal: true,
            rows: vec![Row::new().with("ports", b.get("ports").cloned().unwrap_or_else(Datum::empty))],
        };
        let del = Op::mutate("Open_vSwitch", vec![], vec![delete("bridges", Datum::uuid(&uuid))]);
        // ovs-vswitchd removes the bridge's device (a tap, on the userspace
        // datapath) only when it applies the deletion; as `ovs-vsctl
        // del-br` does, wait for that (`cur_cfg`), so that the undo leaves
        // no device behind when pipework returns. Only when ovs-vswitchd
        // serves the bridge (its management socket): a dead one, maybe the
        // reason for this undo, would only cost the wait.
        let ops = vec![unchanged, del];
        let outcome =
            if has_mgmt_socket(bridge) { self.commit(ops, None).map(Some) } else { self.transact(&ops).map(|_| None) };
        let pending = match outcome {
            // Someone joined it meanwhile: theirs now.
            Err(Error::Txn { txn, .. }) if txn.op == Some(0) => return Ok(()),
            r => r.with_context(context)?,
        };
        if let Some(mut pending) = pending {
            // The row is gone, which is what matters; a daemon too slow to
            // apply it is told, not an undo that failed.
            if let Err(e) = self.applied(&mut pending, &format!("waiting for ovs-vswitchd to remove bridge {bridge}")) {
                eprintln!("pipework: note: {e}; ovs-vswitchd removes {bridge}'s device when it catches up");
            }
        }
        Ok(())
    }
}

/// What the local Open_vSwitch row and bridges say of OVN on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct Chassis {
    /// `external_ids:system-id`: the chassis' name in OVN.
    pub system_id: Option<String>,
    /// `external_ids:ovn-bridge`, default br-int.
    pub bridge: String,
    /// The integration bridge's row exists.
    pub bridge_exists: bool,
    /// `external_ids:ovn-encap-type` and `ovn-encap-ip`: the tunnels'
    /// encapsulation and this end's underlay address.
    pub encap_type: Option<String>,
    pub encap_ip: Option<String>,
}

// OVN on this host (`ovn:LSWITCH` attaches): the chassis' settings and the
// wait until ovn-controller has bound a port.
impl Vswitch {
    /// The chassis' name and integration bridge, in one read.
    pub fn chassis(&self) -> Result<Chassis> {
        let ops = [Op::select("Open_vSwitch", vec![], &["external_ids"]), Op::select("Bridge", vec![], &["name"])];
        let r = self.transact(&ops).context("reading the Open_vSwitch row")?;
        let rows = |i| r.rows(i).map_err(|e| malformed(&self.client, e));
        let ids = rows(0)?.first().map(|r| r.map("external_ids")).unwrap_or_default();
        let bridge = ids.get("ovn-bridge").cloned().unwrap_or_else(|| "br-int".to_string());
        let bridge_exists = rows(1)?.iter().any(|b| b.str("name") == bridge);
        Ok(Chassis {
            system_id: ids.get("system-id").cloned(),
            bridge,
            bridge_exists,
            encap_type: ids.get("ovn-encap-type").cloned(),
            encap_ip: ids.get("ovn-encap-ip").cloned(),
        })
    }

    /// The external_ids of the Interface of this name; None when there is none.
    pub fn interface_ids(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        let r = self.transact(&[Op::select("Interface", vec![eq("name", name)], &["external_ids"])]);
        let rows = r.and_then(|r| r.rows(0).map_err(|e| malformed(&self.client, e)));
        Ok(rows.with_context(|| format!("reading Interface {name}"))?.first().map(|r| r.map("external_ids")))
    }

    /// Waits, on a monitor, until the Interface of this name has
    /// `external_ids:KEY=VALUE` (set by another daemon: ovn-controller's
    /// `ovn-installed`), for at most `wait`.
    pub fn await_interface_id(&self, name: &str, key: &str, value: &str, wait: Duration) -> Result<(), Error> {
        let watch = Watch {
            table: "Interface".into(),
            columns: vec![("name".into(), Shape::Scalar), ("external_ids".into(), Shape::Map)],
            conditions: Some(vec![eq("name", name)]),
        };
        let ops = [Op::Comment(format!("pipework: waiting for {name}'s {key}={value}"))];
        let mut w = self.client.transact_watched(DB, &ops, &[watch])?;
        let what = format!("Interface {name} external_ids:{key}={value}");
        self.client.await_watched(&mut w, wait, &what, |_, mon| {
            mon.rows("Interface")
                .any(|(_, r)| {
                    r.str("name") == name && r.map("external_ids").get(key).map(String::as_str) == Some(value)
                })
                .then_some(())
        })
    }
}

/// Why one try of `add_port` did not add.
enum Refusal {
    BridgeAppeared,
    NoSuchBridge,
    PortExists,
    Failed(Error),
}

impl Refusal {
    fn into_error(self, spec: &PortSpec) -> anyhow::Error {
        match self {
            Refusal::BridgeAppeared | Refusal::PortExists => anyhow!("port {} changed meanwhile; try again", spec.port),
            Refusal::NoSuchBridge => anyhow!(NoSuchBridge(spec.bridge.clone())),
            Refusal::Failed(e) => anyhow!(e),
        }
    }
}

fn malformed(client: &Client, e: super::datum::Malformed) -> Error {
    Error::Broken { remote: client.spelled().to_string(), why: e.to_string() }
}

/// Where ovs-vswitchd keeps its sockets: OVS_RUNDIR, as ovs-vsctl reads it.
pub fn rundir() -> PathBuf {
    std::env::var_os("OVS_RUNDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/run/openvswitch"))
}

/// ovs-vswitchd keeps a management socket `BRIDGE.mgmt` per bridge in its
/// run directory: a bridge that has one is live, without asking ovsdb.
pub fn has_mgmt_socket(bridge: &str) -> bool {
    rundir().join(format!("{bridge}.mgmt")).exists()
}

/// Does this kernel have the OVS datapath? Asking generic netlink for the
/// `ovs_datapath` family also loads the module when it is installed but not
/// yet loaded, which is what ovs-vswitchd would need anyway.
pub fn kernel_datapath_present() -> bool {
    genl::family_exists("ovs_datapath").unwrap_or(false)
}

impl PortSpec {
    /// The transaction as ovs-vsctl words, as a user would type it
    /// (`--dry-run`).
    pub fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(dp) = &self.create_bridge {
            let b = &self.bridge;
            a.extend(words(&["--may-exist", "add-br", b]));
            // `system` is ovsdb's default: a plain add-br, as the reference does.
            if dp != "system" {
                a.extend(words(&["--", "set", "Bridge", b, &format!("datapath_type={dp}")]));
            }
            a.push("--".into());
        }
        let (b, p) = (&self.bridge, &self.port);
        a.extend(words(&["--may-exist", "add-port", b, p]));
        if let Some(tag) = self.tag {
            a.extend(words(&["--", "set", "Port", p, &format!("tag={tag}")]));
        }
        if !self.external_ids.is_empty() {
            a.extend(words(&["--", "set", "Interface", p]));
            a.extend(self.external_ids.iter().map(|(k, v)| format!("external-ids:{k}={v}")));
        }
        a
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ovsdb::fake::Fake;
    use serde_json::{json, Value};

    // ovsdb-server 3.1's answers, recorded against a private daemon
    // (scripts/ovs-up) for `pipework sw0 … @100` on an existing netdev bridge.
    const INITIAL: &str = r#"{"id":$ID,"result":{"Open_vSwitch":{"de064c1a-5d2a-4bca-a8e2-d1168cd96a9d":{"initial":{"cur_cfg":1}}}},"error":null}"#;
    const INSERTED: &str = r#"{"id":null,"method":"update2","params":["$MON",{"Interface":{"9c65ac59-009e-4477-9cf3-4d3ec2f441af":{"insert":{"name":"veth1pl42"}}}}]}"#;
    const COMMITTED: &str = r#"{"id":$ID,"result":[{},{},{},{"uuid":["uuid","9c65ac59-009e-4477-9cf3-4d3ec2f441af"]},{"uuid":["uuid","a5654171-2c16-4d8e-8865-74c4bf345a8f"]},{"count":1},{"count":1},{"rows":[{"next_cfg":2}]}],"error":null}"#;
    const APPLIED: &str = r#"{"id":null,"method":"update2","params":["$MON",{"Interface":{"9c65ac59-009e-4477-9cf3-4d3ec2f441af":{"modify":{"ofport":1}}},"Open_vSwitch":{"de064c1a-5d2a-4bca-a8e2-d1168cd96a9d":{"modify":{"cur_cfg":2}}}}]}"#;
    const GUARD_FAILED_AT_2: &str = r#"{"id":$ID,"result":[{},{},{"details":"\"where\" clause test failed","error":"timed out"},null,null,null,null,null],"error":null}"#;
    const CANCELLED: &str = r#"{"id":$ID,"result":{},"error":null}"#;

    fn spec() -> PortSpec {
        PortSpec {
            bridge: "sw0".into(),
            port: "veth1pl42".into(),
            create_bridge: None,
            tag: Some(100),
            external_ids: vec![("pipework.nspid".into(), "42".into())],
        }
    }

    fn vswitch(fake: &Fake) -> Vswitch {
        let mut v = Vswitch::find(Some(&fake.remote())).expect("the socket exists");
        v.apply_wait = Duration::from_millis(300);
        v
    }

    /// An answer function that plays ovsdb-server: the monitor's id is
    /// put into notifications, and `transact` gets `on_transact`'s messages.
    fn server(
        mut on_transact: impl FnMut(&Value) -> Vec<&'static str> + Send + 'static,
    ) -> impl FnMut(&Value) -> Vec<String> + Send {
        let mut mon = String::new();
        move |req| {
            let msgs = match req["method"].as_str() {
                Some("monitor_cond") => {
                    mon = req["params"][1].as_str().unwrap().to_string();
                    vec![INITIAL]
                }
                Some("transact") => on_transact(req),
                Some("monitor_cancel") => vec![CANCELLED],
                _ => vec![],
            };
            msgs.into_iter().map(|m| m.replace("$MON", &mon)).collect()
        }
    }

    #[test]
    fn an_attach_is_one_transaction_and_waits_for_the_ofport() {
        let fake = Fake::start("attach", server(|_| vec![INSERTED, COMMITTED, APPLIED]));
        let v = vswitch(&fake);
        let added = v.add_port(&spec()).unwrap();
        assert!(added.error.is_none(), "{:?}", added.error);
        assert!(!added.port_existed && !added.created_bridge);
        assert_eq!(added.port_uuid.as_deref(), Some("a5654171-2c16-4d8e-8865-74c4bf345a8f"));
        v.await_port("veth1pl42").unwrap();
        drop(v);
        let reqs = fake.requests();
        let methods: Vec<&str> = reqs.iter().map(|r| r["method"].as_str().unwrap()).collect();
        assert_eq!(methods, ["monitor_cond", "transact", "monitor_cancel"]);
        assert_eq!(
            reqs[0]["params"][2]["Interface"],
            json!([{"columns": ["name", "ofport", "error"], "where": [["name", "==", "veth1pl42"]]}])
        );
        let ops = &reqs[1]["params"];
        assert_eq!(ops[0], "Open_vSwitch");
        assert_eq!(ops[1]["op"], "comment");
        assert_eq!(
            ops[2],
            json!({"op": "wait", "table": "Bridge", "where": [["name", "==", "sw0"]],
                                   "columns": ["_uuid"], "until": "!=", "rows": [], "timeout": 0})
        );
        assert_eq!(ops[3]["until"], "==");
        assert_eq!(ops[4]["row"], json!({"name": "veth1pl42", "external_ids": ["map", [["pipework.nspid", "42"]]]}));
        assert_eq!(ops[5]["row"], json!({"name": "veth1pl42", "interfaces": ["named-uuid", "iface"], "tag": 100}));
        assert_eq!(ops[6]["mutations"], json!([["ports", "insert", ["named-uuid", "port"]]]));
        assert_eq!(ops[7]["mutations"], json!([["next_cfg", "+=", 1]]));
    }

    #[test]
    fn a_port_of_that_name_on_another_bridge_is_refused() {
        let mut n = 0;
        let fake = Fake::start(
            "elsewhere",
            server(move |_| {
                n += 1;
                match n {
                    1 => vec![GUARD_FAILED_AT_2],
                    2 => vec![
                        r#"{"id":$ID,"result":[{"rows":[{"_uuid":["uuid","a565"],"tag":["set",[]]}]}],"error":null}"#,
                    ],
                    _ => vec![r#"{"id":$ID,"result":[{"rows":[{"name":"br9"}]}],"error":null}"#],
                }
            }),
        );
        let v = vswitch(&fake);
        let e = v.add_port(&spec()).err().unwrap();
        assert_eq!(
            format!("{e:#}"),
            "cannot create a port named veth1pl42 because a port named veth1pl42 already exists on bridge br9"
        );
        drop(v);
        let reqs = fake.requests();
        let last = reqs.last().unwrap();
        assert_eq!(last["params"][1]["where"], json!([["ports", "includes", ["uuid", "a565"]]]));
    }

    #[test]
    fn no_such_bridge_is_typed() {
        const NO_BRIDGE: &str = r#"{"id":$ID,"result":[{},{"details":"\"where\" clause test failed","error":"timed out"},null,null,null,null,null,null],"error":null}"#;
        let fake = Fake::start("nobridge", server(|_| vec![NO_BRIDGE]));
        let v = vswitch(&fake);
        let e = v.add_port(&spec()).err().unwrap();
        assert!(e.chain().any(|c| c.downcast_ref::<NoSuchBridge>().is_some()), "{e:#}");
        drop(v);
        fake.requests();
    }

    #[test]
    fn a_vswitchd_that_never_applies_is_a_bounded_wait() {
        let fake = Fake::start("deaf", server(|_| vec![INSERTED, COMMITTED]));
        let v = vswitch(&fake);
        let added = v.add_port(&spec()).unwrap();
        assert!(added.error.is_none() && added.port_uuid.is_some(), "committed: undo knows the port");
        let e = v.await_port("veth1pl42").expect_err("an error");
        assert!(e.to_string().contains("ovs-vswitchd did not apply the new port veth1pl42 on sw0"), "{e}");
        drop(v);
        fake.requests();
    }

    #[test]
    fn a_port_vswitchd_could_not_open_says_why() {
        const FAILED: &str = r#"{"id":null,"method":"update2","params":["$MON",{"Interface":{"9c65ac59-009e-4477-9cf3-4d3ec2f441af":{"modify":{"ofport":-1,"error":"could not open network device veth1pl42 (No such device)"}}},"Open_vSwitch":{"de064c1a-5d2a-4bca-a8e2-d1168cd96a9d":{"modify":{"cur_cfg":2}}}}]}"#;
        let fake = Fake::start("unopened", server(|_| vec![INSERTED, COMMITTED, FAILED]));
        let v = vswitch(&fake);
        v.add_port(&spec()).unwrap();
        let e = v.await_port("veth1pl42").expect_err("an error");
        assert_eq!(
            e.to_string(),
            "Open vSwitch could not set up port veth1pl42 on bridge sw0: could not open network device veth1pl42 (No \
             such device)"
        );
        drop(v);
        fake.requests();
    }

    #[test]
    fn echo_is_answered_and_errors_are_typed() {
        // As ovsdb-server 3.1 answered: an unknown database, then a commit
        // that broke the name index.
        const ECHO: &str = r#"{"id":"echo","method":"echo","params":[]}"#;
        const UNKNOWN_DB: &str = r#"{"id":$ID,"error":{"syntax":"[\"Nope\"]","details":"transact request specifies unknown database Nope","error":"unknown database"}}"#;
        const DUPLICATE: &str = r#"{"id":$ID,"result":[{"uuid":["uuid","58f7"]},{"details":"Transaction causes multiple rows in \"Interface\" table to have identical values (vA) for index on column \"name\".","error":"constraint violation"}],"error":null}"#;
        let mut n = 0;
        let fake = Fake::start("errors", move |req| {
            n += 1;
            match (n, req["method"].as_str()) {
                (1, _) => vec![ECHO.to_string(), UNKNOWN_DB.to_string()],
                (2, Some("echo")) => vec![],
                (3, _) => vec![DUPLICATE.to_string()],
                _ => vec![],
            }
        });
        let c = Client::new(&fake.remote(), Duration::from_secs(5));
        match c.transact("Nope", &[Op::Comment("x".into())]) {
            Err(Error::Refused { error, details, .. }) => {
                assert_eq!(error, "unknown database");
                assert!(details.contains("Nope"));
            }
            other => panic!("{other:?}"),
        }
        let e = c.transact(DB, &[Op::insert("Interface", Row::new().with("name", "vA"), None)]).err().unwrap();
        let txn = e.txn().expect("a transaction error");
        assert_eq!((txn.kind, txn.op), (super::super::error::TxnErrorKind::ConstraintViolation, None));
        assert!(e.is_transient() && !e.is_not_running());
        drop(c);
        let reqs = fake.requests();
        assert_eq!(reqs[1], json!({"id": "echo", "result": [], "error": null}), "the echo was answered");
    }

    #[test]
    fn no_socket_is_no_open_vswitch_and_a_dead_one_is_not_running() {
        assert!(Vswitch::find(Some("unix:/nonexistent/db.sock")).is_none());
        let dir = std::env::temp_dir().join(format!("pw-dead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sock");
        let _ = std::fs::remove_file(&path);
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let v = Vswitch::find(Some(&format!("unix:{}", path.display()))).expect("a socket file");
        let e = v.answers().err().unwrap();
        assert!(e.is_not_running() && e.is_transient(), "{e}");
        assert!(e.to_string().contains("is Open vSwitch running?"), "{e}");
        assert!(!v.del_port_anywhere("p").unwrap(), "nothing to remove where nothing runs");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
