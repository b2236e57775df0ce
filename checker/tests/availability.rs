//! `raftcheck availability`: the closed forms, the rendered report, input
//! validation, and a Monte-Carlo simulation of independent servers that the
//! closed forms must agree with (and the naive "any server up" figure must
//! not).

use proptest::prelude::*;
use raftcheck::availability::math::{
    self, failovers_per_year_from_mtbf, naive_availability, quorum_availability,
    quorum_unavailability, NodeAvailability, HOURS_PER_YEAR,
};
use raftcheck::availability::{build_report, render, AvailabilityError, AvailabilityOptions};
use raftcheck::cli::availability::parse_args;

fn args(argv: &[&str]) -> AvailabilityOptions {
    parse_args(argv).unwrap_or_else(|e| panic!("{argv:?} should parse: {e}"))
}

fn rendered(argv: &[&str]) -> String {
    render(&args(argv)).unwrap_or_else(|e| panic!("{argv:?} should render: {e}"))
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

fn node(a: f64) -> NodeAvailability {
    NodeAvailability::from_availability(a).unwrap()
}

// ---------------------------------------------------------------------------
// The headline numbers and the rendered report.

#[test]
fn five_servers_at_two_nines() {
    let text = rendered(&["--servers", "5", "--node-availability", "0.99"]);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("5 "))
        .expect("a row for N=5");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..5], ["5", "3", "2", "0.9999901494", "0.9999999999"]);
    assert!(text.contains("reproduce: raftcheck availability --servers 5 --node-availability 0.99"));

    let report = build_report(&args(&["--servers", "5", "--node-availability", "0.99"])).unwrap();
    let r = &report.rows[0];
    assert_eq!(format!("{:.10}", r.quorum_availability), "0.9999901494");
    assert_eq!(format!("{:.10}", r.naive_availability), "0.9999999999");
    // 9.8506e-6 of a year: about 5.18 minutes without a majority.
    assert!((r.quorum_unavailability - 9.8506e-6).abs() < 1e-15);
    assert!((r.quorum_loss_minutes_per_year - 9.8506e-6 * 525_960.0).abs() < 1e-9);
}

/// A thousand servers: the unavailability underflows `f64`, but the nines
/// (summed in log space) are finite and printed, never "inf".
#[test]
fn nines_stay_finite_where_the_unavailability_underflows() {
    let text = rendered(&["--servers", "1000", "--node-availability", "0.99"]);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1000 "))
        .expect("a row for N=1000");
    let cells: Vec<&str> = row.split_whitespace().collect();
    let nines = math::quorum_nines(1000, node(0.99)).expect("finite nines");
    assert!(nines > 300.0, "beyond f64's range: {nines}");
    assert_eq!(
        cells.last().copied(),
        Some(format!("{nines:.2}").as_str()),
        "{row}"
    );
    assert!(!row.contains("inf"), "{row}");
    // Minutes without a majority, from the same logarithm, not "0".
    assert!(cells[5].contains('e'), "{row}");
    let report = build_report(&args(&["--servers", "1000"])).unwrap();
    assert_eq!(report.rows[0].nines, Some(nines));
}

#[test]
fn default_run_text_snapshot() {
    let text = rendered(&[]);
    insta::assert_snapshot!("default_text", text);
}

