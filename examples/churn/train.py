"""Train the churn model and write its metrics (a stand-in for a real training script)."""
import argparse
import json
import pathlib

import yaml  # PyYAML

from src.model import fit_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = yaml.safe_load(pathlib.Path(args.params).read_text())
    metrics = fit_and_evaluate(params, features="data/features.parquet", model_out="models/churn.joblib")
    pathlib.Path("metrics").mkdir(exist_ok=True)
    pathlib.Path("metrics/churn.json").write_text(json.dumps(metrics, indent=2) + "\n")


if __name__ == "__main__":
    main()
