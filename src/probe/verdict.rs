//! The verdict: what the ports say about how this kernel picks them, read through the pointer model
//! ([`crate::pointer`]), and the kernel behaviour that matches.

use super::ProbeError;
use super::args::Plan;
use super::experiment::Observed;
use crate::pointer::{
    DestinationKey, MIN_EVIDENCE, Parity, PointerEstimate, PointerTracker, RANDOM_REACH_STEPS,
    Score, Step,
};
use crate::settings::PortRange;
use serde::Serialize;

/// Step, parity, randomness, and which kernel behaviour they match.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Verdict {
    pub step: Step,
    pub parity: Parity,
    pub randomized: bool,
    pub matches: String,
}

/// The verdict with the model's reading behind it.
#[derive(Clone, Debug)]
pub(super) struct Reading {
    pub verdict: Verdict,
    pub estimate: PointerEstimate,
    /// How often the model's window predicted the next port.
    pub score: Score,
}

/// How the ports were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Connect,
    /// bind(0) picked the port, connect() kept it.
    Bind,
    /// connect() on sockets with `IP_LOCAL_PORT_RANGE`.
    SocketRange,
}

impl Mode {
    fn of(plan: &Plan) -> Mode {
        if plan.bind {
            Mode::Bind
        } else if plan.socket_range().is_some() {
            Mode::SocketRange
        } else {
            Mode::Connect
        }
    }
}

/// Feeds every port, in order, to the pointer model and reads the verdict from its estimate.
pub(super) fn judge(plan: &Plan, observed: &Observed) -> Result<Reading, ProbeError> {
    let key = DestinationKey {
        local_ip: observed.local_ip,
        remote: observed.destination,
    };
    let mut tracker = PointerTracker::new(observed.range);
    for &port in observed.batches.iter().flatten() {
        tracker.observe(key, port);
    }
    let Some((estimate, step)) = tracker
        .estimate(&key)
        .and_then(|e| Some((e.clone(), e.step?)))
    else {
        return Err(ProbeError::NothingToJudge(observed.range));
    };
    let verdict = Verdict {
        step,
        parity: estimate.parity,
        randomized: estimate.randomized,
        matches: matches(&estimate, step, Mode::of(plan), observed.range),
    };
    Ok(Reading {
        verdict,
        estimate,
        score: tracker.score(),
    })
}

const BIND_CROWDED: &str =
    "bind(0) first, but not all ports have the parity bind() prefers: the range may be crowded";
const SOCKET_RANGE_STEP_ONE: &str = "IP_LOCAL_PORT_RANGE honoured as since Linux 6.8: step 1, no parity, \
                                     the start point moving on by a random 1..8";
const SOCKET_RANGE_STEP_TWO: &str = "IP_LOCAL_PORT_RANGE with the parity scan of Linux 6.3 to 6.7 (or \
                                     too few ports to see both parities)";
const STEP_ONE_FIXED: &str =
    "Linux 4.5 or older (the article's 3.10): the start point moves on by 1 per connect()";
const STEP_ONE_VARYING: &str = "step 1 with varying increments: no known connect() pattern (other \
                                threads connecting at the same time?)";

/// Above this chance of seeing fixed increments from a randomised kernel, the verdict does not decide.
const TOLERATED_CHANCE: f64 = 0.05;

/// The chance that a randomised kernel, advancing 1..=8 steps at random, shows `n` increments of one
/// step in a range of `slots` ports of the parity in use (an advance of `slots + 1` steps wraps to
/// one step).
fn fixed_by_chance(slots: u32, n: u32) -> f64 {
    let looks_fixed = (1..=RANDOM_REACH_STEPS)
        .filter(|k| k % slots == 1 % slots)
        .count();
    (looks_fixed as f64 / f64::from(RANDOM_REACH_STEPS)).powi(n as i32)
}

