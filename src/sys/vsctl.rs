//! The door to Open vSwitch's database: the only module that runs
//! `ovs-vsctl`, the one program an OVS attach runs.
//!
//! An attach costs exactly one call: creating the bridge (when asked), the
//! port, its VLAN tag and the external-ids are one ovsdb transaction, so the
//! database never holds half of an attach. Everything else here runs only to
//! explain or undo a failure.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use crate::sys::genl;

/// How long ovs-vsctl may wait for ovs-vswitchd to apply a change. A live
/// daemon answers in milliseconds; a dead one never does.
pub const TIMEOUT_SECS: u32 = 10;

/// `ovs-vsctl`, found on PATH, aimed at one ovsdb-server.
#[derive(Debug, Clone)]
pub struct Vsctl {
    path: PathBuf,
    db: Option<String>,
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

/// What one add-port transaction did. Returned whenever the transaction
/// may have reached the database (also when unsure, so that undo looks); an
/// `Err` from `add_port` means nothing was committed.
pub struct Added {
    /// The port was already on the bridge and was reused, as the reference
    /// does; undo must leave it.
    pub port_existed: bool,
    /// Why the attach cannot go on, although the transaction ran.
    pub error: Option<anyhow::Error>,
}

impl PortSpec {
    /// The transaction as ovs-vsctl words, as a user would type it.
    pub fn args(&self) -> Vec<String> {
        let mut a = self.bridge_args();
        a.extend(self.port_args());
        a
    }

    fn bridge_args(&self) -> Vec<String> {
        let Some(dp) = &self.create_bridge else { return Vec::new() };
        let b = &self.bridge;
        let mut a = words(&["--may-exist", "add-br", b]);
        // `system` is ovsdb's default: a plain add-br, as the reference does.
        if dp != "system" {
            a.extend(words(&["--", "set", "Bridge", b, &format!("datapath_type={dp}")]));
        }
        a.push("--".into());
        a
    }

