"""`make bench`: libimplicitem against NumPy, JAX, PyTorch and scikit-learn (bench/README.md).

Forward + backward of sum_n logZ_n for each workload; every peer's outputs are checked
against the library's before it is timed; medians of repeated runs after warm-up; the
floor comes from this machine's measured peak FLOP/s, bandwidth and function costs.
Prints one table plus W5, scaling and memory sections, and writes the results as JSON.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peer_numpy  # noqa: E402
from workloads import DELTA, NU, SEPARABLE, Workload, all_workloads, floor_seconds, w1  # noqa: E402

PEERS = ("numpy", "jax", "torch", "sklearn")
TOLERANCE = {"float64": 1e-7, "float32": 1e-3}   # |peer - library|_2 / |library|_2, per output


# ------------------------------------------------------------------------------------ timing

TIMING = {"min_reps": 5, "max_reps": 15, "budget": 8.0}   # --quick lowers these


def median_time(fn, min_reps=None, max_reps=None, budget=None, warmup=1, first=None):
    """Median wall time of fn() over repeated runs after `warmup` untimed runs: min_reps runs
    (only 3 when they overrun the budget, in seconds), more while half the budget lasts, at
    most max_reps. `first`: the time of a warm call already made (the check); when it alone
    overruns the budget, it counts as one of the 3 runs and there is no warm-up."""
    min_reps = min_reps or TIMING["min_reps"]
    max_reps = max_reps or TIMING["max_reps"]
    budget = min(budget or TIMING["budget"], TIMING["budget"])
    times = []
    if first is not None and first > budget:
        times, warmup = [first], 0
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    while len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if len(times) >= min(3, min_reps) and elapsed > budget:
            break   # slow calls: 3 runs are enough
        if len(times) >= min_reps and elapsed > budget / 2:
            break
    return float(np.median(times)), len(times)


# ----------------------------------------------------------------------------------- library

def cpu_name() -> str:
    """The CPU's model name and maker from /proc/cpuinfo (the library streams large outputs on
    some makers' CPUs only: README, Building), else what platform knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    arch = platform.machine()
    if "model name" in fields:
        return f"{fields['model name']} ({fields.get('vendor_id', '?')}, {arch})"
    return platform.processor() or arch


def library_module():
    import implicitem
    return implicitem


def library_call(ie, w: Workload, a: dict, **options):
    """ie.gradients for the workload; outputs named like the peers'."""
    kw = {"kernel": w.kernel, "logw": options.pop("logw", a["logw"])}
    if w.kernel in SEPARABLE:
        kw["scale"] = a["scale"]
    if w.kernel == "student_t":
        kw["nu"] = NU
    if w.kernel in ("huber", "pseudo_huber"):
        kw["delta"] = DELTA
    if w.kernel == "mahalanobis":
        kw["chol"] = a["chol"]
    if w.kernel == "learned":
        kw["energies"] = a["energies"]
    # Only what the peers compute: the binding would otherwise also fill the energies and their
    # gradient (two more N×K arrays).
    wanted = ["logZ", "resp", "logw"]
    wanted += ["energies_grad"] if w.kernel == "learned" else ["x", "mu"]
    if w.kernel in SEPARABLE:
        wanted.append("scale")
    if w.kernel == "mahalanobis":
        wanted.append("chol")
    kw["outputs"] = wanted
    kw.update(options)
    g = ie.gradients(a.get("x"), a.get("mu"), **kw)
    out = {"logZ": g.logZ, "resp": g.resp, "logw": g.logw}
    if w.kernel == "learned":
        out["energies"] = g.energies_grad
    else:
        out["x"], out["mu"] = g.x, g.mu
    if w.kernel in SEPARABLE:
        out["scale"] = g.scale
    if w.kernel == "mahalanobis":
        out["chol"] = np.tril(g.chol)
    return out


