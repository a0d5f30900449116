"""What a tile's epilogue costs, per tile, on the large problems: the shipped build against one without D's
stores, one that does not wait for a TMA store's reads before rewriting the staging rows, and one without any
epilogue (`d_store_variants.patch`: FP8GEMM_NO_D_STORE, FP8GEMM_NO_STAGING_WAIT, FP8GEMM_NO_EPILOGUE).

Run 33 fitted about 7k cycles a tile beyond the tile's blocks on 4096x7168x2048 (16 K blocks a tile),
against the same kernel at K = 7168. This splits that: profiler kernel time, L2 flushed before each run, for
each problem's config, and the difference over the CTAs' tile count (the longest CTA's: ceil(tiles / 132))
as µs per tile. The shipped build's D is checked against itself only (the others leave D unwritten or racy),
except lever 73's (`epilogue_interleave.patch`, FP8GEMM_EPILOGUE_INTERLEAVE), which must match it bit for bit:
128 x 256 tiles run the next tile's whole first block under the epilogue (128-wide tiles are unchanged by
it, a control for the noise).
`clock` asks whether the epilogue's cost is time or energy at the power cap: each build's calls run back to
back for a few seconds while nvidia-smi samples the SM clock and the power (`clock_under_load.py`), and it
prints time and SM cycles per call. A build that saves cycles but runs at a lower clock saves energy nowhere.
Usage (both patches applied): python scripts/experiments/epilogue_cost.py [split|lever73|clock]
"""

from __future__ import annotations

import sys

import torch
from clock_under_load import _measure, _sustained_ms  # this script's folder is first on sys.path
from source_builds import precompile, run_poisoned, time_shape, use_build

from fp8gemm.bench.cases import build_case
from fp8gemm.bench.suites import DenseShape
from fp8gemm.config import GemmConfig, GemmType, max_stages
from fp8gemm.heuristics import forced_config

BUILDS = {
    "shipped": "",
    "no D store": "#define FP8GEMM_NO_D_STORE\n",
    "no staging wait": "#define FP8GEMM_NO_STAGING_WAIT\n",
    "no epilogue": "#define FP8GEMM_NO_EPILOGUE\n",
    "interleaved": "#define FP8GEMM_EPILOGUE_INTERLEAVE\n",
}
UNCHECKED = ("no D store", "no staging wait", "no epilogue")
# What each run times: the split, or lever 73 against the shipped build (its own process: a kernel that traps
# would take the split's figures with it).
BUILD_SETS = {
    "split": ("shipped", "no D store", "no staging wait", "no epilogue"),
    "lever73": ("shipped", "interleaved"),
    "clock": ("shipped", "interleaved", "no epilogue"),
}
CLOCK_SECONDS = 3.0
# The clock run's problems: short and long K on the wide tile, and the 128 x 128 tile whose epilogue weighs
# most (lever 73 leaves it unchanged).
CLOCK_PROBLEMS = [
    (DenseShape(4096, 7168, 2048), 256),
    (DenseShape(4096, 4096, 7168), 256),
    (DenseShape(4096, 32768, 512), 128),
]
NUM_SMS = 132
# problem, tile width (128-row tiles, no cluster, deepest ring)
PROBLEMS = [
    (DenseShape(4096, 7168, 1024), 256),
    (DenseShape(4096, 7168, 2048), 256),
    (DenseShape(4096, 7168, 4096), 256),
    (DenseShape(4096, 4096, 7168), 256),
    (DenseShape(4096, 32768, 512), 128),
    (DenseShape(4096, 24576, 1536), 128),
    (DenseShape(1024, 7168, 2048), 224),
    (DenseShape(1024, 4096, 7168), 256),
]


def clock_run(builds: dict[str, str], configs: dict[int, GemmConfig]) -> None:
    """Per build: µs and SM kilocycles per call with calls back to back, median clock and power. Lever 73's
    D must equal the shipped build's bit for bit."""
    for shape, block_n in CLOCK_PROBLEMS:
        with forced_config(configs[block_n]):
            case = build_case(shape)
            use_build(builds["shipped"])
            reference = run_poisoned(case)
            results = {}
            for name, prefix in builds.items():
                use_build(prefix)
                if name not in UNCHECKED and not torch.equal(run_poisoned(case), reference):
                    raise RuntimeError(f"{name}: D differs from the shipped build's")
                results[name] = _measure(case.run_fp8gemm, _sustained_ms, CLOCK_SECONDS)
            cublas_ms, cublas_clock, cublas_power = _measure(case.run_cublas, _sustained_ms, CLOCK_SECONDS)
            use_build(builds["shipped"])
        shipped_ms, shipped_clock, _ = results["shipped"]
        for name, (ms, clock, power) in results.items():
            print(
                f"{shape.m}x{shape.n}x{shape.k:<6d} {str(configs[block_n]):24s} {name:12s} {ms * 1e3:7.1f} us "
                f"{ms * clock:7.1f} kcycles  SM clock {clock:5.0f} MHz  power {power:4.0f} W | vs shipped: time "
                f"{ms / shipped_ms:.3f} cycles {ms * clock / (shipped_ms * shipped_clock):.3f}",
                flush=True,
            )
        print(
            f"{shape.m}x{shape.n}x{shape.k:<6d} cuBLAS blockwise {cublas_ms * 1e3:7.1f} us "
            f"{cublas_ms * cublas_clock:7.1f} kcycles  SM clock {cublas_clock:5.0f} MHz  power {cublas_power:4.0f} W",
            flush=True,
        )
        del case
        torch.cuda.empty_cache()


def main(which: str) -> None:
    builds = {name: BUILDS[name] for name in BUILD_SETS[which]}
    configs = {
        block_n: GemmConfig(GemmType.DENSE, 128, block_n, max_stages(128, block_n)) for _, block_n in PROBLEMS
    }
    precompile(configs.values(), builds.values())
    if which == "clock":
        clock_run(builds, configs)
        return
    for shape, block_n in PROBLEMS:
        config = configs[block_n]
        ours, cublas, times = time_shape(shape, builds, config, unchecked=UNCHECKED)
        tiles = config.num_tiles(shape.m, shape.n)
        per_cta = -(-tiles // NUM_SMS)
        shipped = times["shipped"]
        if which == "split":
            summary = (
                f"per tile: D store {(shipped - times['no D store']) / per_cta:.2f} us, "
                f"staging wait {(shipped - times['no staging wait']) / per_cta:.2f} us, "
                f"epilogue {(shipped - times['no epilogue']) / per_cta:.2f} us"
            )
        else:
            summary = f"interleaved/shipped {times['interleaved'] / shipped:.3f}"
        print(
            f"{shape.m}x{shape.n}x{shape.k:<6d} {str(config):24s} tiles {tiles:5d} ({per_cta:2d} a CTA) "
            f"fp8gemm {ours * 1e3:7.1f} cuBLAS {cublas * 1e3:7.1f} | "
            + "  ".join(f"{name} {t:7.1f}" for name, t in times.items())
            + f" | {summary}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "split")
