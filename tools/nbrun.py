#!/usr/bin/env python3
"""Validate and execute the GoNB notebooks headlessly.

    nbrun.py check   NOTEBOOK...   execute each into a scratch folder; fail on any error
    nbrun.py refresh NOTEBOOK...   execute each in place, refreshing the committed outputs
    nbrun.py validate NOTEBOOK...  only check the files (schema, kernelspec), no execution

A notebook fails when its file does not validate against the nbformat schema,
when its kernelspec is not "gonb", when a cell raises (GoNB reports compile
errors and panics as cell errors), or when a cell's stderr shows a failed shell
line or program: GoNB prints "exit status N" for a failing `!` line without
failing the cell, so those are caught here. Output is one line per notebook
with its run time.

Uses Debian's python3-nbformat and python3-nbclient (or the same packages from
a virtual environment).
"""

import argparse
import os
import re
import sys
import time

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit(f"nbrun: {e}; install Jupyter with `make jupyter-setup`")

KERNEL = "gonb"
# Lines on stderr that mean a shell line or the cell's program failed.
FAILURE = re.compile(r"^(exit status \d+|panic: |ERROR: |fatal error: |signal: )", re.M)


def problems_in_file(nb):
    """Schema and kernelspec problems of a notebook, as strings."""
    out = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        out.append(f"invalid notebook: {e.message}")
    ks = nb.metadata.get("kernelspec", {})
    if ks.get("name") != KERNEL:
        out.append(f'kernelspec.name is {ks.get("name")!r}, want "{KERNEL}"')
    return out


def problems_in_outputs(nb):
    """Failures GoNB only prints: "exit status" and friends on stderr."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"cell {i + 1}: {o.get('ename')}: {o.get('evalue')}")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                m = FAILURE.search(o.get("text", ""))
                if m:
                    line = o["text"][m.start():].splitlines()[0]
                    out.append(f"cell {i + 1}: stderr says {line!r}")
    return out


def settle_carriage_returns(text):
    """What a terminal shows of text with progress bars redrawn by \\r: on each
    line, only what follows the last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def merge_streams(nb):
    """Join consecutive stream outputs of the same name (GoNB sends each line
    separately, which renders as many little blocks) and settle carriage
    returns, so committed outputs show progress bars in their final state."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for o in cell.get("outputs", []):
            if (merged and o.get("output_type") == "stream" and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == o.get("name")):
                merged[-1]["text"] += o.get("text", "")
            else:
                merged.append(o)
        for o in merged:
            if o.get("output_type") == "stream":
                o["text"] = settle_carriage_returns(o.get("text", ""))
        cell["outputs"] = merged


def execute(nb, path, timeout, log):
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    # The kernel's own log goes to a file, not to the terminal.
    client.execute(stderr=log, stdout=log)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["check", "refresh", "validate"])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--out", default="notebooks/.executed", help="scratch folder for check mode")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = ap.parse_args()

    failed = 0
    for path in args.notebooks:
        name = os.path.basename(path)
        nb = nbformat.read(path, as_version=4)
        probs = problems_in_file(nb)
        if probs or args.mode == "validate":
            status = "FAIL" if probs else "ok"
            print(f"{status:4} {name}: " + ("; ".join(probs) if probs else "valid"), flush=True)
            failed += bool(probs)
            continue
        start = time.time()
        os.makedirs(args.out, exist_ok=True)
        log_path = os.path.join(args.out, name + ".kernel.log")
        try:
            with open(log_path, "w") as log:
                execute(nb, path, args.timeout, log)
        except (CellExecutionError, CellTimeoutError) as e:
            probs.append(str(e).strip().splitlines()[-1][:500])
        except Exception as e:  # the kernel died or could not start
            probs.append(f"{type(e).__name__}: {e}")
        merge_streams(nb)
        probs += problems_in_outputs(nb)
        elapsed = time.time() - start
        if args.mode == "refresh" and not probs:
            nbformat.write(nb, path)
            dest = path
        else:
            dest = os.path.join(args.out, name)
            nbformat.write(nb, dest)
        if probs:
            failed += 1
            print(f"FAIL {name} ({elapsed:.0f} s, executed copy in {dest}, kernel log {log_path}):", flush=True)
            for p in probs:
                print(f"       {p}", flush=True)
        else:
            print(f"ok   {name} ({elapsed:.0f} s)", flush=True)
    if failed:
        sys.exit(f"nbrun: {failed} of {len(args.notebooks)} notebooks failed")


if __name__ == "__main__":
    main()
