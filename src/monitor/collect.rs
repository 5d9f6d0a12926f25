//! `mlops monitor collect`: KServe's logged requests and responses as a table.
//!
//! The logger writes each message as a Go `LogRequest` in JSON (one object per file, or an
//! array for a batch): `id` (shared by a request and its response), `reqType`
//! (`org.kubeflow.serving.inference.request` or `.response`), `bytes` (the HTTP body, base64),
//! `inferenceService` and `occurrenceTime`. Requests are paired with responses by `id`; a
//! request's rows come from its body in the v1 protocol (`instances`: rows as lists in the
//! features' order, or as objects by name) or the v2 one (`inputs`: one tensor per feature, or
//! one `[rows, features]` tensor); the response's `predictions` or first output give each row's
//! prediction. Nothing is dropped silently: a malformed record is reported with its file and
//! position, a request without a response keeps its rows with an empty prediction, and the
//! summary counts each.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

/// What the logs held, as tables and counts.
#[derive(Debug, Default)]
pub struct Collected {
    /// The features, one row per logged instance: what Evidently compares with the reference
    /// (which has no prediction column, so the prediction is in `predictions`).
    pub features_csv: String,
    /// `request_id,row,prediction` per row: for joining ground truth.
    pub predictions_csv: String,
    /// Rows written.
    pub rows: usize,
    /// Requests read in the window.
    pub requests: usize,
    /// Requests with no response (their rows have an empty prediction).
    pub unanswered: usize,
    /// Responses with no request (nothing to tabulate).
    pub orphan_responses: usize,
    /// Records older than the window.
    pub outside_window: usize,
    /// Records of another inference service.
    pub other_service: usize,
    /// Each malformed record: where, and what is wrong.
    pub problems: Vec<String>,
}

/// One logged message.
struct Record {
    id: String,
    is_request: bool,
    body: Vec<u8>,
    time: Option<i64>,
    /// Where it was read, for messages: `file` or `file: record N`.
    place: String,
}

/// Tabulate the records of `files` (name and bytes, in the order given) for `service`, keeping
/// those at or after `since` (Unix seconds) when given.
#[must_use]
pub fn collect(
    files: &[(String, Vec<u8>)],
    service: &str,
    features: &[String],
    since: Option<i64>,
) -> Collected {
    let mut collected = Collected::default();
    let mut requests: BTreeMap<String, Record> = BTreeMap::new();
    let mut responses: BTreeMap<String, Record> = BTreeMap::new();
    for (file, bytes) in files {
        let document: Value = match serde_json::from_slice(bytes) {
            Ok(document) => document,
            Err(error) => {
                collected.problems.push(format!(
                    "{file}:{}:{}: not JSON: {error}",
                    error.line(),
                    error.column()
                ));
                continue;
            }
        };
        let records: Vec<(String, &Value)> = match &document {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| (format!("{file}: record {}", index + 1), item))
                .collect(),
            other => vec![(file.clone(), other)],
        };
        for (place, value) in records {
            match record(&place, value, service) {
                Ok(None) => collected.other_service += 1,
                Ok(Some(record)) => {
                    if let (Some(since), Some(time)) = (since, record.time)
                        && time < since
                    {
                        collected.outside_window += 1;
                        continue;
                    }
                    let into = if record.is_request {
                        &mut requests
                    } else {
                        &mut responses
                    };
                    if let Some(earlier) = into.get(&record.id) {
                        collected.problems.push(format!(
                            "{place}: id `{}` was logged already ({}); the later one is kept",
                            record.id, earlier.place
                        ));
                    }
                    into.insert(record.id.clone(), record);
                }
                Err(problem) => collected.problems.push(problem),
            }
        }
    }
    let mut features_out = csv::Writer::from_writer(Vec::new());
    let mut predictions_out = csv::Writer::from_writer(Vec::new());
    let _ = features_out.write_record(features);
    let _ = predictions_out.write_record(["request_id", "row", "prediction"]);
    // Oldest first, then by id: the same logs always make the same table.
    let mut order: Vec<&Record> = requests.values().collect();
    order.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    for request in order {
        let rows = match rows_of(&request.body, features) {
            Ok(rows) => rows,
            Err(problem) => {
                collected.problems.push(format!(
                    "{} (id `{}`): request body: {problem}",
                    request.place, request.id
                ));
                continue;
            }
        };
        collected.requests += 1;
        let predictions = match responses.remove(&request.id) {
            None => {
                collected.unanswered += 1;
                vec![String::new(); rows.len()]
            }
            Some(response) => match predictions_of(&response.body, rows.len()) {
                Ok(predictions) => predictions,
                Err(problem) => {
                    collected.problems.push(format!(
                        "{} (id `{}`): response body: {problem}; its rows are kept without a prediction",
                        response.place, response.id
                    ));
                    vec![String::new(); rows.len()]
                }
            },
        };
        for (index, (row, prediction)) in rows.iter().zip(predictions).enumerate() {
            let _ = features_out.write_record(row);
            let _ = predictions_out.write_record([
                request.id.as_str(),
                &(index + 1).to_string(),
                &prediction,
            ]);
            collected.rows += 1;
        }
    }
    collected.orphan_responses = responses.len();
    collected.features_csv =
        String::from_utf8(features_out.into_inner().unwrap_or_default()).unwrap_or_default();
    collected.predictions_csv =
        String::from_utf8(predictions_out.into_inner().unwrap_or_default()).unwrap_or_default();
    collected
}

