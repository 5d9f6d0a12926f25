//! "Did you mean …?" for misspelt names and fields.

/// The known candidate closest to `typo`, if it is close enough to be a likely misspelling.
///
/// Jaro-Winkler favours shared prefixes, which is how config typos look (`featurs`, `trainng`);
/// a small edit distance also catches transpositions in short names.
#[must_use]
pub fn did_you_mean<'a>(
    typo: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Rank by edit distance first (a swapped pair of letters counts as one edit), then by
    // Jaro-Winkler similarity, then by name so that ties are stable.
    let mut best: Option<(usize, f64, &str)> = None;
    let allowed_edits = match typo.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    for candidate in candidates {
        if candidate == typo {
            continue;
        }
        let edits = strsim::damerau_levenshtein(typo, candidate);
        let similarity = strsim::jaro_winkler(typo, candidate);
        if edits > allowed_edits && similarity < 0.88 {
            continue;
        }
        let better = best.is_none_or(|(best_edits, best_similarity, best_name)| {
            (edits, -similarity, candidate) < (best_edits, -best_similarity, best_name)
        });
        if better {
            best = Some((edits, similarity, candidate));
        }
    }
    best.map(|(_, _, name)| name)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let known = ["features", "events", "churn"];
        assert_eq!(did_you_mean("featurs", known), Some("features"));
        assert_eq!(did_you_mean("chrun", known), Some("churn"));
        assert_eq!(did_you_mean("zebra", known), None);
        assert_eq!(did_you_mean("mni", ["min", "max", "metric"]), Some("min"));
        assert_eq!(
            did_you_mean("kservee", ["kserve", "kubernetes"]),
            Some("kserve")
        );
    }
}