def library_raw(ie, w: Workload, a: dict):
    """A call of ie_gradients_f32/_f64 through the C ABI with output buffers allocated once and
    only the outputs the workload needs (no energies, no tau gradient): the library's own cost,
    without the binding's per-call allocations and extra outputs."""
    import ctypes
    from implicitem import core
    kw = dict(nu=NU if w.kernel == "student_t" else None,
              delta=DELTA if w.kernel in ("huber", "pseudo_huber") else None)
    problem = core._Problem(a.get("x"), a.get("mu"), w.kernel, a.get("scale"), kw["nu"], kw["delta"],
                            a.get("chol"), a["logw"], 1.0, False, a.get("energies"), None, None,
                            None, {})
    n, k, d = problem.n, problem.k, problem.d
    out = {"logZ": problem.empty(n), "resp": problem.empty(n, k), "logw": problem.empty(k)}
    if w.kernel == "learned":
        out["energies"] = problem.empty(n, k)
    else:
        out["x"], out["mu"] = problem.empty(n, d), problem.empty(k, d)
    if w.kernel in SEPARABLE:
        out["scale"] = problem.empty(*a["scale"].shape)
    if w.kernel == "mahalanobis":
        out["chol"] = problem.empty(k, d, d)
    is32 = problem.dtype == np.float32
    grads = core.GradsF32() if is32 else core.GradsF64()
    (core._lib.ie_grads_init_f32 if is32 else core._lib.ie_grads_init_f64)(ctypes.byref(grads))
    for name in ("x", "mu", "scale", "chol", "logw", "energies"):
        if name in out:
            setattr(grads, name, problem.ptr(out[name]))
    args = (problem.ptr(None), problem.ptr(None), problem.ptr(None), problem.ptr(out["logZ"]),
            problem.ptr(out["resp"]), ctypes.byref(grads))

    def call():
        problem.run("ie_gradients", *args)
        return out
    return call


def set_threads(ie, n):
    if hasattr(ie, "set_num_threads"):
        ie.set_num_threads(n)
    else:  # older binding: the C function on the loaded library
        import ctypes
        ie._loader.library.ie_set_num_threads(ctypes.c_int32(n))


def get_threads(ie):
    if hasattr(ie, "get_num_threads"):
        return ie.get_num_threads()
    import ctypes
    return ie._loader.library.ie_get_num_threads()


# ------------------------------------------------------------------------------------- peers

def load_peers(build: Path):
    """{name: (run, info)} for each peer that imports; {name: reason} for the others."""
    peers, missing = {}, {}
    peers["numpy"] = (peer_numpy.run, {"version": np.__version__, "threads": blas_threads()})
    try:
        import peer_autograd
        peers["jax"] = peer_autograd.jax_peer()
    except Exception as e:  # noqa: BLE001 - reported in the table
        missing["jax"] = f"not available: {e}"
    try:
        import peer_autograd
        peers["torch"] = peer_autograd.torch_peer()
    except Exception as e:  # noqa: BLE001
        failed = build / "bench-venv" / ".torch-failed"
        missing["torch"] = failed.read_text().strip() if failed.exists() else f"not available: {e}"
    try:
        import peer_sklearn
        run, ref_options, info = peer_sklearn.sklearn_peer()
        peers["sklearn"] = (run, info)
        peers["sklearn"][1]["reference_options"] = ref_options
    except Exception as e:  # noqa: BLE001
        missing["sklearn"] = f"not available: {e}"
    return peers, missing


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
        return ",".join(f"{p['internal_api']}:{p['num_threads']}" for p in threadpool_info())
    except Exception:  # noqa: BLE001
        return "unknown"


def compare(ref: dict, got: dict, dtype: str):
    """None when every output the peer gives agrees with the library; else what differs."""
    worst = []
    for name, value in got.items():
        if name not in ref or ref[name] is None:
            continue
        b = np.asarray(ref[name], dtype=np.float64)
        a = np.asarray(value, dtype=np.float64)
        if a.size != b.size:
            return f"{name}: shape {a.shape} vs library {b.shape}"
        a = a.reshape(b.shape)
        if not np.all(np.isfinite(a)):
            return f"{name}: non-finite values"
        # Normwise: a few elements on a kink of rho (laplace's sign at u = 0 in float32) may
        # round to the other side in one implementation without the result being wrong.
        err = float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-300))
        if not err <= TOLERANCE[dtype]:
            worst.append(f"{name} normwise rel.err {err:.1e}, max abs err "
                         f"{float(np.max(np.abs(a - b))):.1e} (max |library| {float(np.max(np.abs(b))):.1e})")
    return "; ".join(worst) or None


# ------------------------------------------------------------------------------------ floor

