//! `raftcheck check --bench`: throughput and memory per state of each
//! profile, each measured in a fresh process.

use crate::markup::grouped;

/// `raftcheck check --bench`: each profile in a fresh process (so peak memory
/// is the profile's own), as a table of throughput and memory per state.
pub fn bench(profiles: &[raft_spec::Profile], threads: usize) -> crate::error::Result<String> {
    let mut out = String::from(
        "profile  unique states  transitions  seconds  unique states/s  peak MiB  bytes/state\n",
    );
    for profile in profiles {
        let report = check_json(
            &[
                "check",
                "--profile",
                profile.name(),
                "--threads",
                &threads.to_string(),
            ],
            &format!("profile {profile}"),
        )?;
        let num = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{:<8} {:>14} {:>12} {:>8.1} {:>16} {:>9.0} {:>12.0}\n",
            profile.name(),
            grouped(num("unique_states") as u64),
            grouped(num("transitions") as u64),
            num("seconds"),
            grouped(num("unique_states_per_second") as u64),
            num("peak_memory_bytes") / (1 << 20) as f64,
            num("bytes_per_unique_state"),
        ));
    }
    out.push_str(&format!(
        "reproduce: raftcheck check --bench --threads {threads} (each profile: raftcheck check --profile NAME --format json)\n"
    ));
    Ok(out)
}

/// `raftcheck check --bench --disk DIR`: `profile` in memory, on disk with
/// the default memory (the cache holds what fits), and on disk within
/// `tight` bytes (a cache far smaller than the space, so nearly every
/// duplicate is found by the merge on disk), each in a fresh process; with
/// each run's speed as a ratio to the in-memory run of the same bench. Also
/// whether all three found the same states.
pub fn disk_bench(
    profile: raft_spec::Profile,
    threads: usize,
    dir: &std::path::Path,
    tight: &str,
) -> crate::error::Result<(String, bool)> {
    let dir = dir.to_string_lossy().into_owned();
    let threads = threads.to_string();
    let base = ["check", "--profile", profile.name(), "--threads", &threads];
    let runs: [(&str, Vec<&str>); 3] = [
        ("in memory", vec![]),
        ("disk", vec!["--disk", &dir]),
        ("disk, tight", vec!["--disk", &dir, "--max-memory", tight]),
    ];
    let mut out = String::from(
        "| run | unique states | seconds | unique states/s | vs in memory | peak MiB | disk written MiB | disk peak MiB |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mib = |b: f64| b / (1 << 20) as f64;
    let (mut first, mut same) = (None, true);
    for (name, extra) in runs {
        let args: Vec<&str> = base.iter().copied().chain(extra).collect();
        let report = check_json(&args, name)?;
        let num = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
        let unique = report["unique_states"].as_u64();
        let speed = num("unique_states_per_second");
        let (base_unique, base_speed) = *first.get_or_insert((unique, speed));
        same &= unique == base_unique && report["complete"].as_bool() == Some(true);
        let disk = |k: &str| {
            report["disk"][k]
                .as_f64()
                .map_or("-".to_string(), |b| format!("{:.0}", mib(b)))
        };
        out.push_str(&format!(
            "| {name} | {} | {:.1} | {} | {:.2} | {:.0} | {} | {} |\n",
            grouped(unique.unwrap_or(0)),
            num("seconds"),
            grouped(speed as u64),
            speed / base_speed,
            mib(num("peak_memory_bytes")),
            disk("written_bytes"),
            disk("peak_bytes"),
        ));
    }
    out.push_str(&format!(
        "\nreproduce: raftcheck check --bench --disk {dir} --profile {profile} --threads {threads} \
         (rows: raftcheck check --profile {profile} [--disk {dir} [--max-memory {tight}]])\n"
    ));
    Ok((out, same))
}

/// `raftcheck variants --bench`: each preset and each option alone
/// model-checked at `profile`'s bounds, each in a fresh process, as a
/// Markdown table; and whether every run was OK (every property holds,
/// every sometimes property reached, and no rule the bounds allow left
/// unfired).
pub fn variants_bench(
    profile: raft_spec::Profile,
    threads: usize,
) -> crate::error::Result<(String, bool)> {
    let mut out = String::from(
        "| variant | unique states | transitions | seconds | result | rules never fired |\n\
         | --- | ---: | ---: | ---: | --- | --- |\n",
    );
    let mut all_ok = true;
    for v in raft_spec::variant::each_preset_and_option() {
        let name = v.name();
        let report = check_json(
            &[
                "check",
                "--profile",
                profile.name(),
                "--variant",
                &name,
                "--threads",
                &threads.to_string(),
            ],
            &format!("variant {name}"),
        )?;
        let num = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
        let uncovered: Vec<&str> = report["coverage"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"] == "uncovered")
            .filter_map(|r| r["rule"].as_str())
            .collect();
        let ok = report["ok"].as_bool() == Some(true) && uncovered.is_empty();
        all_ok &= ok;
        out.push_str(&format!(
            "| `{name}` | {} | {} | {:.1} | {} | {} |\n",
            grouped(num("unique_states") as u64),
            grouped(num("transitions") as u64),
            num("seconds"),
            if report["ok"].as_bool() == Some(true) {
                "OK"
            } else {
                "FAILED"
            },
            if uncovered.is_empty() {
                "-".to_string()
            } else {
                uncovered.join(", ")
            },
        ));
    }
    out.push_str(&format!(
        "\nreproduce: raftcheck variants --bench --profile {profile} --threads {threads} \
         (each row: raftcheck check --profile {profile} --variant VARIANT)\n"
    ));
    Ok((out, all_ok))
}

/// `raftcheck check ARGS --format json --quiet` in a fresh process (this
/// program), its report parsed; `what` names the run in errors.
pub(super) fn check_json(args: &[&str], what: &str) -> crate::error::Result<serde_json::Value> {
    use crate::error::Error::Child;
    let exe = std::env::current_exe().map_err(|e| Child {
        what: "cannot find this program's own path".into(),
        error: e.to_string(),
    })?;
    let output = std::process::Command::new(&exe)
        .args(args)
        .args(["--format", "json", "--quiet"])
        .output()
        .map_err(|e| Child {
            what: format!("cannot run {}", exe.display()),
            error: e.to_string(),
        })?;
    serde_json::from_slice(&output.stdout).map_err(|e| Child {
        what: format!("{what}: unreadable report"),
        error: e.to_string(),
    })
}
