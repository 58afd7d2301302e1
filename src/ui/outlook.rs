//! How the dashboard words a destination's outlook, from the model's forecast and pointer estimate:
//! its "full in" (time until connect() to it fails at the current rate, "holds" when TIME_WAIT gives
//! ports back fast enough), how urgent that is, the warning once it uses more than half the range,
//! and the detail lines of the focused destination: forecast, TIME_WAIT release schedule and the
//! inferred search pointer.

use crate::model::{Destination, Headroom};
use crate::pointer::PointerEstimate;
use crate::ui::format::{duration, rate, thousands};
use crate::ui::pack::Item;
use crate::ui::theme::Theme;
use ratatui::style::Style;
use std::time::Duration;

/// Headroom under this share of the range is a warning.
const LOW_HEADROOM: f64 = 0.1;
/// Exhaustion sooner than this is an error, sooner than [`WARN_EXHAUSTION_S`] a warning.
const ERROR_EXHAUSTION_S: f64 = 60.0;
const WARN_EXHAUSTION_S: f64 = 600.0;

/// The mark of a destination using more than half the range, and what it means.
pub const HALF_RANGE_MARK: &str = "⚠";
pub const HALF_RANGE: &str = "⚠ over half the range used";
const HALF_RANGE_WHY: &str = "connect() scans the other parity: slower";

/// Where a destination is heading at its current rate of new connections.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outlook {
    /// No headroom left: connect() fails now.
    Full,
    /// No rate yet (the first refresh).
    Unknown,
    /// TIME_WAIT gives ports back as fast as they are taken.
    Holds { rate_per_s: f64 },
    /// Headroom reaches zero after this long at this rate.
    ExhaustedIn { after: Duration, rate_per_s: f64 },
}

impl Outlook {
    pub fn of(d: &Destination, range_size: u32) -> Outlook {
        match (d.min_free().unwrap_or(range_size), &d.forecast) {
            (0, _) => Outlook::Full,
            (_, None) => Outlook::Unknown,
            (_, Some(f)) => match f.exhausted_in_s {
                None => Outlook::Holds {
                    rate_per_s: f.rate_per_s,
                },
                Some(s) => Outlook::ExhaustedIn {
                    after: Duration::from_secs_f64(s),
                    rate_per_s: f.rate_per_s,
                },
            },
        }
    }

    /// The destinations panel's "full in" cell.
    pub fn cell(self) -> String {
        match self {
            Outlook::Full => "full".into(),
            Outlook::Unknown => "—".into(),
            Outlook::Holds { .. } => "holds".into(),
            Outlook::ExhaustedIn { after, .. } => duration(after),
        }
    }

    /// A phrase for the dial's centre, if there is anything to say.
    pub fn phrase(self) -> Option<String> {
        match self {
            Outlook::Full => Some("full: connect() fails now".into()),
            Outlook::Unknown => None,
            Outlook::Holds { rate_per_s } => Some(format!("holds at {}/s", rate(rate_per_s))),
            Outlook::ExhaustedIn { after, .. } => Some(format!("full in {}", duration(after))),
        }
    }

    /// The phrase with the rate it assumes, for the details.
    pub fn phrase_with_rate(self) -> Option<String> {
        match self {
            Outlook::ExhaustedIn { rate_per_s, .. } => {
                (self.phrase()).map(|p| format!("{p} at {}/s", rate(rate_per_s)))
            }
            _ => self.phrase(),
        }
    }

    /// Whether it says connect() fails now or will at this rate.
    pub fn runs_out(self) -> bool {
        matches!(self, Outlook::Full | Outlook::ExhaustedIn { .. })
    }
}

/// Whether connect() toward `d` already scans the second parity.
pub fn half_range_used(d: &Destination) -> bool {
    d.forecast.as_ref().is_some_and(|f| f.half_range_used)
}

