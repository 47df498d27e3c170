#!/usr/bin/python3
"""Check that a notebook run wrote its figures: every PATTERN (a glob, relative to DIR) must match at least one
PNG file larger than --min-bytes (default 5 KB), and no file may match an --absent pattern. Exit status 1 with a
list of the problems otherwise.

    check_figures.py build/tests/notebooks/spectra/figures spectra_eigenvalues.png 'eigenvector_*_maps.png'
"""
import argparse
import sys
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check(folder: Path, patterns, min_bytes: int, absent=()):
    problems, found = [], []
    for pattern in absent:
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
            problems.append(f"{path}: should not have been written")
    if patterns and not folder.is_dir():
        return [f"{folder}: no such folder (the notebook wrote no figures)"], found
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if not matches:
            problems.append(f"{folder}/{pattern}: missing")
        for path in matches:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(24)
            if head[:8] != PNG_SIGNATURE:
                problems.append(f"{path}: not a PNG file")
            elif size <= min_bytes:
                problems.append(f"{path}: only {size} bytes (expected > {min_bytes})")
            else:
                width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
                found.append(f"{path.name} ({size} bytes, {width}x{height})")
    return problems, found


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("patterns", nargs="*")
    ap.add_argument("--absent", action="append", default=[], metavar="PATTERN",
                    help="no file may match this glob (repeatable)")
    ap.add_argument("--min-bytes", type=int, default=5 * 1024)
    args = ap.parse_args(argv)
    if not args.patterns and not args.absent:
        ap.error("give at least one PATTERN or --absent PATTERN")
    problems, found = check(args.folder, args.patterns, args.min_bytes, args.absent)
    for line in found:
        print("ok:", line)
    for line in problems:
        print("FAIL:", line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