def measure_machine(build: Path):
    """This run's measurement, and the best seen on this machine (build/bench/machine-best.json):
    other processes can only lower peak FLOP/s and bandwidth and raise function costs, so the
    floor uses the best figures observed, never a contended one."""
    exe = build / "bench" / "floor"
    now = json.loads(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)
    best_file = build / "bench" / "machine-best.json"
    best = json.loads(best_file.read_text()) if best_file.exists() else now
    if best.get("threads") != now["threads"]:
        best = now
    merged = {"threads": now["threads"]}
    for key, value in now.items():
        if key.startswith(("peak", "bandwidth")):
            merged[key] = max(value, best.get(key, 0))
    merged["ns_per_element_1t"] = {
        kind: {f: min(v, best["ns_per_element_1t"][kind].get(f, v)) for f, v in fs.items()}
        for kind, fs in now["ns_per_element_1t"].items()}
    best_file.write_text(json.dumps(merged, indent=1))
    merged["this_run"] = now
    return merged


# -------------------------------------------------------------------------------- workloads

def bench_workload(ie, w: Workload, peers: dict, missing: dict, machine: dict, lib_threads: int):
    a = w.make().arrays
    row = {"workload": w.name, "kernel": w.kernel, "n": w.n, "d": w.d, "k": w.k, "dtype": w.dtype,
           "peers": {}}
    floor, detail = floor_seconds(w, machine, lib_threads)
    row["floor_s"], row["floor_detail"] = floor, detail
    ref = None
    if ie is not None:
        try:
            t0 = time.perf_counter()
            ref = library_call(ie, w, a)
            first = time.perf_counter() - t0
            row["library_s"], row["library_reps"] = median_time(lambda: library_call(ie, w, a),
                                                                first=first)
        except Exception as e:  # noqa: BLE001
            row["library_error"] = f"{type(e).__name__}: {e}"
        try:
            raw = library_raw(ie, w, a)
            bad = compare(ref, raw(), w.dtype) if ref is not None else None
            if bad:
                row["library_c_abi_error"] = f"disagrees with the binding: {bad}"
            else:
                row["library_c_abi_s"], _ = median_time(raw)
                row["fingerprint"] = fingerprint(raw())
        except Exception as e:  # noqa: BLE001
            row["library_c_abi_error"] = f"{type(e).__name__}: {e}"
    numpy_out = None
    for name in PEERS:
        if name in missing:
            row["peers"][name] = {"status": missing[name]}
            continue
        if name == "sklearn" and w.sklearn is None:
            continue
        run, info = peers[name]
        cell = {}
        try:
            t0 = time.perf_counter()
            got = run(w, a)                               # also compiles (jax) and warms up
            first = None if name == "jax" else time.perf_counter() - t0
            check_ref = ref
            if name == "sklearn" and ie is not None:
                check_ref = library_call(ie, w, a, **info["reference_options"](w))
            if check_ref is None:
                cell["status"] = "unchecked (no library)"
            else:
                bad = compare(check_ref, got, w.dtype)
                if bad:
                    cell["status"] = f"disagrees with the library: {bad}"
                    if name == "numpy":
                        numpy_out = got
                    elif numpy_out is not None and name != "sklearn":
                        # the NumPy peer is checked against KERNELS.md by bench/selftest.py
                        agree = compare(numpy_out, got, w.dtype) is None
                        cell["status"] += (" (agrees with numpy)" if agree else
                                           " (and with numpy)")
            if "status" not in cell or cell["status"].startswith("unchecked"):
                cell["seconds"], cell["reps"] = median_time(lambda: run(w, a), first=first)
        except Exception as e:  # noqa: BLE001
            cell["status"] = f"failed: {type(e).__name__}: {str(e)[:200]}"
        row["peers"][name] = cell
    timed = {p: c["seconds"] for p, c in row["peers"].items() if "seconds" in c}
    if timed:
        best = min(timed, key=timed.get)
        row["best_peer"] = best
        if "library_s" in row:
            row["best_peer_ratio"] = timed[best] / row["library_s"]
    if "library_s" in row:
        row["floor_ratio"] = row["library_s"] / floor
    row["load_average"] = os.getloadavg()[0]
    return row


def fmt_time(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.1f} us"


