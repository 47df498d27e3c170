#!/usr/bin/python3
"""Compares two merged sweep files item by item: the same items with the same status, and for every item
with results the same datasets, bit for bit (eigenvalues, residuals, stability numbers), and the same
non-timing attributes. Also checks that each file holds every item exactly once.

    compare_sweeps.py A.h5 B.h5 [--failed N] [--error-contains TEXT]

Exit 0 when equal; 1 with the differences listed.
"""
import argparse
import sys

import h5py
import numpy as np

# Attributes that legitimately differ between two runs of the same item.
VOLATILE = {"seconds", "item_seconds", "load_seconds", "write_seconds", "created_utc", "finished_utc", "host",
            "task", "command_line", "checkpoint"}


def index(f):
    rows = f["sweep/index"][()]
    out = {}
    for r in rows:
        rid = r["id"].decode()
        if rid in out:
            raise SystemExit(f"{f.filename}: item {rid} twice in /sweep/index")
        out[rid] = {k: (r[k].decode() if isinstance(r[k], bytes) else r[k]) for k in rows.dtype.names}
    return out


def check_once(f, idx):
    present = set(f["items"].keys())
    expected = {i for i, r in idx.items() if r["status"] != "missing"}
    if present != expected:
        raise SystemExit(f"{f.filename}: /items holds {sorted(present ^ expected)} unlike the index")


def compare_groups(a, b, path, diffs):
    ka, kb = set(a.keys()), set(b.keys())
    if ka != kb:
        diffs.append(f"{path}: members differ: {sorted(ka ^ kb)}")
    for name in sorted(ka & kb):
        x, y = a[name], b[name]
        p = f"{path}/{name}"
        if isinstance(x, h5py.Group):
            compare_groups(x, y, p, diffs)
        else:
            u, v = x[()], y[()]
            if u.dtype != v.dtype or u.shape != v.shape or u.tobytes() != v.tobytes():
                diffs.append(f"{p}: values differ")
        for k in set(x.attrs) | set(y.attrs):
            if k in VOLATILE:
                continue
            if k not in x.attrs or k not in y.attrs:
                diffs.append(f"{p}: attribute {k} only in one")
            elif np.asarray(x.attrs[k]).tobytes() != np.asarray(y.attrs[k]).tobytes():
                diffs.append(f"{p}: attribute {k}: {x.attrs[k]!r} != {y.attrs[k]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--failed", type=int, default=None, help="expected number of failed items")
    ap.add_argument("--error-contains", default=None, help="text every failed item's error holds")
    args = ap.parse_args()
    diffs = []
    with h5py.File(args.a, "r") as fa, h5py.File(args.b, "r") as fb:
        ia, ib = index(fa), index(fb)
        check_once(fa, ia)
        check_once(fb, ib)
        if set(ia) != set(ib):
            diffs.append(f"items differ: {sorted(set(ia) ^ set(ib))}")
        compared = 0
        for i in sorted(set(ia) & set(ib)):
            if ia[i]["status"] != ib[i]["status"]:
                diffs.append(f"{i}: status {ia[i]['status']} != {ib[i]['status']}")
            if ia[i]["status"] in ("ok", "unconverged") and ia[i]["status"] == ib[i]["status"]:
                compare_groups(fa["items"][i], fb["items"][i], f"/items/{i}", diffs)
                compared += 1
        failed = [r for r in ia.values() if r["status"] == "failed"]
        missing = [r for r in ia.values() if r["status"] == "missing"]
        if missing:
            diffs.append(f"{args.a}: {len(missing)} item(s) missing")
        if args.failed is not None and len(failed) != args.failed:
            diffs.append(f"{args.a}: {len(failed)} failed item(s), expected {args.failed}")
        for r in failed:
            if args.error_contains and args.error_contains not in r["error"]:
                diffs.append(f"{r['id']}: error {r['error']!r} lacks {args.error_contains!r}")
    if diffs:
        print("\n".join(diffs[:40]))
        sys.exit(1)
    print(f"equal: {len(ia)} items ({compared} with results compared bit for bit, {len(failed)} failed)")


if __name__ == "__main__":
    main()