    fn port_args(&self) -> Vec<String> {
        let (b, p) = (&self.bridge, &self.port);
        // --may-exist: an existing port of this name on this bridge is reused
        // (the reference checks list-ports first); on another bridge it is an
        // error. The tag and ids are set separately so a reused port gets them too.
        let mut a = words(&["--may-exist", "add-port", b, p]);
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

impl Vsctl {
    /// None when ovs-vsctl is not installed.
    pub fn find(db: Option<&str>) -> Option<Vsctl> {
        let path = which::which("ovs-vsctl").ok()?;
        Some(Vsctl { path, db: db.map(str::to_string) })
    }

    fn command(&self, wait: bool) -> Command {
        let mut c = Command::new(&self.path);
        c.arg(format!("--timeout={TIMEOUT_SECS}"));
        if let Some(db) = &self.db {
            c.arg(format!("--db={db}"));
        }
        if !wait {
            c.arg("--no-wait");
        }
        c.stdin(Stdio::null());
        c
    }

    fn run<I, S>(&self, wait: bool, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(wait).args(args).output().with_context(|| format!("running {}", self.path.display()))
    }

    /// Does ovsdb know a bridge of this name? Errors count as no, as in the
    /// reference, which then takes the device for a physical interface.
    pub fn bridge_exists(&self, name: &str) -> bool {
        self.command(false)
            .args(["br-exists", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The one call of an attach. `list-ports` rides along, before the
    /// add-port, so we learn whether the port was there already.
    pub fn add_port(&self, spec: &PortSpec) -> Result<Added> {
        let mut args = spec.bridge_args();
        args.extend(words(&["list-ports", &spec.bridge, "--"]));
        args.extend(spec.port_args());
        let out = self.run(true, &args)?;
        let stderr = String::from_utf8_lossy(&out.stderr);

        if out.status.signal() == Some(libc::SIGALRM) {
            // Timed out waiting for ovs-vswitchd, most likely after the commit.
            return Ok(Added {
                port_existed: false,
                error: Some(anyhow!(
                    "ovs-vswitchd did not apply the new port {} on {} within {TIMEOUT_SECS} s; \
                     is it running? (check with: ovs-appctl version)",
                    spec.port,
                    spec.bridge
                )),
            });
        }
        if !out.status.success() {
            let e = anyhow!("{}", vsctl_message(&stderr))
                .context(format!("adding port {} to Open vSwitch bridge {}", spec.port, spec.bridge));
            return Err(hint_db(e, &stderr, self.db.as_deref()));
        }
        let port_existed = String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == spec.port);
        // ovs-vsctl exits 0 even when the bridge or port could not be set up
        // in ovs-vswitchd (no kernel datapath, device missing); it only says
        // so on stderr. A port that cannot forward is a failure.
        if stderr.contains("Error detected while setting up") {
            let error = Some(self.explain_setup_error(spec));
            return Ok(Added { port_existed, error });
        }
        if port_existed {
            // The old row names a device that is gone: we made a new veth of
            // that name. The userspace datapath keeps polling the dead one
            // (and re-adding the row in the same transaction changes
            // nothing), so the port is taken out and put back, with the
            // daemon applying each step.
            if let Err(e) = self.readd_port(spec) {
                return Ok(Added { port_existed, error: Some(e) });
            }
        }
        Ok(Added { port_existed, error: None })
    }

    fn readd_port(&self, spec: &PortSpec) -> Result<()> {
        let context = || format!("re-adding the existing port {} on {} for the new veth", spec.port, spec.bridge);
        check(&self.run(true, ["del-port", &spec.bridge, &spec.port])?).with_context(context)?;
        check(&self.run(true, spec.port_args())?).with_context(context)
    }

    /// Why ovs-vswitchd refused: the Interface row's error column, or, when
    /// that is empty, the bridge itself is not running.
    fn explain_setup_error(&self, spec: &PortSpec) -> anyhow::Error {
        let (b, p) = (&spec.bridge, &spec.port);
        let asked = self.run(false, ["get", "Interface", p, "error", "--", "get", "Bridge", b, "datapath_type"]);
        let text = asked.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        let mut lines = text.lines().map(|l| l.trim().trim_matches('"'));
        let port_error = lines.next().filter(|e| !e.is_empty() && *e != "[]");
        let datapath = lines.next().unwrap_or("");
        if let Some(e) = port_error {
            return anyhow!("Open vSwitch could not set up port {p} on bridge {b}: {e}");
        }
        let kernel_less = matches!(datapath, "" | "system") && !kernel_datapath_present();
        if kernel_less {
            anyhow!(
                "Open vSwitch bridge {b} cannot forward: it uses the kernel datapath, and this kernel has no \
                 openvswitch module. Use the userspace datapath: ovs-vsctl set Bridge {b} datapath_type=netdev \
                 (pipework creates new bridges that way on such kernels)"
            )
        } else {
            anyhow!(
                "Open vSwitch bridge {b} cannot forward: ovs-vswitchd could not set it up (see the ovs-vswitchd log)"
            )
        }
    }

    /// Undo of a port this run added. `--no-wait`: the database is what
    /// matters, and ovs-vswitchd may be the reason we are undoing.
    pub fn del_port(&self, bridge: &str, port: &str) -> Result<()> {
        let out = self.run(false, ["--if-exists", "del-port", bridge, port])?;
        check(&out).with_context(|| format!("removing port {port} from {bridge}"))
    }

    /// `--detach`: the port of this name, on whichever bridge holds it.
    /// Returns false, having done nothing, when no ovsdb-server answers:
    /// then there is no database to hold the port either.
    pub fn del_port_anywhere(&self, port: &str) -> Result<bool> {
        let out = self.run(false, ["--if-exists", "del-port", port])?;
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("database connection failed") {
            return Ok(false);
        }
        check(&out).with_context(|| format!("removing Open vSwitch port {port}"))?;
        Ok(true)
    }

    /// Where a port is: its bridge and access tag, or None when ovsdb has no
    /// such port. One call.
    pub fn port_place(&self, port: &str) -> Result<Option<(String, Option<u16>)>> {
        let out = self.run(false, ["port-to-br", port, "--", "get", "Port", port, "tag"])?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("no port named") {
                return Ok(None);
            }
            return Err(anyhow!("{}", vsctl_message(&err))).with_context(|| format!("asking where port {port} is"));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let bridge = lines.next().unwrap_or("").trim().to_string();
        let tag = lines.next().and_then(|t| t.trim().parse().ok());
        Ok(Some((bridge, tag)))
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
        let out = self.run(
            false,
            ["--format=csv", "--no-headings", "--data=bare", "--columns=name,external_ids", "list", "Interface"],
        )?;
        check(&out).context("listing Open vSwitch interfaces")?;
        Ok(parse_marked_ports(&String::from_utf8_lossy(&out.stdout)))
    }

    /// One transaction of raw ovs-vsctl commands (already split with `--`),
    /// waiting for ovs-vswitchd to apply it. `what` names it in errors.
    pub fn transact(&self, args: &[String], what: &str) -> Result<()> {
        let out = self.run(true, args)?;
        if out.status.signal() == Some(libc::SIGALRM) {
            bail!("{what}: ovs-vswitchd did not apply it within {TIMEOUT_SECS} s; is it running?");
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(hint_db(
                anyhow!("{}", vsctl_message(&stderr)).context(what.to_string()),
                &stderr,
                self.db.as_deref(),
            ));
        }
        Ok(())
    }

    /// One column of one row, as ovs-vsctl prints it bare; None when the
    /// row does not exist.
    pub fn get(&self, table: &str, row: &str, column: &str) -> Result<Option<String>> {
        let out = self.run(false, ["--if-exists", "--data=bare", "get", table, row, column])?;
        check(&out).with_context(|| format!("reading {table} {row} {column}"))?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok((!text.is_empty()).then_some(text))
    }

    /// Every Interface row: name, type, options, ofport, error and
    /// external-ids, for tunnels (ours and others').
    pub fn interfaces(&self) -> Result<Vec<InterfaceRow>> {
        let out = self.run(
            false,
            [
                "--format=csv",
                "--no-headings",
                "--data=bare",
                "--columns=name,type,options,ofport,error,external_ids",
                "list",
                "Interface",
            ],
        )?;
        check(&out).context("listing Open vSwitch interfaces")?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(InterfaceRow::parse_csv).collect())
    }

    /// The ports of a bridge.
    pub fn ports(&self, bridge: &str) -> Result<Vec<String>> {
        let out = self.run(false, ["list-ports", bridge])?;
        check(&out).with_context(|| format!("listing the ports of {bridge}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
    }

    /// `ovs-appctl ovs/route/lookup IP`: the device ovs-vswitchd's own
    /// routing table (the userspace datapath's) sends tunnels to IP through.
    pub fn route_lookup(&self, ip: std::net::IpAddr) -> Result<Option<String>> {
        let mut c = Command::new(which::which("ovs-appctl").context("ovs-appctl is not installed")?);
        let ctl = rundir().join("ovs-vswitchd.ctl");
        if ctl.exists() {
            c.arg("-t").arg(ctl);
        }
        let out = c.args(["ovs/route/lookup", &ip.to_string()]).stdin(Stdio::null()).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().find_map(|l| l.trim().strip_prefix("dev ").map(|d| d.trim().to_string())))
    }

    /// Undo of a bridge this run created, unless another attach joined it.
    pub fn del_bridge_if_empty(&self, bridge: &str) -> Result<()> {
        let out = self.run(false, ["list-ports", bridge])?;
        check(&out).with_context(|| format!("listing the ports of {bridge}"))?;
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            let out = self.run(false, ["--if-exists", "del-br", bridge])?;
            check(&out).with_context(|| format!("deleting bridge {bridge}"))?;
        }
        Ok(())
    }
}

/// `name,"k=v k=v"` rows (csv, bare data) → the ports that carry
/// `pipework.containerid`.
/// An Interface row, as `interfaces` reads it.
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
    fn parse_csv(line: &str) -> Option<InterfaceRow> {
        let cells = csv_cells(line);
        let [name, kind, options, ofport, error, ids] = cells.as_slice() else { return None };
        let map = |s: &str| -> BTreeMap<String, String> {
            s.split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect()
        };
        Some(InterfaceRow {
            name: name.clone(),
            kind: kind.clone(),
            options: map(options),
            ofport: ofport.parse().ok(),
            error: error.clone(),
            external_ids: map(ids),
        })
    }
}

/// The cells of one CSV line as ovs-vsctl writes it: quoted when needed,
/// `""` for a quote inside.
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

fn parse_marked_ports(csv: &str) -> Vec<(String, BTreeMap<String, String>)> {
    csv.lines()
        .filter_map(|l| {
            let (name, ids) = l.split_once(',')?;
            let ids: BTreeMap<String, String> = ids
                .trim_matches('"')
                .split(' ')
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, _)| k.starts_with("pipework."))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect();
            (!ids.is_empty()).then(|| (name.trim_matches('"').to_string(), ids))
        })
        .collect()
}

fn check(out: &Output) -> Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(anyhow!("{}", vsctl_message(&String::from_utf8_lossy(&out.stderr))))
    }
}