/// The kernel behaviour the estimate matches (see [`crate::pointer`] for the eras).
fn matches(estimate: &PointerEstimate, step: Step, mode: Mode, range: PortRange) -> String {
    let low = range.low;
    let parity = estimate.parity.as_str();
    let first_parity = estimate.parity == Parity::of(low);
    let increments = estimate.increments.samples as usize + estimate.jumps as usize;
    if mode != Mode::Bind && increments < MIN_EVIDENCE {
        return format!(
            "{increments} increment(s) are too few to tell the kernels apart: try --count {} or more",
            MIN_EVIDENCE + 2
        );
    }
    let slots = range.size() / step.ports();
    let chance = fixed_by_chance(slots, estimate.increments.samples);
    if mode == Mode::Connect && !estimate.randomized && chance > TOLERATED_CHANCE {
        return format!(
            "step {} on the {parity} ports; in a range of {slots} such ports a randomised kernel \
             (Linux 5.18+) would show these fixed increments {:.0}% of the time: too few to tell",
            step.ports(),
            100.0 * chance
        );
    }
    match (mode, step, estimate.randomized) {
        (Mode::Bind, Step::Two, _) if !first_parity => format!(
            "bind(0) first: the kernel picks a random {parity} port, the parity connect() leaves free \
             in a range starting at {low}, and connect() keeps it"
        ),
        (Mode::Bind, ..) => BIND_CROWDED.to_string(),
        (Mode::SocketRange, Step::One, _) => SOCKET_RANGE_STEP_ONE.to_string(),
        (Mode::SocketRange, Step::Two, _) => SOCKET_RANGE_STEP_TWO.to_string(),
        (Mode::Connect, Step::Two, _) if !first_parity => format!(
            "connect() got {parity} ports, the second parity for a range starting at {low}: the first \
             is exhausted toward this destination"
        ),
        (Mode::Connect, Step::Two, true) => format!(
            "Linux 5.18+ (and the 2022 stable backports): a start point per destination that moves on \
             by a random even 2..16 after each connect(), on the {parity} ports (the parity of {low})"
        ),
        (Mode::Connect, Step::Two, false) => format!(
            "Linux 4.6 to 5.17: the start point moves on by exactly 2 per connect(), on the {parity} \
             ports (the parity of {low})"
        ),
        (Mode::Connect, Step::One, false) => STEP_ONE_FIXED.to_string(),
        (Mode::Connect, Step::One, true) => STEP_ONE_VARYING.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::{Format, Scope};
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn plan(bind: bool, scope: Scope) -> Plan {
        Plan {
            destination: None,
            count: 5,
            batches: 1,
            pause: Duration::ZERO,
            bind,
            scope,
            format: Format::Text,
            family: crate::socket::Family::Inet,
            netns: None,
        }
    }

    fn observed(low: u16, high: u16, ports: &[u16]) -> Observed {
        Observed {
            destination: SocketAddr::from(([127, 0, 0, 1], 40000)),
            own_listener: true,
            local_ip: [127, 0, 0, 1].into(),
            range: PortRange { low, high },
            batches: vec![ports.to_vec()],
            notes: Vec::new(),
        }
    }

    #[test]
    fn randomised_even_steps_match_the_2022_kernels() {
        let o = observed(32768, 60999, &[40000, 40008, 40010, 40024, 40030, 40046]);
        let r = judge(&plan(false, Scope::System), &o).unwrap();
        assert_eq!(
            (r.verdict.step, r.verdict.parity, r.verdict.randomized),
            (Step::Two, Parity::Even, true)
        );
        assert!(
            r.verdict.matches.starts_with("Linux 5.18+"),
            "{}",
            r.verdict.matches
        );
        assert_eq!(
            r.score,
            Score {
                hits: 5,
                predicted: 5,
                unpredicted: 1
            }
        );
    }

    #[test]
    fn the_articles_odd_range_matches_the_fixed_step_two_kernels() {
        let o = observed(1025, 1034, &[1033, 1025, 1027, 1029, 1031, 1033, 1025]);
        let r = judge(&plan(false, Scope::Namespace(o.range)), &o).unwrap();
        assert_eq!(
            (r.verdict.step, r.verdict.parity, r.verdict.randomized),
            (Step::Two, Parity::Odd, false)
        );
        assert!(
            r.verdict.matches.starts_with("Linux 4.6 to 5.17"),
            "{}",
            r.verdict.matches
        );
    }

    #[test]
    fn the_articles_step_one_matches_the_old_kernels() {
        let o = observed(10000, 65535, &[17448, 17449, 17450, 17451, 17452]);
        let r = judge(&plan(false, Scope::System), &o).unwrap();
        assert_eq!(
            (r.verdict.step, r.verdict.parity),
            (Step::One, Parity::Mixed)
        );
        assert!(
            r.verdict.matches.starts_with("Linux 4.5 or older"),
            "{}",
            r.verdict.matches
        );
    }

    #[test]
    fn bind_ports_of_the_other_parity_match_bind() {
        let o = observed(32768, 60999, &[38373, 35169, 60421, 48545, 59169]);
        let r = judge(&plan(true, Scope::System), &o).unwrap();
        assert_eq!(r.verdict.parity, Parity::Odd);
        assert!(
            r.verdict
                .matches
                .starts_with("bind(0) first: the kernel picks a random odd port")
        );
    }

    #[test]
    fn socket_ranges_with_step_one_match_6_8() {
        let o = observed(40000, 40099, &[40003, 40004, 40010, 40013, 40021]);
        let r = judge(&plan(false, Scope::Socket(o.range)), &o).unwrap();
        assert_eq!(
            (r.verdict.step, r.verdict.parity),
            (Step::One, Parity::Mixed)
        );
        assert!(r.verdict.matches.contains("since Linux 6.8"));
    }

    #[test]
    fn a_range_too_small_to_show_randomness_says_so() {
        let o = observed(1025, 1028, &[1025, 1027, 1025, 1027, 1025]);
        let r = judge(&plan(false, Scope::Namespace(o.range)), &o).unwrap();
        assert!(!r.verdict.randomized);
        assert!(
            r.verdict
                .matches
                .contains("6% of the time: too few to tell"),
            "{}",
            r.verdict.matches
        );
    }

    #[test]
    fn fixed_increments_by_chance_depend_on_the_ring() {
        assert_eq!(fixed_by_chance(1, 10), 1.0);
        assert_eq!(fixed_by_chance(2, 2), 0.25);
        assert_eq!(fixed_by_chance(5, 1), 0.25);
        assert_eq!(fixed_by_chance(14116, 1), 0.125);
    }

    #[test]
    fn too_few_increments_say_so() {
        let o = observed(32768, 60999, &[40000, 40006, 40008]);
        let r = judge(&plan(false, Scope::System), &o).unwrap();
        assert!(
            r.verdict.matches.starts_with("2 increment(s) are too few"),
            "{}",
            r.verdict.matches
        );
    }

    #[test]
    fn ports_outside_the_range_leave_nothing_to_judge() {
        let o = observed(1025, 1034, &[40000, 40002]);
        assert!(matches!(
            judge(&plan(false, Scope::System), &o),
            Err(ProbeError::NothingToJudge(_))
        ));
    }
}