/// A `LogRequest` of `service`; `Ok(None)` for another service's.
fn record(place: &str, value: &Value, service: &str) -> Result<Option<Record>, String> {
    let Value::Object(map) = value else {
        return Err(format!("{place}: a log record is a JSON object"));
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    if let Some(other) = text("inferenceService")
        && other != service
    {
        return Ok(None);
    }
    let id = text("id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("{place}: no `id`"))?;
    let kind = text("reqType").ok_or_else(|| format!("{place} (id `{id}`): no `reqType`"))?;
    let is_request = match kind.rsplit('.').next() {
        Some("request") => true,
        Some("response") => false,
        _ => {
            return Err(format!(
                "{place} (id `{id}`): `reqType` is `{kind}`, neither a request nor a response"
            ));
        }
    };
    let body =
        match map.get("bytes") {
            Some(Value::String(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|error| format!("{place} (id `{id}`): `bytes` is not base64: {error}"))?,
            _ => return Err(format!("{place} (id `{id}`): no `bytes` (the logged body)")),
        };
    let time = match text("occurrenceTime") {
        None => None,
        Some(time) => Some(super::unix_seconds(time).ok_or_else(|| {
            format!("{place} (id `{id}`): `occurrenceTime` `{time}` is not an RFC 3339 time")
        })?),
    };
    Ok(Some(Record {
        id: id.to_owned(),
        is_request,
        body,
        time,
        place: place.to_owned(),
    }))
}

/// A cell: numbers and strings as they are, `null` empty, anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

/// The rows of a request body, each with one cell per feature.
fn rows_of(body: &[u8], features: &[String]) -> Result<Vec<Vec<String>>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|error| format!("not JSON: {error}"))?;
    if let Some(instances) = body.get("instances") {
        let instances = instances.as_array().ok_or("`instances` is not a list")?;
        return instances
            .iter()
            .enumerate()
            .map(|(index, instance)| match instance {
                Value::Array(cells) if cells.len() == features.len() => {
                    Ok(cells.iter().map(cell).collect())
                }
                Value::Array(cells) => Err(format!(
                    "instance {} has {} values; the monitoring lists {} features",
                    index + 1,
                    cells.len(),
                    features.len()
                )),
                Value::Object(map) => features
                    .iter()
                    .map(|feature| {
                        map.get(feature)
                            .map(cell)
                            .ok_or_else(|| format!("instance {} has no `{feature}`", index + 1))
                    })
                    .collect(),
                _ => Err(format!(
                    "instance {} is neither a list nor an object",
                    index + 1
                )),
            })
            .collect();
    }
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or("neither `instances` (v1) nor `inputs` (v2)")?;
    let named: BTreeMap<&str, &Value> = inputs
        .iter()
        .filter_map(|input| Some((input.get("name")?.as_str()?, input)))
        .collect();
    if features
        .iter()
        .all(|feature| named.contains_key(feature.as_str()))
    {
        // One tensor per feature.
        let mut columns: Vec<Vec<&Value>> = Vec::new();
        for feature in features {
            let mut column = Vec::new();
            flatten(&named[feature.as_str()]["data"], &mut column);
            columns.push(column);
        }
        let rows = columns.first().map_or(0, Vec::len);
        if let Some((feature, column)) = features
            .iter()
            .zip(&columns)
            .find(|(_, column)| column.len() != rows)
        {
            return Err(format!(
                "input `{feature}` has {} values, `{}` has {rows}",
                column.len(),
                features[0]
            ));
        }
        return Ok((0..rows)
            .map(|row| columns.iter().map(|column| cell(column[row])).collect())
            .collect());
    }
    let [input] = inputs.as_slice() else {
        return Err(format!(
            "{} inputs, and not one named after each feature ({})",
            inputs.len(),
            features.join(", ")
        ));
    };
    let mut values = Vec::new();
    flatten(&input["data"], &mut values);
    if values.len() % features.len() != 0 {
        return Err(format!(
            "input `{}` has {} values, not a whole number of rows of {} features",
            input.get("name").and_then(Value::as_str).unwrap_or("?"),
            values.len(),
            features.len()
        ));
    }
    Ok(values
        .chunks(features.len())
        .map(|row| row.iter().map(|value| cell(value)).collect())
        .collect())
}

/// One prediction per row from a response body.
fn predictions_of(body: &[u8], rows: usize) -> Result<Vec<String>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|error| format!("not JSON: {error}"))?;
    let values: Vec<String> = if let Some(predictions) = body.get("predictions") {
        predictions
            .as_array()
            .ok_or("`predictions` is not a list")?
            .iter()
            .map(cell)
            .collect()
    } else {
        let output = body
            .get("outputs")
            .and_then(Value::as_array)
            .and_then(|outputs| outputs.first())
            .ok_or("neither `predictions` (v1) nor `outputs` (v2)")?;
        let mut flat = Vec::new();
        flatten(&output["data"], &mut flat);
        if rows > 0 && flat.len() % rows == 0 && flat.len() > rows {
            // Several values per row (class scores): one JSON list per row.
            let width = flat.len() / rows;
            flat.chunks(width)
                .map(|chunk| {
                    Value::Array(chunk.iter().map(|value| (*value).clone()).collect()).to_string()
                })
                .collect()
        } else {
            flat.into_iter().map(cell).collect()
        }
    };
    if values.len() != rows {
        return Err(format!("{} predictions for {rows} rows", values.len()));
    }
    Ok(values)
}
