//! The door to container engines that can name a guest: Docker (as the
//! reference), Podman and containerd. Docker and Podman are asked over their
//! API socket when it answers (`engine_api`), else with one command; an
//! engine that is not there, or does not know the name, lets the next one
//! try. An engine is asked only when its socket answers: a missing or
//! refusing socket skips it at once, one that accepts and stays silent
//! after `ANSWER_WITHIN`; the not-found message says why for each.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

pub use crate::guest::engine_api::Container;
use crate::guest::engine_api::{self, Endpoint, Inspected};
use crate::request::Engine;

/// The command-line program that speaks for an engine.
fn program_of(engine: Engine) -> &'static str {
    match engine {
        Engine::Docker => "docker",
        Engine::Podman => "podman",
        Engine::Containerd => "ctr",
    }
}

/// What one engine said about a name.
pub enum Answer {
    /// Running, with this PID.
    Running(u32, Container),
    /// The engine is missing or does not know the name: why, in its words.
    Unknown(String),
}

pub fn ask(engine: Engine, name: &str) -> Result<Answer> {
    let program = which::which(program_of(engine)).ok();
    let api = match engine {
        Engine::Docker => engine_api::docker(),
        Engine::Podman => engine_api::podman(),
        Engine::Containerd => None,
    };
    match engine {
        Engine::Docker | Engine::Podman => inspect(engine, program.as_deref(), api.as_ref(), name),
        Engine::Containerd => match program {
            Some(p) => match engine_api::grpc_answers(&containerd_socket()) {
                Ok(()) => ctr_task(&p, name),
                Err(e) => Ok(Answer::Unknown(format!("{e:#}"))),
            },
            None => Ok(Answer::Unknown(format!("{} is not installed", program_of(engine)))),
        },
    }
}

/// PID, ID and name together, over the Engine API or else from `docker|podman
/// inspect`. While Docker reports PID 0 (a container still starting) it is
/// asked again, three times a second apart, as the reference does.
fn inspect(engine: Engine, program: Option<&std::path::Path>, api: Option<&Endpoint>, name: &str) -> Result<Answer> {
    let mut tries = 3;
    loop {
        let (pid, container) = match inspect_once(engine, program, api, name)? {
            Inspected::Found(pid, c) => (pid, c),
            Inspected::Unknown(why) => return Ok(Answer::Unknown(why)),
        };
        if pid != 0 {
            return Ok(Answer::Running(pid, container));
        }
        tries -= 1;
        if tries == 0 || engine != Engine::Docker {
            bail!("container '{name}' is not running ({engine} reports PID 0); start it first");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Where `ctr` dials containerd: CONTAINERD_ADDRESS, as ctr reads it, else
/// containerd's own default.
fn containerd_socket() -> std::path::PathBuf {
    let var = std::env::var("CONTAINERD_ADDRESS").ok().filter(|v| !v.is_empty());
    let addr = var.unwrap_or_else(|| "/run/containerd/containerd.sock".to_string());
    addr.strip_prefix("unix://").unwrap_or(&addr).into()
}

/// Whether the engine's CLI would speak over the very socket its API
/// endpoint names: then a socket that does not answer skips the engine,
/// CLI included. Docker's CLI always does (`docker()` leaves contexts and
/// TLS to the CLI); Podman's only when CONTAINER_HOST makes it remote, its
/// local CLI needs no service.
fn cli_needs_socket(engine: Engine) -> bool {
    match engine {
        Engine::Docker => true,
        Engine::Podman => std::env::var("CONTAINER_HOST").is_ok_and(|v| !v.is_empty()),
        Engine::Containerd => true,
    }
}

/// One question: the API when it answers, else the CLI.
fn inspect_once(
    engine: Engine,
    program: Option<&std::path::Path>,
    api: Option<&Endpoint>,
    name: &str,
) -> Result<Inspected> {
    let asked = api.map(|ep| engine_api::inspect(ep, name));
    if let Some(Err(e)) = &asked {
        if engine_api::is_unreachable(e) && cli_needs_socket(engine) {
            return Ok(Inspected::Unknown(format!("{e:#}")));
        }
    }
    if let Some(Ok(answer)) = asked {
        return Ok(match answer {
            // Podman's CLI gives the name without Docker's leading slash:
            // the same answer whichever way it was asked.
            Inspected::Found(pid, mut c) if engine == Engine::Podman => {
                c.name = c.name.trim_start_matches('/').to_string();
                Inspected::Found(pid, c)
            }
            other => other,
        });
    }
    let Some(program) = program else {
        return Ok(Inspected::Unknown(format!("{} is not installed", program_of(engine))));
    };
    let out = Command::new(program)
        .args(["inspect", "--type", "container", "--format", "{{.State.Pid}} {{.Id}} {{.Name}}", name])
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Ok(Inspected::Unknown(why));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (pid, container) = parse_inspect(&text).with_context(|| {
        format!("unexpected answer from {} inspect for '{name}': {}", program_of(engine), text.trim())
    })?;
    Ok(Inspected::Found(pid, container))
}

pub fn parse_inspect(text: &str) -> Option<(u32, Container)> {
    let mut w = text.split_whitespace();
    let pid = w.next()?.parse().ok()?;
    let id = w.next()?.to_string();
    let name = w.next().unwrap_or("").to_string();
    Some((pid, Container { id, name }))
}

/// Docker's running containers by name and ID, from one list over the Engine
/// API: what a batch resolves its names from, instead of one question each.
/// The list carries no PIDs; each comes from containerd's `init.pid` of the
/// container, believed only when that process's cgroup names the container.
/// A name not found here is asked the usual way.
#[derive(Default)]
pub struct Directory {
    by_key: HashMap<String, (u32, Container)>,
}

impl Directory {
    /// None when the engine's API cannot be asked (no socket, a host only the
    /// CLI speaks): then every name is asked alone.
    pub fn docker() -> Option<Directory> {
        let ep = engine_api::docker()?;
        let (listed, pids) = engine_api::list_running_while(&ep, task_pids).ok()?;
        let mut by_key = HashMap::with_capacity(listed.len() * 2);
        for c in listed {
            let Some(&pid) = pids.get(&c.id) else { continue };
            let name = c.names.first().cloned().unwrap_or_default();
            let found = (pid, Container { id: c.id.clone(), name: format!("/{name}") });
            for n in &c.names {
                by_key.insert(n.clone(), found.clone());
            }
            by_key.insert(c.id[..c.id.len().min(12)].to_string(), found.clone());
            by_key.insert(c.id, found);
        }
        Some(Directory { by_key })
    }

    /// A running container by name, full ID or short (12-character) ID.
    pub fn get(&self, word: &str) -> Option<&(u32, Container)> {
        self.by_key.get(word.trim_start_matches('/'))
    }
}

/// Where containerd keeps a task's `init.pid`: under dockerd's own
/// containerd, then under the system's.
const TASK_DIRS: [&str; 2] = [
    "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby",
    "/run/containerd/io.containerd.runtime.v2.task/moby",
];

/// Every running Docker task's first process, by container ID, from
/// containerd's state: each PID believed only when that process's cgroup
/// names the container.
fn task_pids() -> HashMap<String, u32> {
    let mut pids = HashMap::new();
    for dir in TASK_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_string) else { continue };
            let Some(pid) = std::fs::read_to_string(e.path().join("init.pid")).ok().and_then(|p| p.trim().parse().ok())
            else {
                continue;
            };
            if crate::guest::cgroup_names(pid, &id) {
                pids.insert(id, pid);
            }
        }
    }
    pids
}

