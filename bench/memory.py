"""Peak resident memory of one W1 gaussian forward + backward beyond its inputs and outputs,
in a process of its own: usage: memory.py {library|numpy|jax|torch} N

After one warm-up call (libraries loaded, jit compiled) the kernel's peak-RSS counter is reset
(/proc/self/clear_refs, 5); the peak during the measured call, minus the resident size just
before it, minus the bytes of the outputs it returns, is the memory the call itself needed.
Prints one JSON line."""

import gc
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import w1  # noqa: E402


def status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def main():
    who, n = sys.argv[1], int(sys.argv[2])
    w = w1(n, ("gaussian",))[0].make()
    a = w.arrays
    if who == "library":
        import run as bench
        ie = bench.library_module()

        def call():
            return bench.library_call(ie, w, a)
    elif who == "numpy":
        import peer_numpy

        def call():
            return peer_numpy.run(w, a)
    else:
        import peer_autograd
        run, _ = getattr(peer_autograd, f"{who}_peer")()

        def call():
            return run(w, a)
    out = call()
    del out
    gc.collect()
    rss = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    out = call()
    hwm = status_kib("VmHWM")
    out_bytes = sum(np.asarray(v).nbytes for v in out.values() if v is not None)
    in_bytes = sum(v.nbytes for v in a.values())
    mib = 1 << 20
    print(json.dumps({"extra_mib": (hwm * 1024 - rss * 1024 - out_bytes) / mib,
                      "peak_mib": hwm / 1024, "before_mib": rss / 1024,
                      "io_mib": (out_bytes + in_bytes) / mib}))


if __name__ == "__main__":
    main()