#[test]
fn default_run_json_snapshot() {
    let json = rendered(&["--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let rows = value["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9);
    let five = &rows[4];
    assert_eq!(five["servers"], 5);
    assert_eq!(
        format!("{:.10}", five["quorum_availability"].as_f64().unwrap()),
        "0.9999901494"
    );
    assert_eq!(
        format!("{:.10}", five["naive_availability"].as_f64().unwrap()),
        "0.9999999999"
    );
    assert_eq!(
        value["command"],
        "raftcheck availability --node-availability 0.99 --format json"
    );
    insta::assert_snapshot!("default_json", json);
}

#[test]
fn measured_failover_adds_yearly_write_unavailability() {
    let argv = [
        "--servers",
        "3,5",
        "--node-availability",
        "0.99",
        "--leader-failures-per-year",
        "12",
        "--failover-ms",
        "2000",
    ];
    let report = build_report(&args(&argv)).unwrap();
    for r in &report.rows {
        let n = r.servers;
        // A leader failure is a failover when the others still hold a
        // majority: P(K ≥ q+1 | K ≥ q).
        let q = math::quorum_size(n);
        let fraction =
            math::at_least_up(n, q + 1, node(0.99)) / math::at_least_up(n, q, node(0.99));
        let failovers = 12.0 * fraction;
        assert!((r.failovers_per_year.unwrap() - failovers).abs() < 1e-12);
        let minutes = failovers * 2000.0 / 60_000.0;
        assert!((r.failover_minutes_per_year.unwrap() - minutes).abs() < 1e-12);
        assert!(
            (r.total_minutes_per_year - (r.quorum_loss_minutes_per_year + minutes)).abs() < 1e-9
        );
    }
    let text = render(&args(&argv)).unwrap();
    assert!(
        text.contains("failover time: 2000 ms (measured, --failover-ms)"),
        "{text}"
    );
    assert!(!text.contains("ESTIMATE"));
    // N=5: 12 · 0.99902… failovers × 2 s ≈ 0.400 min, plus 5.181 min of quorum loss.
    let row5 = text.lines().find(|l| l.starts_with("5 ")).unwrap();
    let cells: Vec<&str> = row5.split_whitespace().collect();
    assert_eq!(cells[3], "0.9999901494");
    assert_eq!(cells[cells.len() - 2..], ["0.400", "5.581"]);
    insta::assert_snapshot!("measured_failover_text", text);
}

#[test]
fn estimated_failover_is_labelled_and_uses_the_options() {
    let text = rendered(&["--servers", "3", "--mtbf", "2376", "--mttr", "24"]);
    assert!(text.contains(
        "failover time: 302 ms ESTIMATE = election timeout 300 ms + election round trip 1 ms + catch-up 1 ms"
    ));
    assert!(text.contains("raftkv bench --failover"));
    assert!(text.contains("= 0.9900000000"), "A from mtbf/mttr: {text}");

    let argv = [
        "--servers",
        "5",
        "--mtbf",
        "2376",
        "--mttr",
        "24",
        "--election-timeout-ms",
        "1000",
        "--rtt-ms",
        "80",
    ];
    let report = build_report(&args(&argv)).unwrap();
    let f = report.failover.as_ref().unwrap();
    // Catch-up defaults to one round trip.
    assert_eq!(f.time.ms(), 1000.0 + 80.0 + 80.0);
    let r = &report.rows[0];
    let rate = failovers_per_year_from_mtbf(
        5,
        NodeAvailability::from_mtbf_mttr(2376.0, 24.0).unwrap(),
        2376.0,
    );
    assert!((r.failovers_per_year.unwrap() - rate).abs() < 1e-12);
    // About 8766/2376 ≈ 3.69 leader failures a year, nearly all failovers.
    assert!((3.6..3.7).contains(&rate), "{rate}");
    assert!(report
        .command
        .ends_with("--election-timeout-ms 1000 --rtt-ms 80"));
}

#[test]
fn without_a_failure_rate_there_are_no_failover_columns() {
    let text = rendered(&["--servers", "3"]);
    assert!(!text.contains("failover"));
    let report = build_report(&args(&["--servers", "3"])).unwrap();
    assert!(report.failover.is_none());
    assert_eq!(report.rows[0].failovers_per_year, None);
}

#[test]
fn even_sizes_add_nothing() {
    let report = build_report(&args(&["--node-availability", "0.99"])).unwrap();
    let q: Vec<f64> = report.rows.iter().map(|r| r.quorum_availability).collect();
    for m in 1..=4 {
        let (odd, even) = (q[2 * m - 2], q[2 * m - 1]);
        assert!(
            even < odd,
            "N={} ({even}) must be below N={} ({odd})",
            2 * m,
            2 * m - 1
        );
        assert_eq!(
            report.rows[2 * m - 1].failures_tolerated,
            report.rows[2 * m - 2].failures_tolerated
        );
    }
    // N=2 is worse than a single server: both must be up.
    assert!(q[1] < q[0]);
}

#[test]
fn reproducing_command_reproduces() {
    for argv in [
        vec![],
        vec![
            "--servers",
            "3,5",
            "--mtbf",
            "1000.5",
            "--mttr",
            "4",
            "--format",
            "json",
        ],
        vec![
            "--node-availability",
            "0.999",
            "--leader-failures-per-year",
            "6",
            "--failover-ms",
            "1200",
        ],
        vec!["--mtbf", "500", "--mttr", "2", "--catch-up-ms", "7"],
    ] {
        let report = build_report(&args(&argv)).unwrap();
        let again: Vec<&str> = report
            .command
            .strip_prefix("raftcheck availability ")
            .unwrap()
            .split_whitespace()
            .collect();
        let reproduced = build_report(&args(&again)).unwrap();
        assert_eq!(
            json(&reproduced.rows),
            json(&report.rows),
            "{argv:?} → {}",
            report.command
        );
        assert_eq!(json(&reproduced.failover), json(&report.failover));
        assert_eq!(reproduced.node.availability, report.node.availability);
        assert_eq!(reproduced.command, report.command);
    }
}

// ---------------------------------------------------------------------------
// Validation: clear errors, never a panic.

#[test]
fn invalid_inputs_are_rejected_with_clear_errors() {
    let cases: [(&[&str], &str); 9] = [
        (&["--servers", "0"], "at least 1"),
        (&["--servers", "3,1001"], "maximum of 1000"),
        (&["--node-availability", "0"], "(0, 1]"),
        (&["--node-availability", "1.01"], "(0, 1]"),
        (&["--node-availability", "-0.5"], "(0, 1]"),
        (&["--mtbf", "0", "--mttr", "1"], "--mtbf must be a positive"),
        (
            &["--mtbf", "10", "--mttr", "-1"],
            "--mttr must be a non-negative",
        ),
        (&["--failover-ms", "100"], "needs a leader-failure rate"),
        (
            &["--leader-failures-per-year", "-2"],
            "--leader-failures-per-year must be",
        ),
    ];
    for (argv, expected) in cases {
        let err = render(&args(argv)).expect_err(&format!("{argv:?} must be rejected"));
        assert!(err.to_string().contains(expected), "{argv:?}: {err}");
    }
    assert!(matches!(
        render(&args(&["--node-availability", "NaN"])),
        Err(AvailabilityError::NodeAvailability(a)) if a.is_nan()
    ));
    assert!(render(&args(&["--mtbf", "inf", "--mttr", "1"])).is_err());
}

#[test]
fn clap_rejects_malformed_command_lines() {
    for argv in [
        &["--mtbf", "10"][..],
        &["--node-availability", "0.9", "--mtbf", "9", "--mttr", "1"],
        &[
            "--failover-ms",
            "5",
            "--rtt-ms",
            "1",
            "--leader-failures-per-year",
            "1",
        ],
        &["--servers", "three"],
        &["--format", "yaml"],
    ] {
        assert!(parse_args(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn help_explains_quorum_availability() {
    let err = parse_args(["--help"]).unwrap_err();
    let help = err.to_string();
    assert!(help.contains("QUORUM AVAILABILITY"), "{help}");
    assert!(help.contains("MAJORITY"));
    assert!(help.contains("--failover-ms"));
}

// ---------------------------------------------------------------------------
// Properties of the closed forms.

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sums_are_complementary_and_ordered(n in 1u32..=41, a in 1e-6f64..=1.0) {
        let node = node(a);
        let q = quorum_availability(n, node);
        let u = quorum_unavailability(n, node);
        prop_assert!((0.0..=1.0).contains(&q) && (0.0..=1.0).contains(&u));
        prop_assert!((q + u - 1.0).abs() < 1e-12, "q={q} u={u}");
        // Needing a majority is never easier than needing one server.
        prop_assert!(q <= naive_availability(n, node) + 1e-12);
        if n % 2 == 0 {
            // An even count never beats the odd count just below it.
            prop_assert!(q <= quorum_availability(n - 1, node) + 1e-12);
        } else if a >= 0.5 {
            // With decent servers, two more odd servers always help.
            prop_assert!(quorum_availability(n + 2, node) >= q - 1e-12);
        }
    }

    #[test]
    fn build_report_never_panics(
        servers in proptest::collection::vec(0u32..1200, 0..4),
        a in proptest::option::of(prop_oneof![any::<f64>(), -1.0f64..2.0]),
        mtbf in prop_oneof![any::<f64>(), -10.0f64..1e6],
        mttr in prop_oneof![any::<f64>(), -10.0f64..1e3],
        use_mtbf in any::<bool>(),
        rate in proptest::option::of(any::<f64>()),
        failover_ms in proptest::option::of(prop_oneof![any::<f64>(), 0.0f64..1e5]),
    ) {
        let mut args = parse_args::<[&str; 0], &str>([]).unwrap();
        args.servers = servers;
        if use_mtbf {
            args.mtbf = Some(mtbf);
            args.mttr = Some(mttr);
        } else {
            args.node_availability = a;
        }
        args.leader_failures_per_year = rate;
        args.failover_ms = failover_ms;
        if let Ok(report) = build_report(&args) {
            for r in &report.rows {
                prop_assert!((0.0..=1.0).contains(&r.quorum_availability));
                prop_assert!((0.0..=1.0).contains(&r.quorum_unavailability));
                prop_assert!(r.quorum_loss_minutes_per_year.is_finite());
            }
            let _ = render(&args);
        }
    }
}

// ---------------------------------------------------------------------------
// Monte Carlo: independent servers alternating exponential up and down times.

/// The simulator's seeded generator, with the two draws this needs.
struct Rng(raft_sim::SplitMix64);

impl Rng {
    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }
}

/// Per batch of simulated time: the fraction with a majority up, and the
/// failovers (leader failures the others survive as a majority) per hour.
struct Simulation {
    quorum_fraction: Vec<f64>,
    failovers_per_hour: Vec<f64>,
    server_up_fraction: f64,
}

fn simulate(n: usize, mtbf: f64, mttr: f64, hours: f64, batches: usize, seed: u64) -> Simulation {
    let mut rng = Rng(raft_sim::SplitMix64::new(seed));
    let a = mtbf / (mtbf + mttr);
    let q = n / 2 + 1;
    // Start in the stationary distribution: up with probability a, and
    // (memorylessness) an exponential residual time in that state.
    let mut up: Vec<bool> = (0..n).map(|_| rng.uniform() <= a).collect();
    let mut next: Vec<f64> = up
        .iter()
        .map(|&u| rng.exponential(if u { mtbf } else { mttr }))
        .collect();
    let mut up_count = up.iter().filter(|&&u| u).count();
    let first_up = |up: &[bool]| up.iter().position(|&u| u);
    let mut leader = if up_count >= q { first_up(&up) } else { None };

    let batch_len = hours / batches as f64;
    let mut quorum_time = vec![0.0; batches];
    let mut failovers = vec![0.0; batches];
    let mut server_up_time = 0.0;
    let mut now = 0.0;
    let mut batch = 0;
    loop {
        let (i, &t) = next
            .iter()
            .enumerate()
            .min_by(|x, y| x.1.total_cmp(y.1))
            .unwrap();
        let t = t.min(hours);
        // Credit [now, t) to the batches it spans.
        while now < t {
            let end = t.min(batch_len * (batch + 1) as f64);
            if up_count >= q {
                quorum_time[batch] += end - now;
            }
            server_up_time += (end - now) * up_count as f64;
            now = end;
            if now >= batch_len * (batch + 1) as f64 && batch + 1 < batches {
                batch += 1;
            }
        }
        if t >= hours {
            break;
        }
        up[i] = !up[i];
        next[i] = t + rng.exponential(if up[i] { mtbf } else { mttr });
        if up[i] {
            up_count += 1;
        } else {
            up_count -= 1;
            if leader == Some(i) {
                leader = None;
                if up_count >= q {
                    failovers[batch] += 1.0;
                    leader = first_up(&up);
                }
            }
        }
        if leader.is_none() && up_count >= q {
            leader = first_up(&up); // elected once a majority is back
        }
    }
    Simulation {
        quorum_fraction: quorum_time.iter().map(|t| t / batch_len).collect(),
        failovers_per_hour: failovers.iter().map(|f| f / batch_len).collect(),
        server_up_fraction: server_up_time / (hours * n as f64),
    }
}

/// Mean and the half-width of its ~99.9% confidence interval from batch
/// means (Student t with ≥ 49 degrees of freedom: 3.5 is conservative).
fn mean_ci(samples: &[f64]) -> (f64, f64) {
    let b = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / b;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (b - 1.0);
    (mean, 3.5 * (var / b).sqrt())
}

#[test]
fn monte_carlo_agrees_with_the_closed_form_and_rejects_the_naive_one() {
    // (N, mtbf, mttr) in hours; A = mtbf/(mtbf+mttr).
    let cases = [(3, 9.0, 1.0), (4, 9.0, 1.0), (5, 9.0, 1.0), (5, 99.0, 1.0)];
    let mut means = Vec::new();
    for (k, &(n, mtbf, mttr)) in cases.iter().enumerate() {
        let hours = if mtbf > 50.0 { 1e8 } else { 2e6 };
        let sim = simulate(n, mtbf, mttr, hours, 50, 0x5EED_0000 + k as u64);
        let node = NodeAvailability::from_mtbf_mttr(mtbf, mttr).unwrap();
        let a = node.up();
        assert!(
            (sim.server_up_fraction - a).abs() < 2e-3,
            "servers up {} vs A {a}",
            sim.server_up_fraction
        );

        let (mean, half) = mean_ci(&sim.quorum_fraction);
        let closed = quorum_availability(n as u32, node);
        let naive = naive_availability(n as u32, node);
        eprintln!(
            "N={n} A={a:.4}: simulated {mean:.6} ± {half:.2e}, closed form {closed:.6}, naive {naive:.10}"
        );
        assert!(
            (mean - closed).abs() <= half,
            "N={n}: closed form {closed} outside {mean} ± {half}"
        );
        assert!(
            (mean - naive).abs() > half,
            "N={n}: naive {naive} inside {mean} ± {half}"
        );
        // Meaningful precision: the interval is much narrower than the
        // closed form's distance from the naive figure.
        assert!(
            half < (closed - naive).abs() / 5.0,
            "N={n}: interval {half} too wide"
        );
        means.push((mean, half));

        let (rate, rate_half) = mean_ci(&sim.failovers_per_hour);
        let predicted = failovers_per_year_from_mtbf(n as u32, node, mtbf) / HOURS_PER_YEAR;
        eprintln!(
            "  failovers/hour: simulated {rate:.5} ± {rate_half:.1e}, predicted {predicted:.5}"
        );
        assert!(
            (rate - predicted).abs() <= rate_half,
            "N={n}: failover rate {predicted} outside {rate} ± {rate_half}"
        );
    }
    // N=3, A=0.9: the naive figure (0.999) is far outside; 0.972 is right.
    assert!((quorum_availability(3, node(0.9)) - 0.972).abs() < 1e-12);
    // A fourth server makes writes LESS available than three.
    let ((m3, h3), (m4, h4)) = (means[0], means[1]);
    assert!(
        m4 + h4 < m3 - h3,
        "N=4 {m4}±{h4} should be below N=3 {m3}±{h3}"
    );
}
