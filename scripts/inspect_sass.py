"""Compiles kernel configs and reads their SASS: QGMMA present, no local memory, registers per thread.

Needs cuobjdump and nvdisasm (on the GPU machine; here, the nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm
wheels). Usage: python scripts/inspect_sass.py [config-substring ...]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fp8gemm.heuristics import all_configs
from fp8gemm.jit.build import compile_config


def main(filters: list[str]) -> int:
    cuobjdump = shutil.which("cuobjdump")
    if cuobjdump is None:
        print("cuobjdump not found", file=sys.stderr)
        return 1
    failed = 0
    configs = [c for c in all_configs() if not filters or any(f in str(c) for f in filters)]
    for config in configs:
        result = compile_config(config)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "k.cubin"
            path.write_bytes(result.cubin)
            sass = subprocess.run([cuobjdump, "-sass", str(path)], capture_output=True, text=True).stdout
        qgmma = len(re.findall(r"\bQGMMA\b", sass))
        local = len(re.findall(r"\b(LDL|STL)\b", sass))
        ok = qgmma > 0 and local == 0
        failed += not ok
        report = result.report
        print(f"{config!s:45} {'ok ' if ok else 'BAD'} QGMMA={qgmma} LDL/STL={local} regs={report.registers}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
