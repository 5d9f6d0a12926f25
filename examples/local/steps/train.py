"""Fit a one-feature threshold classifier (the mean or the median of the feature, plus a
margin from params.yaml) and write its accuracy to metrics/<kind>.json."""
import csv
import json
import os
import statistics
import sys

kind = sys.argv[1]
margin = 0.5
with open("params.yaml") as f:
    section = None
    for line in f:
        if not line.startswith(" ") and line.strip().endswith(":"):
            section = line.strip()[:-1]
        elif section == kind and line.strip().startswith("margin:"):
            margin = float(line.split(":", 1)[1])
with open("data/clean.csv", newline="") as f:
    rows = [(float(x), int(y)) for x, y in csv.reader(f)]
centre = statistics.mean(x for x, _ in rows) if kind == "mean" else statistics.median(x for x, _ in rows)
threshold = centre + margin - 0.5
accuracy = sum((x > threshold) == bool(y) for x, y in rows) / len(rows)
os.makedirs("metrics", exist_ok=True)
with open(f"metrics/{kind}.json", "w") as f:
    json.dump({"accuracy": round(accuracy, 4), "threshold": round(threshold, 4)}, f)
print(f"train {kind}: threshold {threshold:.3f}, accuracy {accuracy:.3f}")