def print_table(rows):
    head = ["workload", "library", "(C ABI)", "AVX2", "numpy", "jax", "torch", "sklearn", "best peer / lib",
            "lib / floor", "floor"]
    lines = [head]
    notes = []
    for r in rows:
        cells = [r["workload"], fmt_time(r.get("library_s")) if "library_s" in r else "error",
                 fmt_time(r.get("library_c_abi_s")) if "library_c_abi_s" in r else "-",
                 fmt_time(r.get("library_avx2_s")) if "library_avx2_s" in r else "-"]
        for p in PEERS:
            c = r["peers"].get(p)
            if c is None:
                cells.append("n/a")
            elif "seconds" in c:
                cells.append(fmt_time(c["seconds"]) + ("*" if c.get("status") else ""))
            else:
                cells.append("x")
                notes.append(f"{r['workload']} / {p}: {c['status']}")
        for key in ("library_error", "library_c_abi_error", "library_avx2_error"):
            if key in r:
                notes.append(f"{r['workload']} / {key[:-6].replace('_', ' ')}: {r[key]}")
        ratio = r.get("best_peer_ratio")
        cells.append(f"{ratio:.1f}x ({r['best_peer']})" if ratio else "-")
        fr = r.get("floor_ratio")
        cells.append(f"{fr:.1f}x" if fr else "-")
        cells.append(fmt_time(r["floor_s"]))
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for j, line in enumerate(lines):
        print(" | ".join(str(c).ljust(widths[i]) for i, c in enumerate(line)))
        if j == 0:
            print("-+-".join("-" * wd for wd in widths))
    seen = set()
    for n in notes:
        if n not in seen:
            print("  " + n)
            seen.add(n)


# ------------------------------------------------------------------------ the AVX2 code path

def library_only(args):
    """Times the library alone (C ABI, as the "(C ABI)" column) on every workload and prints one
    JSON line {workload: {"seconds": s, "outputs": checksum}}: run in a child process whose
    environment has IMPLICITEM_CPU=avx2 (the shipped library's AVX2 code)."""
    ie = library_module()
    out = {}
    for w in all_workloads(args.quick):
        if args.only and args.only not in w.name:
            continue
        a = w.make().arrays
        try:
            raw = library_raw(ie, w, a)
            res = raw()
            out[w.name] = {"seconds": median_time(raw)[0], "fingerprint": fingerprint(res)}
        except Exception as e:  # noqa: BLE001
            out[w.name] = {"error": f"{type(e).__name__}: {e}"}
        w.arrays = {}
    print(json.dumps(out))


def fingerprint(outputs):
    """Per output: the sum and the sum of magnitudes, in float64 (enough to tell two builds'
    results apart, small enough to pass between processes)."""
    return {k: [float(np.sum(np.asarray(v, dtype=np.float64))), float(np.sum(np.abs(np.asarray(v, dtype=np.float64))))]
            for k, v in outputs.items()}


def bench_avx2(build: Path, args, rows):
    """The same workloads through the same library's AVX2 code (IMPLICITEM_CPU=avx2: on a CPU with
    AVX-512 the library otherwise runs its AVX-512 code), in a child process; fills
    row["library_avx2_s"]."""
    cmd = [sys.executable, __file__, "--library-only", "--build", str(build)]
    if args.quick:
        cmd.append("--quick")
    if args.only:
        cmd += ["--only", args.only]
    env = dict(os.environ, IMPLICITEM_CPU="avx2")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
    if res.returncode != 0:
        return (res.stderr.strip().splitlines() or ["?"])[-1][:200]
    times = json.loads(res.stdout.strip().splitlines()[-1])
    for r in rows:
        t = times.get(r["workload"], {})
        mine, theirs = r.get("fingerprint"), t.get("fingerprint")
        tol = 1e-3 if r["dtype"] == "float32" else 1e-9
        off = [k for k in (mine or {}) if k in (theirs or {}) and
               any(abs(a - b) > tol * max(abs(mine[k][1]), 1e-30) for a, b in zip(mine[k], theirs[k]))]
        if "seconds" in t and off:
            r["library_avx2_error"] = "disagrees with the default code path on " + ", ".join(off)
        elif "seconds" in t:
            r["library_avx2_s"] = t["seconds"]
        elif "error" in t:
            r["library_avx2_error"] = t["error"]
    return None


# ------------------------------------------------------------------------------------- W5

