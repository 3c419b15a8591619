"""Shared test set-up.

OpenMP threads that spin while waiting make every process slow on a busy 2-core machine (the
app server, notebook kernels and DDP workers all run beside pytest): make them sleep instead.
Must be set before torch is imported, so it lives here.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")
