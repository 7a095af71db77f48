//! Delegation to an IPAM plugin, as the CNI spec has a main plugin do it:
//! the plugin named by `ipam.type`, found in `CNI_PATH`, run with our
//! environment and the same configuration on stdin, `CNI_COMMAND` set to the
//! command we run. Its error object is passed on with its own code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use serde_json::Value;

use crate::commands::cni::config::{code, CniError, Command, Result};

/// Runs `plugin` for `command`; ADD's result object is returned.
pub fn delegate(plugin: &str, command: Command, path: &[PathBuf], stdin: &[u8]) -> Result<Option<Value>> {
    let program = find(plugin, path)?;
    let io = |e: std::io::Error| {
        CniError::new(code::IO_FAILURE, format!("running IPAM plugin {}", program.display()))
            .with_details(e.to_string())
    };
    let mut child = Process::new(&program)
        .env("CNI_COMMAND", command.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(io)?;
    // A plugin that exits without reading all of stdin closes the pipe:
    // its answer, not the write, says what happened.
    let _ = child.stdin.take().map(|mut s| s.write_all(stdin));
    let out = child.wait_with_output().map_err(io)?;
    let answer: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        let field = |k: &str| answer.as_ref().and_then(|a| a.get(k)).cloned();
        let msg = field("msg")
            .and_then(|m| m.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("exited with {} and no error object", out.status));
        let theirs = field("code").and_then(|c| c.as_u64()).map(|c| c as u32);
        let details = field("details").and_then(|d| d.as_str().map(str::to_string)).unwrap_or_default();
        return Err(CniError::new(
            theirs.unwrap_or(code::ATTACH_FAILED),
            format!("IPAM plugin {plugin} ({}): {msg}", command.as_str()),
        )
        .with_details(details));
    }
    match command {
        Command::Add => match answer {
            Some(v) if v.is_object() => Ok(Some(v)),
            _ => Err(CniError::new(
                code::DECODING_FAILURE,
                format!("IPAM plugin {plugin} (ADD) printed no result object"),
            )
            .with_details(String::from_utf8_lossy(&out.stdout).into_owned())),
        },
        _ => Ok(None),
    }
}

fn find(plugin: &str, path: &[PathBuf]) -> Result<PathBuf> {
    path.iter().map(|dir| dir.join(plugin)).find(|p| is_executable(p)).ok_or_else(|| {
        let dirs: Vec<String> = path.iter().map(|d| d.display().to_string()).collect();
        CniError::new(
            code::INVALID_CONFIG,
            format!(
                "IPAM plugin \"{plugin}\" is not in CNI_PATH ({}); install it there or correct \"ipam\": {{\"type\"}}",
                dirs.join(":")
            ),
        )
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
