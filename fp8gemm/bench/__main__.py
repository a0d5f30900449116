"""`python -m fp8gemm.bench`: see fp8gemm/bench/cli.py."""

from .cli import main

raise SystemExit(main())