def bench_w5(ie, peers, build: Path, seconds=1.5):
    w = Workload("W5 tiny", "gaussian", 1, 4, 3, "float64").make(5)
    a = w.arrays
    a["scale"] = a["scale"][:1, :1].reshape(()) * 0 + 1.0      # shared scale 1
    out = {}

    def rate(fn):
        fn()
        fn()
        count, t0 = 0, time.perf_counter()
        while True:
            for _ in range(100):
                fn()
            count += 100
            dt = time.perf_counter() - t0
            if dt > seconds:
                return count / dt

    x, mu, logw = a["x"], a["mu"], a["logw"]
    if ie is not None:
        try:
            out["library_python"] = rate(lambda: ie.gradients(x, mu, kernel="gaussian", logw=logw))
        except Exception as e:  # noqa: BLE001
            out["library_python_error"] = str(e)
    scale = np.ones((3, 4))
    wk = Workload("W5 tiny", "gaussian", 1, 4, 3, "float64")
    wk.arrays = {"x": x, "mu": mu, "scale": scale, "logw": logw}
    for name in ("numpy", "jax", "torch"):
        if name in peers:
            run = peers[name][0]
            try:
                out[name] = rate(lambda: run(wk, wk.arrays))
            except Exception as e:  # noqa: BLE001
                out[name + "_error"] = str(e)[:200]
    exe = build / "bench" / "w5"
    if exe.exists():
        try:
            res = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=120)
            out["library_c"] = float(res.stdout.split()[0])
        except Exception as e:  # noqa: BLE001
            out["library_c_error"] = str(e)[:200]
    return out


# ---------------------------------------------------------------------------------- scaling

def bench_scaling(ie, machine, sizes, thread_n):
    res = {"per_row": [], "threads": []}
    for n in sizes:
        w = w1(n, ("gaussian",))[0].make()
        t, _ = median_time(lambda: library_call(ie, w, w.arrays), min_reps=5, budget=4.0)
        res["per_row"].append({"n": n, "seconds": t, "ns_per_row": 1e9 * t / n})
    w = w1(thread_n, ("gaussian",))[0].make()
    default = get_threads(ie)
    for th in (1, 2):
        set_threads(ie, th)
        t, _ = median_time(lambda: library_call(ie, w, w.arrays), min_reps=5, budget=4.0)
        res["threads"].append({"threads": th, "n": thread_n, "seconds": t})
    set_threads(ie, default)
    return res


# ----------------------------------------------------------------------------------- memory

