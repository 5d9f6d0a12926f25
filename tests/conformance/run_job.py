"""Run one job of a generated GitHub Actions workflow on this machine, as a runner would run
its `run:` steps: in order, each through `bash -e`, with the step's `env`, `RUNNER_TEMP`,
`GITHUB_ENV` (read back between steps), `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`, the job's
`defaults.run.working-directory`, and `${{ secrets.X }}` / `${{ github.token }}` given
placeholder values. A `uses:` step is emulated by the caller (`--uses ACTION=COMMAND`, run
through bash with the step's `with:` as `WITH_<KEY>` variables) or skipped when the caller
says so (`--skip ACTION`); any other is an error, so nothing is silently left out.

Prints the job's outputs (`outputs:` resolved from the steps' outputs) as JSON.

    run_job.py WORKFLOW JOB [--uses ACTION=COMMAND]... [--skip ACTION]... [--set NAME=VALUE]...
               [--instead 'STEP NAME=COMMAND']...

`--set` gives the values of other expressions (`needs.check.outputs.verdict=drift`);
`--instead` runs COMMAND in place of the `run:` step so named (a step that installs what the
caller has installed already, say), and prints the step's own script to stderr.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml


def main():
    args = sys.argv[1:]
    workflow_path, job_id = args[0], args[1]
    uses, skip, known, instead = {}, set(), {}, {}
    rest = args[2:]
    while rest:
        flag, value = rest[0], rest[1]
        rest = rest[2:]
        name, _, command = value.partition("=")
        if flag == "--uses":
            uses[name] = command
        elif flag == "--skip":
            skip.add(value)
        elif flag == "--set":
            known[name] = command
        elif flag == "--instead":
            instead[name] = command
        else:
            sys.exit(f"run_job.py: unknown flag {flag}")
    workflow = yaml.safe_load(open(workflow_path))
    job = workflow["jobs"][job_id]
    workdir = (workflow.get("defaults") or {}).get("run", {}).get("working-directory", ".")
    temp = tempfile.mkdtemp(prefix="runner-temp-") if "RUNNER_TEMP" not in os.environ else os.environ["RUNNER_TEMP"]
    files = {name: os.path.join(temp, f".{name.lower()}") for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    job_env = dict(os.environ, RUNNER_TEMP=temp, GITHUB_REPOSITORY=os.environ.get("GITHUB_REPOSITORY", "acme/project"))

    def resolve(text, steps):
        def value(match):
            expression = match.group(1).strip()
            if expression.startswith("secrets.") or expression == "github.token":
                return f"placeholder-{expression}"
            if expression == "runner.temp":
                return temp
            if expression.startswith("steps."):
                _, step, _, name = expression.split(".")
                return steps.get(step, {}).get(name, "")
            if expression in known:
                return known[expression]
            m = re.fullmatch(r"format\('\{0\}/([^']*)', runner\.temp\)", expression)
            if m:
                return f"{temp}/{m.group(1)}"
            sys.exit(f"run_job.py: no value for the expression `{expression}`")
        return re.sub(r"\$\{\{(.*?)\}\}", value, str(text))

    step_outputs = {}
    for number, step in enumerate(job["steps"], 1):
        label = step.get("name") or step.get("uses") or f"step {number}"
        env = dict(job_env)
        for path in files.values():
            open(path, "a").close()
        for line in open(files["GITHUB_ENV"]):
            if "=" in line:
                key, _, val = line.rstrip("\n").partition("=")
                env[key] = val
        env.update({key: resolve(val, step_outputs) for key, val in (step.get("env") or {}).items()})
        env.update(files)
        open(files["GITHUB_OUTPUT"], "w").close()
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action in skip and action not in uses:
                print(f"run_job.py: {label}: skipped (emulated by the caller's setup)", file=sys.stderr)
                continue
            if action not in uses:
                sys.exit(f"run_job.py: {label}: no emulation for {action}")
            for key, val in (step.get("with") or {}).items():
                env["WITH_" + re.sub(r"[^A-Z0-9]", "_", key.upper())] = resolve(val, step_outputs)
            script = uses[action]
            cwd = "."
        elif label in instead:
            print(f"run_job.py: {label}: instead of: {step['run']}", file=sys.stderr)
            script = instead[label]
            cwd = workdir
        else:
            script = resolve(step["run"], step_outputs)
            cwd = workdir
        print(f"run_job.py: {label}", file=sys.stderr)
        # The steps' own output is the log (stderr); stdout carries the outputs alone.
        result = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, stdout=sys.stderr)
        if result.returncode != 0:
            sys.exit(f"run_job.py: {label}: exit {result.returncode}")
        if "id" in step:
            outputs = {}
            for line in open(files["GITHUB_OUTPUT"]):
                if "=" in line:
                    key, _, val = line.rstrip("\n").partition("=")
                    outputs[key] = val
            step_outputs[step["id"]] = outputs
    print(json.dumps({key: resolve(val, step_outputs) for key, val in (job.get("outputs") or {}).items()}))


main()
