//! Delegation to an IPAM plugin, as the CNI spec has a main plugin do it:
//! the plugin named by `ipam.type`, found in `CNI_PATH`, run with our
//! environment and the same configuration on stdin, `CNI_COMMAND` set to the
//! command we run. Its error object is passed on with its own code.
//!
//! `static` is the exception: its result is a pure function of the
//! configuration and the arguments, so it is computed here, as the reference
//! plugin computes it, without the ~3 ms of starting it (half our ADD).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use serde_json::Value;

use serde_json::json;

use crate::commands::cni::config::{code, CniError, Command, Env, Result};

/// Runs `plugin` for `command`; ADD's result object is returned.
pub fn delegate(plugin: &str, command: Command, env: &Env, stdin: &[u8]) -> Result<Option<Value>> {
    if plugin == "static" {
        return match command {
            Command::Add => {
                let conf: Value = serde_json::from_slice(stdin).map_err(|e| {
                    CniError::new(code::DECODING_FAILURE, "the configuration is not JSON").with_details(e.to_string())
                })?;
                static_result(&conf, &env.args).map(Some)
            }
            // It keeps no state: nothing to release, check or collect.
            _ => Ok(None),
        };
    }
    let path = &env.path;
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

/// What the reference `static` IPAM plugin answers (checked against it):
/// `ipam.addresses` (each with its optional gateway) and after them CNI_ARGS
/// `IP=` (with `GATEWAY=`); all of them replaced by `args.cni.ips`, and that
/// by the `ips` capability (`runtimeConfig.ips`); `ipam.routes` and
/// `ipam.dns` as they are.
fn static_result(conf: &Value, args: &[(String, String)]) -> Result<Value> {
    let ipam = &conf["ipam"];
    let bad = |what: String| CniError::new(code::INVALID_CONFIG, format!("ipam (static): {what}"));
    let parse_net = |s: &str| s.parse::<ipnet::IpNet>().map_err(|_| bad(format!("'{s}' is not ADDRESS/PREFIX")));
    let parse_ip = |s: &str| s.parse::<std::net::IpAddr>().map_err(|_| bad(format!("'{s}' is not an IP address")));
    let mut ips: Vec<(ipnet::IpNet, Option<std::net::IpAddr>)> = Vec::new();
    for a in ipam.get("addresses").and_then(Value::as_array).into_iter().flatten() {
        let addr = parse_net(a.get("address").and_then(Value::as_str).unwrap_or(""))?;
        let gw = a.get("gateway").and_then(Value::as_str).map(parse_ip).transpose()?;
        ips.push((addr, gw));
    }
    let arg = |k: &str| args.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let listed = |v: Option<&Value>| -> Result<Option<Vec<ipnet::IpNet>>> {
        match v.and_then(Value::as_array) {
            Some(a) if !a.is_empty() => {
                a.iter().map(|x| parse_net(x.as_str().unwrap_or(""))).collect::<Result<_>>().map(Some)
            }
            _ => Ok(None),
        }
    };
    let no_gateway = |list: Option<Vec<ipnet::IpNet>>| list.map(|l| l.into_iter().map(|a| (a, None)).collect());
    if let Some(list) = arg("IP") {
        let gateways: Vec<std::net::IpAddr> =
            arg("GATEWAY").into_iter().flat_map(|g| g.split(',')).map(parse_ip).collect::<Result<_>>()?;
        let family_gw = |a: &ipnet::IpNet| gateways.iter().copied().find(|g| g.is_ipv4() == a.addr().is_ipv4());
        let addrs = list.split(',').map(parse_net).collect::<Result<Vec<_>>>()?;
        ips.extend(addrs.into_iter().map(|a| (a, family_gw(&a))));
    }
    let overrides =
        [no_gateway(listed(conf.pointer("/args/cni/ips"))?), no_gateway(listed(conf.pointer("/runtimeConfig/ips"))?)];
    if let Some(chosen) = overrides.into_iter().flatten().last() {
        ips = chosen;
    }
    if ips.is_empty() {
        return Err(bad("no addresses (\"addresses\", the ips capability, or CNI_ARGS IP=)".into()));
    }
    let ips: Vec<Value> = ips
        .iter()
        .map(|(a, gw)| match gw {
            Some(g) => json!({"address": a.to_string(), "gateway": g.to_string()}),
            None => json!({"address": a.to_string()}),
        })
        .collect();
    let mut result =
        json!({"cniVersion": conf["cniVersion"], "ips": ips, "dns": ipam.get("dns").cloned().unwrap_or(json!({}))});
    if let Some(routes) = ipam.get("routes").filter(|r| r.is_array()) {
        result["routes"] = routes.clone();
    }
    Ok(result)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_answers_as_the_reference_plugin() {
        let conf = json!({"cniVersion": "1.0.0", "ipam": {"type": "static",
            "addresses": [{"address": "10.0.0.5/24", "gateway": "10.0.0.1"}, {"address": "2001:db8::5/64"}],
            "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["10.0.0.53"]}}});
        let r = static_result(&conf, &[]).unwrap();
        assert_eq!(r["ips"], json!([{"address": "10.0.0.5/24", "gateway": "10.0.0.1"}, {"address": "2001:db8::5/64"}]));
        assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]));
        assert_eq!(r["dns"]["nameservers"][0], "10.0.0.53");
    }

    #[test]
    fn static_takes_the_runtime_addresses_last() {
        let mut conf = json!({"cniVersion": "1.0.0", "ipam": {"type": "static", "addresses": [{"address": "10.0.0.5/24"}]},
                              "runtimeConfig": {"ips": ["10.9.0.9/16"]}});
        let args = [("IP".to_string(), "10.7.0.7/24".to_string()), ("GATEWAY".to_string(), "10.7.0.1".to_string())];
        let r = static_result(&conf, &args).unwrap();
        assert_eq!(r["ips"], json!([{"address": "10.9.0.9/16"}]), "the capability replaces the rest");
        conf["runtimeConfig"] = json!({});
        let r = static_result(&conf, &args).unwrap();
        assert_eq!(r["ips"], json!([{"address": "10.0.0.5/24"}, {"address": "10.7.0.7/24", "gateway": "10.7.0.1"}]));
        assert_eq!(static_result(&json!({"ipam": {"type": "static"}}), &[]).unwrap_err().code, code::INVALID_CONFIG);
    }
}
