//! The explorer page: at a saved counterexample's violating state it marks
//! the property violated, every state on the path shows every property's
//! verdict there, and the discovery shown is the saved trace. Checked over
//! real HTTP (the JSON twin of the page, for every shipped trace) and in
//! headless Chromium (what a person sees).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use raftcheck::cli::ExploreArgs;
use raftcheck::explore::{self, Explorer};
use raftcheck::trace::Outcome;

fn counterexamples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../counterexamples")
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Serves `file` (or the bounds' model) in this process on a free port.
fn serve(file: Option<PathBuf>) -> SocketAddr {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExploreArgs,
    }
    let mut argv = vec!["explore".into(), "--addr".into(), "127.0.0.1:0".into()];
    argv.extend(file.map(PathBuf::into_os_string));
    let args = <Cli as clap::Parser>::parse_from(argv).args;
    let explorer = Explorer::bind(
        explore::target(&args.options().unwrap()).unwrap(),
        args.addr,
    )
    .unwrap();
    let url = explorer.url();
    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    std::thread::spawn(move || explorer.run());
    addr
}

#[test]
fn every_shipped_trace_opens_at_its_discovery_with_per_state_verdicts() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(counterexamples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let trace = raftcheck::trace::Trace::load(&file).unwrap();
        let addr = serve(Some(file.clone()));
        let (status, body) = get(addr, &format!("/.json/steps/{}", trace.explorer_path));
        assert_eq!(status, 200, "{}: {body}", file.display());
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let states = page["states"].as_array().unwrap();
        assert_eq!(states.len(), trace.steps.len() + 1, "{}", file.display());
        let property = trace.property.as_str();
        let verdict_at = |k: usize| {
            states[k]["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == property)
                .unwrap_or_else(|| panic!("{}: no verdict for {property}", file.display()))["holds"]
                .as_bool()
                .unwrap()
        };
        let last = trace.steps.len();
        // The property's value flips exactly at the last state, as replayed.
        let expect_last = trace.outcome == Outcome::Witnesses;
        for k in 0..last {
            assert_eq!(verdict_at(k), !expect_last, "{} state {k}", file.display());
        }
        assert_eq!(
            verdict_at(last),
            expect_last,
            "{} last state",
            file.display()
        );
        if trace.outcome == Outcome::Violates {
            assert_eq!(states[last]["violates"][0], property, "{}", file.display());
        }
        let discovery = page["discovery"].as_str().unwrap();
        assert!(
            discovery.contains(&format!("\"{property}\""))
                && discovery.contains(&format!("step {last}")),
            "{}: {discovery}",
            file.display()
        );
    }
}

#[test]
fn bad_paths_are_clear_404s_and_root_redirects_to_the_trace() {
    let addr = serve(Some(counterexamples().join("double-vote.json")));
    let (status, body) = get(addr, "/steps/0/x");
    assert_eq!(status, 404);
    assert!(
        body.contains("\"x\" in path \"0/x\" is not an index"),
        "{body}"
    );
    let (status, body) = get(addr, "/steps/0/999");
    assert_eq!(status, 404);
    assert!(body.contains("not action 999"), "{body}");
    let (status, body) = get(addr, "/steps/0?at=5");
    assert_eq!(status, 404);
    assert!(body.contains("from 0 to 0"), "{body}");
    let (status, _) = get(addr, "/");
    assert_eq!(status, 302);
}

#[test]
fn a_taken_address_is_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let target = explore::Target {
        config: raft_spec::Profile::Quick.config(),
        trace: None,
        path: "0".into(),
    };
    let err = Explorer::bind(target, addr).err().unwrap();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}")),
        "{err}"
    );
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// The `raftcheck explore` binary on a free port; returns it and the URL it
/// printed.
fn explore_binary(file: &std::path::Path) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_raftcheck"))
        .arg("explore")
        .arg(file)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // Kept open while the server runs: it may print more.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .strip_prefix("explorer: ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("raftcheck explore printed {line:?}"))
        .to_string();
    (child, stdout, url)
}

/// The page's DOM after its scripts ran, as headless Chromium renders it.
fn dump_dom(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("raftcheck-chromium-{}", std::process::id()));
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text a person reads in the element starting at `open` (tags
/// removed, entities of the escaper decoded).
fn text_of(dom: &str, open: &str, close: &str) -> String {
    let start = dom
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in the page:\n{dom}"));
    let end = start + dom[start..].find(close).unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&quot;", "\"")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn in_chromium_the_violating_state_is_marked_and_every_state_shows_its_verdicts() {
    if !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but {CHROMIUM} is missing: .ci/run installs it"
        );
        eprintln!("\n!!! SKIPPED: {CHROMIUM} not installed, so the explorer page was NOT checked in a browser !!!\n");
        return;
    }
    let (mut child, _stdout, url) = explore_binary(&counterexamples().join("double-vote.json"));
    let dom = dump_dom(&url);
    let _ = child.kill();
    let _ = child.wait();

    let discovery = text_of(&dom, "<section id=\"discovery\"", "</section>");
    assert!(
        discovery
            .contains("Saved counterexample: always \"election safety\" is VIOLATED at step 9"),
        "{discovery}"
    );
    assert!(
        !dom.contains("Safety holds"),
        "stateright's global verdict is gone"
    );
    // The path: nine steps; election safety holds before the last, which is
    // marked with the property it violates.
    for k in 0..9 {
        let row = text_of(&dom, &format!("<tr id=\"step-{k}\""), "</tr>");
        assert!(
            !row.contains("VIOLATED") && !row.contains("violates"),
            "state {k}: {row}"
        );
        assert!(row.contains("holds"), "state {k} shows its verdicts: {row}");
    }
    let last = text_of(&dom, "<tr id=\"step-9\"", "</tr>");
    assert!(
        last.contains(
            "s2 → s1 RequestVoteResponse(t1, granted) ✗ violates election safety VIOLATED"
        ),
        "{last}"
    );
    let state = text_of(&dom, "<section id=\"state\"", "</section>");
    assert!(
        state.contains("This state violates always election safety."),
        "{state}"
    );
    assert!(
        state.contains("always election safety: VIOLATED"),
        "{state}"
    );
    assert!(
        state.contains("s0: leader term=1") && state.contains("s1: leader term=1"),
        "two leaders in term 1: {state}"
    );
}
