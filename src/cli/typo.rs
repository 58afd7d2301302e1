//! "Did you mean": the subcommand a mistyped word is closest to.

/// The candidate within typing distance of `word` (one edit for names up to 5 letters, two for
/// longer ones), the closest first; `None` for an exact match or nothing close.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|name| *name != word)
        .map(|name| (distance(word, name), name))
        .filter(|&(d, name)| d <= if name.len() <= 5 { 1 } else { 2 })
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: [&str; 4] = ["snapshot", "probe", "completions", "man"];

    #[test]
    fn swaps_drops_and_extra_letters_are_near() {
        assert_eq!(nearest("snapshto", COMMANDS), Some("snapshot"));
        assert_eq!(nearest("snapshots", COMMANDS), Some("snapshot"));
        assert_eq!(nearest("prboe", COMMANDS), Some("probe"));
        assert_eq!(nearest("completion", COMMANDS), Some("completions"));
        assert_eq!(nearest("mna", COMMANDS), Some("man"));
    }

    #[test]
    fn filter_words_and_exact_names_are_not_typos() {
        for word in [
            "dst",
            "src",
            "dport",
            "sport",
            "state",
            "and",
            "or",
            "not",
            "dev",
            "exclude",
            "autobound",
            "bucket",
            "big",
            "connected",
            "snapshot",
        ] {
            assert_eq!(nearest(word, COMMANDS), None, "{word}");
        }
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
