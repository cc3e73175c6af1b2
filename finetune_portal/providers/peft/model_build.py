"""One model built at a time in a process.

transformers builds a model under patches that hold for the whole process, not the calling thread:
while ``from_pretrained`` runs, weight initialisation and weight tying are switched off on the classes
themselves (``no_init_weights``, ``no_tie_weights``). A model built meanwhile in another thread inherits
them: a tied output layer is never tied and stays on the meta device ("Cannot copy out of meta tensor"),
and fresh weights are left uninitialised. The embedded model server loads models in its request
threads, and a worker can build a demo model while it serves one, so every construction of a model or
an adapter takes this lock. Generation does not: it runs on models already built.
"""

from __future__ import annotations

import threading

# Re-entrant: building the SmolLM2 demo folder loads one model and builds another under one hold.
MODEL_BUILD_LOCK = threading.RLock()