/// How urgent `d`'s headroom and outlook are: an error when full or failing within a minute, a
/// warning when low, failing within ten minutes, or past half the range.
pub fn urgency(d: &Destination, range_size: u32, theme: Theme) -> Style {
    let free = d.min_free().unwrap_or(range_size);
    let soon = |limit: f64| match Outlook::of(d, range_size) {
        Outlook::ExhaustedIn { after, .. } => after.as_secs_f64() < limit,
        _ => false,
    };
    if free == 0 || soon(ERROR_EXHAUSTION_S) {
        theme.error()
    } else if f64::from(free) < f64::from(range_size) * LOW_HEADROOM
        || soon(WARN_EXHAUSTION_S)
        || half_range_used(d)
    {
        theme.warning()
    } else {
        Style::new()
    }
}

/// The half-range warning, as two items.
pub fn half_range_items(theme: Theme) -> Vec<Item> {
    vec![
        Item::styled(HALF_RANGE.into(), theme.warning()),
        Item::styled(HALF_RANGE_WHY.into(), theme.warning()),
    ]
}

/// The focused destination's details, a group of items per topic, the most pressing first.
pub fn details(d: &Destination, range_size: u32, theme: Theme) -> Vec<Vec<Item>> {
    let mut groups = Vec::new();
    if half_range_used(d) {
        groups.push(half_range_items(theme));
    }
    let outlook = Outlook::of(d, range_size).phrase_with_rate();
    groups.push(match (outlook, &d.forecast) {
        (Some(phrase), Some(f)) => vec![
            Item::styled(phrase, urgency(d, range_size, theme)),
            Item::plain(format!("sustainable {}/s", rate(f.sustainable_per_s))),
        ],
        (Some(phrase), None) => vec![Item::styled(phrase, urgency(d, range_size, theme))],
        (None, _) => vec![Item::styled(
            "rate and forecast after the next refresh".into(),
            theme.dim(),
        )],
    });
    if let Some(h) = d.headroom.iter().min_by_key(|h| h.free) {
        groups.push(time_wait_items(h, d.headroom.len() > 1));
    }
    groups.push(match &d.pointer {
        Some(p) => pointer_items(p, theme),
        None => vec![Item::styled(
            "pointer: no allocation seen yet".into(),
            theme.dim(),
        )],
    });
    groups
}

/// The TIME_WAIT release schedule of one (local ip, destination) pair.
fn time_wait_items(h: &Headroom, name_ip: bool) -> Vec<Item> {
    let n = |v: u32| thousands(u64::from(v));
    let mut items = vec![
        Item::plain(format!(
            "TIME_WAIT frees {} in 10 s",
            n(h.time_wait_freeing_10s)
        )),
        Item::plain(format!("{} in 30 s", n(h.time_wait_freeing_30s))),
        Item::plain(format!("{} in 60 s", n(h.time_wait_freeing_60s))),
    ];
    if h.reusable_time_wait > 0 {
        items.push(Item::plain(format!(
            "{} reusable now",
            n(h.reusable_time_wait)
        )));
    }
    if name_ip {
        items.push(Item::plain(format!("from {}", h.local_ip)));
    }
    items
}

/// What the pointer model infers, and how often it was right.
fn pointer_items(p: &PointerEstimate, theme: Theme) -> Vec<Item> {
    let w = &p.window;
    let window = if w.first == w.last {
        format!("next {} (inferred)", w.first)
    } else {
        format!("next {}–{} (inferred)", w.first, w.last)
    };
    let mut items = vec![Item::plain(window)];
    match p.step {
        Some(step) => items.extend([
            Item::plain(format!("step {}", step.ports())),
            Item::plain(format!("{} ports", p.parity.as_str())),
        ]),
        None => items.push(Item::plain("one port seen".into())),
    }
    let inc = &p.increments;
    if inc.samples > 0 {
        let kind = if p.randomized { "random" } else { "fixed" };
        items.push(Item::plain(if inc.min == inc.max {
            format!("{kind} +{}", inc.min)
        } else {
            format!("{kind} +{}..{}", inc.min, inc.max)
        }));
    }
    match p.jumps {
        0 => {}
        1 => items.push(Item::plain("1 jump".into())),
        n => items.push(Item::plain(format!("{n} jumps"))),
    }
    let s = &p.score;
    items.push(if s.predicted > 0 {
        Item::plain(format!(
            "{} of {} right",
            thousands(s.hits),
            thousands(s.predicted)
        ))
    } else {
        Item::styled("not scored yet".into(), theme.dim())
    });
    items
}
