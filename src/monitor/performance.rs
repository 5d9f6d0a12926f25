//! Live performance: the logged predictions joined with ground truth by the logger's request
//! id, and the metrics a monitoring's `performance.rules` read.
//!
//! Ground truth arrives as CSV files with a header: `id` (the request id the logger recorded),
//! optionally `row` (1-based, for requests of several instances; default 1) and `label`. The
//! metrics, each only where it means something (a rule naming one that is absent fails, as a
//! gate's does): `count` (joined rows), `accuracy` (the predicted class, or the larger of two
//! class scores, equal to the label), `auc` (binary labels 0/1 against a probability or the
//! second of two class scores; ties counted half), `mae` and `rmse` (numeric predictions).

use std::collections::BTreeMap;

use serde_json::Value;

/// The joined metrics, by name, as JSON numbers (what `judge --performance` reads).
#[derive(Debug, Default, PartialEq)]
pub struct Performance {
    /// Metric name → value.
    pub metrics: BTreeMap<&'static str, f64>,
    /// Labelled rows with no logged prediction (or with an empty one).
    pub unmatched: usize,
    /// Each label row that could not be read: where, and why.
    pub problems: Vec<String>,
}

impl Performance {
    /// The metrics as a JSON object, one per line.
    #[must_use]
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self
            .metrics
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::from(*value)))
            .collect();
        let mut text = serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// A prediction as the logger recorded it: a class or number, or a list of class scores.
fn read_prediction(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// The predicted class: the value itself, or the index of the largest score of a list.
fn class_of(prediction: &Value) -> Option<String> {
    match prediction {
        Value::Array(scores) => {
            let scores: Option<Vec<f64>> = scores.iter().map(Value::as_f64).collect();
            let scores = scores?;
            let best = scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))?
                .0;
            Some(best.to_string())
        }
        Value::Number(number) => Some(number_text(number.as_f64()?)),
        Value::String(text) => Some(
            text.trim()
                .parse::<f64>()
                .map_or_else(|_| text.trim().to_owned(), number_text),
        ),
        Value::Bool(flag) => Some(u8::from(*flag).to_string()),
        _ => None,
    }
}

/// `1.0` and `1` name the same class.
fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// The score of the positive class: a probability, or the second of two class scores.
fn positive_score(prediction: &Value) -> Option<f64> {
    match prediction {
        Value::Array(scores) if scores.len() == 2 => scores[1].as_f64(),
        Value::Number(number) => number.as_f64().filter(|score| (0.0..=1.0).contains(score)),
        _ => None,
    }
}

/// Area under the ROC curve of `scored` (score, positive?), by ranks (ties count half);
/// `None` without both classes.
#[must_use]
pub fn auc(scored: &[(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|(_, positive)| *positive).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start;
        while end + 1 < sorted.len() && sorted[end + 1].0.total_cmp(&sorted[start].0).is_eq() {
            end += 1;
        }
        // Ranks start..=end (1-based: start+1..=end+1) share their mean.
        #[allow(clippy::cast_precision_loss)]
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = sorted[start..=end]
            .iter()
            .filter(|(_, positive)| *positive)
            .count();
        #[allow(clippy::cast_precision_loss)]
        {
            rank_sum += mean_rank * tied_positives as f64;
        }
        start = end + 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let (positives, negatives) = (positives as f64, negatives as f64);
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Join `predictions_csv` (`collect`'s `request_id,row,prediction`) with the label files
/// (name and bytes) and compute the metrics.
#[must_use]
pub fn join(predictions_csv: &str, labels: &[(String, Vec<u8>)]) -> Performance {
    let mut performance = Performance::default();
    let mut predicted: BTreeMap<(String, u64), Value> = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(predictions_csv.as_bytes());
    for record in reader.records().flatten() {
        let (Some(id), Some(row), Some(prediction)) = (record.get(0), record.get(1), record.get(2))
        else {
            continue;
        };
        if let (Ok(row), Some(prediction)) = (row.parse::<u64>(), read_prediction(prediction)) {
            predicted.insert((id.to_owned(), row), prediction);
        }
    }
    let mut pairs: Vec<(Value, String)> = Vec::new();
    for (file, bytes) in labels {
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header = match reader.headers() {
            Ok(header) => header.clone(),
            Err(error) => {
                performance
                    .problems
                    .push(format!("{file}: not CSV: {error}"));
                continue;
            }
        };
        let column = |name: &str| header.iter().position(|field| field == name);
        let (Some(id_at), Some(label_at)) = (column("id"), column("label")) else {
            performance.problems.push(format!(
                "{file}: the header has no `id` and `label` columns"
            ));
            continue;
        };
        let row_at = column("row");
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    performance.problems.push(format!("{file}:{line}: {error}"));
                    continue;
                }
            };
            let id = record.get(id_at).unwrap_or_default().to_owned();
            let label = record.get(label_at).unwrap_or_default().trim().to_owned();
            let row = match row_at.map(|at| record.get(at).unwrap_or_default().parse::<u64>()) {
                None => 1,
                Some(Ok(row)) if row >= 1 => row,
                Some(_) => {
                    performance
                        .problems
                        .push(format!("{file}:{line}: `row` is not a number from 1"));
                    continue;
                }
            };
            match predicted.get(&(id, row)) {
                Some(prediction) if !label.is_empty() => pairs.push((prediction.clone(), label)),
                _ => performance.unmatched += 1,
            }
        }
    }
    if pairs.is_empty() {
        return performance;
    }
    #[allow(clippy::cast_precision_loss)]
    let count = pairs.len() as f64;
    performance.metrics.insert("count", count);
    let classes: Vec<Option<String>> = pairs
        .iter()
        .map(|(prediction, _)| class_of(prediction))
        .collect();
    if classes.iter().all(Option::is_some) {
        let right = pairs
            .iter()
            .zip(&classes)
            .filter(|((_, label), class)| {
                let label = label
                    .parse::<f64>()
                    .map_or_else(|_| label.clone(), number_text);
                class.as_deref() == Some(label.as_str())
            })
            .count();
        #[allow(clippy::cast_precision_loss)]
        performance.metrics.insert("accuracy", right as f64 / count);
    }
    let binary: Option<Vec<(f64, bool)>> = pairs
        .iter()
        .map(|(prediction, label)| {
            let positive = match label.trim() {
                "1" | "1.0" | "true" => true,
                "0" | "0.0" | "false" => false,
                _ => return None,
            };
            Some((positive_score(prediction)?, positive))
        })
        .collect();
    if let Some(area) = binary.as_deref().and_then(auc) {
        performance.metrics.insert("auc", area);
    }
    let numeric: Option<Vec<(f64, f64)>> = pairs
        .iter()
        .map(|(prediction, label)| Some((prediction.as_f64()?, label.parse::<f64>().ok()?)))
        .collect();
    if let Some(numeric) = numeric {
        let errors: Vec<f64> = numeric
            .iter()
            .map(|(predicted, truth)| predicted - truth)
            .collect();
        performance.metrics.insert(
            "mae",
            errors.iter().map(|error| error.abs()).sum::<f64>() / count,
        );
        performance.metrics.insert(
            "rmse",
            (errors.iter().map(|error| error * error).sum::<f64>() / count).sqrt(),
        );
    }
    performance
}

