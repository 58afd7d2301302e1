//! The probe's report: every local port, batch by batch, with the delta from the previous one, then
//! the verdict and how well the pointer model's window predicted the ports. Text for people; JSON
//! (`{"ports", "deltas", "batches", "verdict", ...}`) for scripts.

use super::args::{Format, Plan};
use super::experiment::Observed;
use super::verdict::{Reading, Verdict};
use crate::pointer::{IncrementStats, PortWindow, Score};
use crate::settings::PortRange;
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Writes the report in the plan's format.
pub(super) fn write(
    out: &mut impl Write,
    plan: &Plan,
    observed: &Observed,
    reading: &Reading,
) -> io::Result<()> {
    match plan.format {
        Format::Text => write_text(out, plan, observed, reading),
        Format::Json => {
            serde_json::to_writer(&mut *out, &Json::new(observed, reading))?;
            writeln!(out)
        }
    }
}

/// `ports` in order, with the signed difference from the previous one.
fn deltas(ports: &[u16]) -> Vec<i32> {
    ports
        .windows(2)
        .map(|w| i32::from(w[1]) - i32::from(w[0]))
        .collect()
}

#[derive(Serialize)]
struct Json<'a> {
    ports: Vec<u16>,
    deltas: Vec<i32>,
    batches: &'a [Vec<u16>],
    verdict: &'a Verdict,
    destination: SocketAddr,
    range: PortRange,
    increments: &'a IncrementStats,
    jumps: u32,
    /// How often the window predicted before each port held it.
    score: Score,
    next_window: PortWindow,
    notes: &'a [String],
}

impl<'a> Json<'a> {
    fn new(observed: &'a Observed, reading: &'a Reading) -> Json<'a> {
        let ports: Vec<u16> = observed.batches.concat();
        Json {
            deltas: deltas(&ports),
            ports,
            batches: &observed.batches,
            verdict: &reading.verdict,
            destination: observed.destination,
            range: observed.range,
            increments: &reading.estimate.increments,
            jumps: reading.estimate.jumps,
            score: reading.score,
            next_window: reading.estimate.window,
            notes: &observed.notes,
        }
    }
}

fn write_text(
    out: &mut impl Write,
    plan: &Plan,
    observed: &Observed,
    reading: &Reading,
) -> io::Result<()> {
    let whose = if observed.own_listener {
        " (a loopback listener of the probe's own)"
    } else {
        ""
    };
    let range = observed.range;
    writeln!(
        out,
        "probe    {} connect() to {}{whose}, from {}",
        plan.count * plan.batches,
        observed.destination,
        observed.local_ip
    )?;
    writeln!(
        out,
        "range    {}-{} ({} ports)",
        range.low,
        range.high,
        range.size()
    )?;
    write_ports(out, plan, &observed.batches)?;
    writeln!(out)?;
    write_verdict(out, plan, observed, reading)?;
    for note in &observed.notes {
        writeln!(out, "note     {note}")?;
    }
    Ok(())
}

fn write_ports(out: &mut impl Write, plan: &Plan, batches: &[Vec<u16>]) -> io::Result<()> {
    let mut deltas = std::iter::once(None).chain(deltas(&batches.concat()).into_iter().map(Some));
    writeln!(out, "\n    port   delta")?;
    for (n, batch) in batches.iter().enumerate() {
        if n > 0 {
            writeln!(
                out,
                "  batch {}, {} ms later",
                n + 1,
                plan.pause.as_millis()
            )?;
        }
        for (port, delta) in batch.iter().zip(&mut deltas) {
            match delta {
                Some(delta) => writeln!(out, "   {port:>5}  {delta:>+6}")?,
                None => writeln!(out, "   {port:>5}")?,
            }
        }
    }
    Ok(())
}

fn write_verdict(
    out: &mut impl Write,
    plan: &Plan,
    observed: &Observed,
    reading: &Reading,
) -> io::Result<()> {
    let (v, e) = (&reading.verdict, &reading.estimate);
    writeln!(
        out,
        "verdict  step {}, {} ports, {}",
        v.step.ports(),
        v.parity.as_str(),
        increments(&e.increments, v.randomized)
    )?;
    writeln!(out, "matches  {}", v.matches)?;
    if plan.bind {
        // bind(0) picks at random: there is no pointer to follow.
        return Ok(());
    }
    if e.jumps > 0 {
        writeln!(
            out,
            "jumps    {} increment(s) too large for a pointer step: a 10-second reshuffle, or other \
             connect()s to the same destination",
            e.jumps
        )?;
    }
    let s = reading.score;
    writeln!(
        out,
        "window   {} of {} ports landed in the window the model predicted before they appeared ({:.0}%)",
        s.hits,
        s.predicted,
        100.0 * s.rate().unwrap_or(0.0)
    )?;
    let w = e.window;
    writeln!(
        out,
        "next     connect() to {} should land in {}..{} ({} ports)",
        observed.destination, w.first, w.last, w.ports
    )
}

/// The increments in words.
fn increments(stats: &IncrementStats, randomized: bool) -> String {
    match (stats.samples, randomized) {
        (0, _) => "no pointer steps (every increment was a jump)".to_string(),
        (_, false) if stats.min == stats.max => format!("fixed increments of +{}", stats.min),
        (_, kind) => format!(
            "{} increments +{}..+{}, mean +{:.1}",
            if kind { "randomised" } else { "mostly fixed" },
            stats.min,
            stats.max,
            stats.mean
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_signed_differences_in_order() {
        assert_eq!(deltas(&[1033, 1025, 1027]), [-8, 2]);
        assert!(deltas(&[40000]).is_empty());
    }
}