/// `ctr task ls`: the task of a container carries its ID and its PID.
fn ctr_task(program: &std::path::Path, name: &str) -> Result<Answer> {
    let out = Command::new(program)
        .args(["task", "ls"])
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim().to_string();
        return Ok(Answer::Unknown(why));
    }
    match parse_ctr_tasks(&String::from_utf8_lossy(&out.stdout), name) {
        Some((pid, status)) if status == "RUNNING" && pid != 0 => {
            Ok(Answer::Running(pid, Container { id: name.to_string(), name: name.to_string() }))
        }
        Some((_, status)) => {
            Err(anyhow!("container '{name}' is not running (containerd reports {status}); start it first"))
        }
        None => Ok(Answer::Unknown(format!("no task named '{name}'"))),
    }
}

/// `TASK PID STATUS` lines → PID and status of `name`.
fn parse_ctr_tasks(text: &str, name: &str) -> Option<(u32, String)> {
    text.lines().skip(1).find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == name).then_some(())?;
        let pid = w.next()?.parse().ok()?;
        Some((pid, w.next().unwrap_or("").to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_answer() {
        let (pid, c) = parse_inspect("4242 0123abcd /web1\n").unwrap();
        assert_eq!((pid, c.id.as_str(), c.name.as_str()), (4242, "0123abcd", "/web1"));
        assert!(parse_inspect("<no value>").is_none());
    }

    #[test]
    fn ctr_task_list() {
        let text = "TASK     PID      STATUS    \nweb1     31337    RUNNING\nold      0        STOPPED\n";
        assert_eq!(parse_ctr_tasks(text, "web1"), Some((31337, "RUNNING".into())));
        assert_eq!(parse_ctr_tasks(text, "old"), Some((0, "STOPPED".into())));
        assert_eq!(parse_ctr_tasks(text, "web"), None);
    }
}
