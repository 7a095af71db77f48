//! What a DHCP step needs, decided before anything changes, and the command
//! lines and file names the reference uses for each client. Pure: nothing
//! here runs.

use std::path::PathBuf;
use std::time::Duration;

use crate::request::DhcpMethod;

/// Everything a DHCP step needs, decided before anything changes.
#[derive(Debug, Clone, PartialEq)]
pub struct DhcpSpec {
    /// GUESTIF.
    pub link: String,
    pub method: DhcpMethod,
    /// `:OPTIONS`, split on spaces, appended to the client's arguments.
    pub options: Vec<String>,
    /// The guest's name as typed: the hostname the client sends.
    pub hostname: String,
    /// Docker container ID (for `dhcp`).
    pub container: Option<String>,
    /// The guest's PID, when known: the renewing built-in client ends with it.
    pub guest_pid: Option<u32>,
    pub timeout: Duration,
}

/// The Debian package that provides each client, for "not installed" errors.
pub fn package_of(program: &str) -> &'static str {
    match program {
        "udhcpc" => "udhcpc (or busybox)",
        "dhclient" => "isc-dhcp-client",
        "dhcpcd" => "dhcpcd-base",
        "docker" => "docker.io",
        _ => "the one that provides it",
    }
}

impl DhcpSpec {
    /// The reference's file names carry the guest's name; a path-like name
    /// cannot be part of a file name.
    fn file_tag(&self) -> String {
        self.hostname.replace('/', "_")
    }

    pub fn pid_file(&self) -> Option<PathBuf> {
        let tag = self.file_tag();
        match self.method {
            DhcpMethod::Udhcpc { .. } => Some(format!("/var/run/udhcpc.{tag}.pid").into()),
            DhcpMethod::Dhclient { .. } => Some(format!("/var/run/dhclient.{tag}.pid").into()),
            DhcpMethod::Builtin { renew: true } => {
                Some(format!("/var/run/pipework-dhcp.{tag}.{}.pid", self.link).into())
            }
            _ => None,
        }
    }

    fn lease_file(&self) -> PathBuf {
        format!("/etc/dhclient/dhclient.{}.leases", self.file_tag()).into()
    }