#[cfg(test)]
// Each expected value is the correctly rounded result of the one division that makes it
// (4 / 5, 4.5 / 6): equal to the literal exactly.
#[allow(clippy::float_cmp)]
mod tests {
    use super::{auc, join};

    #[test]
    fn auc_by_ranks_with_ties_counted_half() {
        assert_eq!(auc(&[(0.1, false), (0.9, true)]), Some(1.0));
        assert_eq!(auc(&[(0.9, false), (0.1, true)]), Some(0.0));
        assert_eq!(auc(&[(0.5, false), (0.5, true)]), Some(0.5));
        // scikit-learn's roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75
        assert_eq!(
            auc(&[(0.1, false), (0.4, false), (0.35, true), (0.8, true)]),
            Some(0.75)
        );
        assert_eq!(auc(&[(0.1, true), (0.4, true)]), None, "one class only");
    }

    const PREDICTIONS: &str = "request_id,row,prediction\na1,1,0\na1,2,1\na2,1,1\nb1,1,\"[0.9,0.1]\"\nb1,2,\"[0.2,0.8]\"\nc1,1,\n";

    #[test]
    fn joins_by_request_and_row_and_counts_what_it_cannot() {
        let labels = vec![(
            "labels.csv".to_owned(),
            b"id,row,label\na1,1,0\na1,2,0\na2,1,1\nb1,1,0\nb1,2,1\nc1,1,1\nzz,1,0\nb1,x,1\n"
                .to_vec(),
        )];
        let performance = join(PREDICTIONS, &labels);
        assert_eq!(performance.metrics["count"], 5.0);
        // a1/1 right, a1/2 wrong, a2 right, b1/1 (class 0) right, b1/2 (class 1) right.
        assert_eq!(performance.metrics["accuracy"], 0.8);
        // Scores 0, 1, 1 (classes read as probabilities), 0.1 and 0.8: of the 6 pairs of a
        // positive and a negative, 4 are ordered right and one ties: (4 + 0.5) / 6.
        assert_eq!(performance.metrics["auc"], 0.75);
        assert_eq!(
            performance.unmatched, 2,
            "c1 has no prediction; zz was never logged"
        );
        assert_eq!(
            performance.problems,
            ["labels.csv:9: `row` is not a number from 1"]
        );
    }

    #[test]
    fn scores_give_an_auc_and_numbers_an_error() {
        let predictions = "request_id,row,prediction\na,1,0.9\nb,1,0.2\nc,1,0.6\nd,1,0.4\n";
        let labels = vec![(
            "l.csv".to_owned(),
            b"id,label\na,1\nb,0\nc,0\nd,1\n".to_vec(),
        )];
        let performance = join(predictions, &labels);
        // Positives 0.9 and 0.4, negatives 0.2 and 0.6: 3 of 4 pairs ordered right.
        assert_eq!(performance.metrics["auc"], 0.75);
        // |0.9 - 1| + |0.2 - 0| + |0.6 - 0| + |0.4 - 1| = 1.5, over 4.
        assert!((performance.metrics["mae"] - 0.375).abs() < 1e-12);
        let labels = vec![("l.csv".to_owned(), b"name,label\na,1\n".to_vec())];
        let performance = join(predictions, &labels);
        assert!(performance.metrics.is_empty());
        assert_eq!(
            performance.problems,
            ["l.csv: the header has no `id` and `label` columns"]
        );
    }
}