def bench_memory(n, who):
    """Peak resident memory beyond inputs and outputs, each in its own process."""
    out = {}
    for name in who:
        cmd = [sys.executable, str(HERE / "memory.py"), name, str(n)]
        # A fixed mmap threshold returns every large freed block to the system, so memory
        # freed by the warm-up call is not counted as resident before the measured one.
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        if res.returncode == 0:
            out[name] = json.loads(res.stdout.strip().splitlines()[-1])
        else:
            out[name] = {"error": (res.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return out


# ------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    ap.add_argument("--build", default="build")
    ap.add_argument("--json", default="build/bench/results.json")
    ap.add_argument("--only", default="", help="run only workloads whose name contains this")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: w5,scaling,memory,avx2")
    ap.add_argument("--library-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    build = Path(args.build)
    skip = set(filter(None, args.skip.split(",")))
    if args.quick:
        TIMING.update(min_reps=3, max_reps=7, budget=1.0)
    if args.library_only:
        return library_only(args)

    machine = measure_machine(build)
    try:
        ie = library_module()
        path = ie.library_path() if callable(ie.library_path) else ie.library_path
        lib_info = {"path": str(path), "version": ie.__version__}
        lib_threads = get_threads(ie)
    except Exception as e:  # noqa: BLE001
        ie, lib_info, lib_threads = None, {"error": f"{type(e).__name__}: {e}"}, os.cpu_count()
    peers, missing = load_peers(build)

    print("libimplicitem benchmark" + (" (quick sizes)" if args.quick else ""))
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; "
          f"peak f64 {machine['peak_flops_f64']:.2e} FLOP/s ({machine['peak_flops_f64_1t']:.2e} on 1), "
          f"f32 {machine['peak_flops_f32']:.2e} ({machine['peak_flops_f32_1t']:.2e} on 1), "
          f"triad {machine['bandwidth']:.2e} B/s ({machine['bandwidth_1t']:.2e} on 1); "
          f"load average {os.getloadavg()[0]:.2f}")
    cur = machine["this_run"]
    print(f"  (this run measured: peak f64 {cur['peak_flops_f64']:.2e}, f32 {cur['peak_flops_f32']:.2e}, "
          f"triad {cur['bandwidth']:.2e}; the floor uses the best seen on this machine)")
    ns = machine["ns_per_element_1t"]
    print("functions, ns/element on 1 thread: " + "; ".join(
        f"{k} " + ", ".join(f"{f} {v:.2f}" for f, v in ns[k].items()) for k in ns))
    print(f"library: {lib_info}, {lib_threads} threads")
    print("peers: " + "; ".join(f"{p} {i.get('version')} (threads: {i.get('threads')})"
                                for p, (_, i) in peers.items()))
    try:
        from threadpoolctl import threadpool_info
        for p in threadpool_info():
            print(f"  BLAS: {p.get('internal_api')} {p.get('version')} "
                  f"kernel {p.get('architecture')}, {p.get('num_threads')} threads ({p.get('filepath')})")
    except Exception:  # noqa: BLE001
        pass
    for p, reason in missing.items():
        print(f"  {p}: {reason}")
    print(f"  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print()

    rows = []
    for w in all_workloads(args.quick):
        if args.only and args.only not in w.name:
            continue
        t0 = time.perf_counter()
        rows.append(bench_workload(ie, w, peers, missing, machine, lib_threads))
        w.arrays = {}
        print(f"  ... {w.name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    avx2_note = None if "avx2" in skip else bench_avx2(build, args, rows)
    print_table(rows)
    print("  library: the shipped build (x86-64: its AVX-512 code where the CPU has AVX-512, else its "
          "AVX2 code), through the Python binding; (C ABI): the same build called with preallocated "
          "outputs; AVX2: the same build's AVX2 code (IMPLICITEM_CPU=avx2), called like (C ABI)"
          + (f" [AVX2: {avx2_note}]" if avx2_note else ""))
    busy = max((r["load_average"] for r in rows), default=0)
    if busy > (os.cpu_count() or 1) + 0.5:   # more runnable work than cores
        print(f"  WARNING: load average up to {busy:.1f} on {os.cpu_count()} cores during the run: "
              "other processes competed for the cores, so these times are inflated and noisy")
    print("  (x: not timed, see the note; n/a: the peer does not apply; best peer / lib > 1 means "
          "the library is faster; lib / floor: library time over the arithmetic floor)")

    results = {"quick": args.quick, "cpu": cpu_name(), "machine": machine, "library": lib_info,
               "library_threads": lib_threads,
               "peers": {p: {k: v for k, v in i.items() if k != "reference_options"}
                         for p, (_, i) in peers.items()},
               "missing_peers": missing, "workloads": rows,
               "tolerance": TOLERANCE}

    if "w5" not in skip:
        w5 = bench_w5(ie, peers, build)
        results["w5"] = w5
        print("\nW5: one tiny call (N=1, D=4, K=3, gaussian, float64), calls per second")
        for k, v in w5.items():
            print(f"  {k:16s} {v:,.0f}" if isinstance(v, float) else f"  {k:16s} {v}")

    if ie is not None and "scaling" not in skip:
        sizes = [1000, 10_000, 100_000] + ([] if args.quick else [1_000_000])
        sc = bench_scaling(ie, machine, sizes, 10_000 if args.quick else 200_000)
        results["scaling"] = sc
        print("\nScaling: W1 gaussian through the library")
        for r in sc["per_row"]:
            print(f"  N={r['n']:>8d}  {fmt_time(r['seconds']):>10s}  {r['ns_per_row']:8.1f} ns/row")
        base = sc["per_row"][1]["ns_per_row"] if len(sc["per_row"]) > 1 else None
        if base:
            spread = max(r["ns_per_row"] for r in sc["per_row"][1:]) / min(r["ns_per_row"] for r in sc["per_row"][1:])
            print(f"  time per row, max/min from N=1e4 up: {spread:.2f}x")
        t1, t2 = sc["threads"][0]["seconds"], sc["threads"][1]["seconds"]
        print(f"  N={sc['threads'][0]['n']}: 1 thread {fmt_time(t1)}, 2 threads {fmt_time(t2)}, "
              f"speed-up {t1 / t2:.2f}x")

    if "memory" not in skip:
        n = 10_000 if args.quick else 200_000
        who = (["library"] if ie is not None else []) + ["numpy"] + [p for p in ("jax", "torch") if p in peers]
        mem = bench_memory(n, who)
        results["memory"] = {"n": n, **mem}
        print(f"\nMemory: peak resident beyond inputs and outputs, W1 gaussian N={n} (own process each)")
        for k, v in mem.items():
            if "extra_mib" in v:
                print(f"  {k:8s} {v['extra_mib']:8.1f} MiB  (inputs+outputs {v['io_mib']:.1f} MiB)")
            else:
                print(f"  {k:8s} {v}")

    results["load_average_end"] = os.getloadavg()
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other processes share the 2 cores)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
