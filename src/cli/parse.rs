//! Value parsers for command-line options (sizes, durations, mounts).

use std::path::PathBuf;
use std::time::Duration;

use crate::sandbox::{BindMount, Network};

/// Splits `1.5G` into `(1.5, "G")`; `None` when there is no number in front.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit))
}

/// `512M`, `2G`, `1.5GiB`, `4096` (bytes).
pub(super) fn size(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("invalid size {text:?}: expected e.g. 512M or 2G"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("invalid size unit in {text:?}: use K, M, G or T")),
    };
    let bytes = number * multiplier as f64;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// `30s`, `10m`, `1h`, `500ms`, `45` (seconds).
pub(super) fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("invalid duration {text:?}: expected e.g. 30s, 10m, 1h"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?}: use ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("duration {text:?} is out of range"))
}

/// `1.5` CPUs → 1500 milli-CPUs.
pub(super) fn cpus(text: &str) -> Result<u64, String> {
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid CPU count {text:?}: expected e.g. 1.5"))?;
    if !(0.01..=4096.0).contains(&cpus) {
        return Err(format!("CPU count {text:?} is out of range (0.01 to 4096)"));
    }
    Ok((cpus * 1000.0).round() as u64)
}

/// `none` or `host`.
pub(super) fn network(text: &str) -> Result<Network, String> {
    match text {
        "none" => Ok(Network::None),
        "host" => Ok(Network::Host),
        _ => Err(format!("invalid network {text:?}: use none or host")),
    }
}

/// `HOST:SANDBOX[:ro|:rw]`.
pub(super) fn mount(text: &str) -> Result<BindMount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (host, sandbox, read_only) = match parts.as_slice() {
        [host, sandbox] => (host, sandbox, false),
        [host, sandbox, "ro"] => (host, sandbox, true),
        [host, sandbox, "rw"] => (host, sandbox, false),
        _ => {
            return Err(format!(
                "invalid mount {text:?}: expected HOST:SANDBOX[:ro]"
            ))
        }
    };
    Ok(BindMount {
        host: PathBuf::from(host),
        sandbox: PathBuf::from(sandbox),
        read_only,
    })
}

/// `K=V`.
pub(super) fn env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "invalid environment variable {text:?}: expected KEY=VALUE"
        )),
    }
}

#[cfg(test)]
mod tests;
