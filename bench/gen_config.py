#!/usr/bin/env python3
"""Write a valid mlops.yaml with N models: per model a data set, a training, a gate and a
staging and a production deployment (5 nodes), plus shared environments and one approval.

Usage: gen_config.py N > mlops.yaml
"""
import sys

n = int(sys.argv[1])
out = [
    "version: 1",
    "project: big-platform",
    "ci:",
    "  github_action: OWNER/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090",
    "gitops:",
    "  repo_url: https://github.com/acme/big-platform.git",
    "environments:",
    "  staging:",
    "    namespace: ml-staging",
    "  production:",
    "    namespace: ml",
    "    requires_approval: true",
    "approvals:",
    "  prod-signoff:",
    "    environment: production",
    '    reviewers: ["@acme/ml-leads"]',
    "data:",
]
for i in range(n):
    out += [
        f"  events-{i}:",
        f"    uri: s3://acme-ml/events-{i}/",
        "    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        '    refresh: "0 3 * * 1"',
    ]
out.append("training:")
for i in range(n):
    out += [
        f"  model-{i}:",
        f"    needs: [events-{i}]",
        f"    run: python train.py --model {i}",
        f"    inputs: [src/model_{i}/**]",
        f"    metrics: metrics/model-{i}.json",
        f"    model: {{ path: models/model-{i}.joblib, format: sklearn, registry: s3://acme-ml/models/model-{i} }}",
    ]
out.append("gates:")
for i in range(n):
    out += [
        f"  quality-{i}:",
        f"    training: model-{i}",
        "    rules:",
        "      - { metric: auc, min: 0.8 }",
        "      - { metric: auc, max_drop: 0.01 }",
        "      - { metric: latency_p95_ms, max: 120 }",
    ]
out.append("deployments:")
for i in range(n):
    out += [
        f"  model-{i}-staging:",
        f"    model: model-{i}",
        "    environment: staging",
        f"    after: [quality-{i}]",
        "    target: { kind: kserve, replicas: { min: 1, max: 3 } }",
        f"  model-{i}-production:",
        f"    model: model-{i}",
        "    environment: production",
        f"    after: [model-{i}-staging, prod-signoff]",
        "    target: { kind: kserve, replicas: { min: 2, max: 10 } }",
    ]
print("\n".join(out))