    /// dhcpcd keeps its lease as /var/lib/dhcpcd/IF.lease and its pid file
    /// under /run/dhcpcd: shared by every guest's eth1, one guest would
    /// start from another's lease (on another network, perhaps) or be taken
    /// for a running instance. Its runs here stop after the lease anyway.
    pub fn private_dirs(&self) -> &'static [&'static str] {
        match self.method {
            DhcpMethod::Dhcpcd => &["/var/lib/dhcpcd", "/run/dhcpcd"],
            _ => &[],
        }
    }

    /// Name of the throw-away container of the `dhcp` method.
    pub fn helper_container(&self) -> String {
        let id = self.container.as_deref().unwrap_or("guest");
        format!("pipework-dhcp-{}-{}", &id[..id.len().min(12)], self.link)
    }

    /// The program and its arguments; None for the built-in client.
    /// udhcpc without -f stays in the foreground until it has a lease (-q:
    /// then exits; without it, goes to the background and renews). dhclient
    /// backgrounds itself once it has a lease; the non-renewing form is then
    /// stopped through its pid file, as the reference does. dhcpcd -1 exits
    /// once the interface is configured.
    pub fn client_command(&self) -> Option<(&'static str, Vec<String>)> {
        let (i, h) = (self.link.clone(), self.hostname.clone());
        let pid = || self.pid_file().map(|p| p.display().to_string()).unwrap_or_default();
        let program = self.method.program()?;
        let mut args: Vec<String> = match self.method {
            DhcpMethod::DockerBusybox => {
                // `dhcp:-f` keeps the client: a detached container renewing
                // the lease for as long as it runs, as the reference does.
                // Otherwise the client quits with its lease (-q) and the
                // container goes with it.
                let mut a: Vec<String> = vec!["run".into()];
                a.extend(self.detached().then(|| "-d".to_string()));
                a.extend(["--rm".into(), "--name".into(), self.helper_container(), "--net".into()]);
                a.push(format!("container:{}", self.container.as_deref().unwrap_or("")));
                a.extend(["--cap-add", "NET_ADMIN", "busybox", "udhcpc"].map(String::from));
                a.extend((!self.detached()).then(|| "-q".to_string()));
                a.extend(["-f".into(), "-i".into(), i, "-x".into(), format!("hostname:{h}")]);
                a
            }
            DhcpMethod::Udhcpc { renew } => {
                let mut a = if renew { vec![] } else { vec!["-q".to_string()] };
                a.extend(["-i".into(), i, "-x".into(), format!("hostname:{h}"), "-p".into(), pid()]);
                a
            }
            DhcpMethod::Dhclient { .. } => {
                vec![i, "-pf".into(), pid(), "-lf".into(), self.lease_file().display().to_string()]
            }
            // -I '': a client ID from the MAC, as the other clients send,
            // rather than a DUID: a U: MAC then gets its lease back.
            DhcpMethod::Dhcpcd => vec!["-q".into(), "-1".into(), "-I".into(), String::new(), i, "-h".into(), h],
            DhcpMethod::Builtin { .. } => return None,
        };
        // A detached `dhcp` client already runs with -f.
        args.extend(self.options.iter().filter(|o| !(self.detached() && *o == "-f")).cloned());
        Some((program, args))
    }

    /// The client goes on in the background, and the lease comes after its
    /// start returns: `dhcp:-f`, a busybox container left running.
    pub fn detached(&self) -> bool {
        self.method == DhcpMethod::DockerBusybox && self.options.iter().any(|o| o == "-f")
    }

    /// What `--dry-run` and the plan tests show for this step; `exec` runs
    /// a program in the guest (`nsenter -t PID -n`).
    pub fn describe(&self, exec: &str) -> String {
        match self.client_command() {
            Some(("docker", args)) => format!("docker {}", shell_words(&args)),
            Some((program, args)) => format!("{exec} {program} {}", shell_words(&args)),
            None => format!(
                "# pipework's built-in DHCPv4 client on {} ({exec}){}",
                self.link,
                if matches!(self.method, DhcpMethod::Builtin { renew: true }) {
                    ", renewing in the background"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Arguments as a shell would need them typed (only empty or spaced ones
/// need quotes here).
fn shell_words(args: &[String]) -> String {
    let quoted: Vec<String> =
        args.iter().map(|a| if a.is_empty() || a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect();
    quoted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: DhcpMethod) -> DhcpSpec {
        DhcpSpec {
            link: "eth1".into(),
            method,
            options: vec!["-t".into(), "5".into()],
            hostname: "web1".into(),
            container: Some("0123456789abcdef".into()),
            guest_pid: Some(42),
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn reference_command_lines() {
        let line = |m| spec(m).describe("ip netns exec 42");
        assert_eq!(
            line(DhcpMethod::Udhcpc { renew: false }),
            "ip netns exec 42 udhcpc -q -i eth1 -x hostname:web1 -p /var/run/udhcpc.web1.pid -t 5"
        );
        assert_eq!(
            line(DhcpMethod::Udhcpc { renew: true }),
            "ip netns exec 42 udhcpc -i eth1 -x hostname:web1 -p /var/run/udhcpc.web1.pid -t 5"
        );
        assert_eq!(
            line(DhcpMethod::Dhclient { renew: true }),
            "ip netns exec 42 dhclient eth1 -pf /var/run/dhclient.web1.pid -lf /etc/dhclient/dhclient.web1.leases -t 5"
        );
        assert_eq!(line(DhcpMethod::Dhcpcd), "ip netns exec 42 dhcpcd -q -1 -I '' eth1 -h web1 -t 5");
        assert_eq!(
            line(DhcpMethod::DockerBusybox),
            "docker run --rm --name pipework-dhcp-0123456789ab-eth1 --net container:0123456789abcdef \
             --cap-add NET_ADMIN busybox udhcpc -q -f -i eth1 -x hostname:web1 -t 5"
        );
    }

    #[test]
    fn dhcp_with_dash_f_keeps_its_container_running() {
        let mut s = spec(DhcpMethod::DockerBusybox);
        s.options = vec!["-f".into(), "-t".into(), "5".into()];
        assert!(s.detached());
        assert_eq!(
            s.describe("ip netns exec 42"),
            "docker run -d --rm --name pipework-dhcp-0123456789ab-eth1 --net container:0123456789abcdef \
             --cap-add NET_ADMIN busybox udhcpc -f -i eth1 -x hostname:web1 -t 5"
        );
    }

    #[test]
    fn path_like_guest_names_make_flat_file_names() {
        let mut s = spec(DhcpMethod::Udhcpc { renew: false });
        s.hostname = "/run/netns/blue".into();
        assert_eq!(s.pid_file().unwrap(), PathBuf::from("/var/run/udhcpc._run_netns_blue.pid"));
    }
}
