"""python -m fp8gemm.warmup SHAPES: compile the kernels a model's GEMM shapes need (see fp8gemm.warmup)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import DEFAULT_NUM_SMS, plan, warmup

EPILOG = f"""\
SHAPES is a JSON file (or YAML, .yaml/.yml, when PyYAML is installed): a list of shapes, or an object
{{"num_sms": 132, "shapes": [...]}}. A shape has kind (dense, contiguous, masked), n, k, m (an int or a
list of ints: M for dense, M_total for contiguous, expected_m for masked), num_groups (grouped kinds) and
optionally out_dtype (bfloat16 default; float32 or float16 for dense FP32-output GEMMs). Example:

  {{"shapes": [
    {{"kind": "dense", "n": 2112, "k": 7168, "m": [1, 2, 4, 8, 16, 32, 64, 128]}},
    {{"kind": "masked", "n": 4096, "k": 7168, "m": 64, "num_groups": 32}}
  ]}}

The SM count is --num-sms, else the file's num_sms, else the current GPU's, else {DEFAULT_NUM_SMS}.
Kernels go to FP8GEMM_CACHE_DIR, built by the compiler FP8GEMM_COMPILER selects, as the ops would.
"""


def load_shapes(path: Path) -> tuple[list[Any], int | None]:
    """(shape entries, num_sms or None) from a JSON or YAML file."""
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SystemExit(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write JSON"
            ) from None
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("shapes"), list):
        return data["shapes"], data.get("num_sms")
    raise SystemExit(f"{path}: expected a list of shapes or an object with a 'shapes' list")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fp8gemm.warmup",
        description="Compile ahead of time the fp8gemm kernels the given GEMM shapes will launch.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shapes", type=Path, metavar="SHAPES", help="JSON (or YAML) file of GEMM shapes")
    parser.add_argument("--num-sms", type=int, default=None, help="SM count to plan for (see below)")
    parser.add_argument("--jobs", type=int, default=None, help="compiler processes (default: one per CPU)")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the kernels and the problems needing them"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    entries, file_num_sms = load_shapes(args.shapes)
    num_sms = args.num_sms if args.num_sms is not None else file_num_sms
    try:
        if args.dry_run:
            for kernel, problems in plan(entries, num_sms).items():
                print(f"{kernel}: {'; '.join(problems)}")
            return 0
        print(warmup(entries, num_sms=num_sms, max_workers=args.jobs, progress=not args.no_progress))
    except ValueError as error:
        print(f"{args.shapes}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