/// ovs-vsctl's complaint, without its program-name prefix.
fn vsctl_message(stderr: &str) -> String {
    let msg: Vec<&str> =
        stderr.lines().map(|l| l.trim().trim_start_matches("ovs-vsctl:").trim()).filter(|l| !l.is_empty()).collect();
    if msg.is_empty() {
        "ovs-vsctl failed without saying why".into()
    } else {
        msg.join("; ")
    }
}

fn hint_db(e: anyhow::Error, stderr: &str, db: Option<&str>) -> anyhow::Error {
    if !stderr.contains("database connection failed") {
        return e;
    }
    let which = match db {
        Some(db) => format!("the ovsdb-server at {db} (--ovs-db)"),
        None => format!("ovsdb-server (socket in {})", rundir().display()),
    };
    e.context(format!("cannot reach {which}; is Open vSwitch running? Set OVS_RUNDIR or --ovs-db for a private one"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PortSpec {
        PortSpec {
            bridge: "ovsbr0".into(),
            port: "veth1pl42".into(),
            create_bridge: None,
            tag: Some(100),
            external_ids: vec![("pipework.nspid".into(), "42".into())],
        }
    }

    #[test]
    fn port_on_an_existing_bridge_is_one_transaction() {
        assert_eq!(
            spec().args().join(" "),
            "--may-exist add-port ovsbr0 veth1pl42 -- set Port veth1pl42 tag=100 \
             -- set Interface veth1pl42 external-ids:pipework.nspid=42"
        );
    }

    #[test]
    fn new_bridge_comes_first_in_the_same_transaction() {
        let mut s = spec();
        s.create_bridge = Some("netdev".into());
        s.tag = None;
        assert!(s.args().join(" ").starts_with(
            "--may-exist add-br ovsbr0 -- set Bridge ovsbr0 datapath_type=netdev -- --may-exist add-port ovsbr0 veth1pl42 --"
        ));
        s.create_bridge = Some("system".into());
        assert!(s.args().join(" ").starts_with("--may-exist add-br ovsbr0 -- --may-exist add-port"));
    }

    #[test]
    fn vsctl_messages_lose_their_prefix() {
        assert_eq!(
            vsctl_message(
                "ovs-vsctl: cannot create a port named p because a port named p already exists on bridge b\n"
            ),
            "cannot create a port named p because a port named p already exists on bridge b"
        );
    }
}
