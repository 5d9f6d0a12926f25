"""Join the raw CSV files into data/clean.csv, dropping rows that are not two numbers."""
import csv
import glob
import os

rows = []
for path in sorted(glob.glob("raw/*.csv")):
    with open(path, newline="") as f:
        for row in csv.reader(f):
            try:
                rows.append((float(row[0]), int(row[1])))
            except (IndexError, ValueError):
                continue
os.makedirs("data", exist_ok=True)
with open("data/clean.csv", "w", newline="") as f:
    csv.writer(f).writerows(rows)
print(f"prepare: {len(rows)} rows")
