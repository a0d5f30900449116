"""Public ops, one module per family: dense.py, grouped.py, quant.py."""
